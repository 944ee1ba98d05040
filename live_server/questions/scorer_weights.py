"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs and dev busy-room pairs of bench/questions/eval_sets (the
frozen test pairs are never used). Leave-one-vertical-out on dev at THRESHOLD:
labelled pairs precision 0.954, recall 0.686; busy-room pairs
precision 0.703, recall 0.783.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, near, apart_words.
"""

THRESHOLD = 0.55
SUGGEST = 0.4  # held-out recall 0.776: merged or offered
BIAS = 0.2722658567735138
WEIGHTS = (
    0.35264372305391456,
    0.28279898554662053,
    0.3374220023759684,
    -0.24819644612572533,
    -0.3665785448154537,
    0.1366438833953707,
    0.25681955557209424,
    -0.3983732329813107,
)
MEAN = (
    0.3950581574153083,
    0.5747011239823668,
    0.4437971852879564,
    0.1961891046126277,
    0.1345414291075957,
    0.1832412523020258,
    0.03503468785105763,
    0.5128913443830571,
)
SCALE = (
    0.33213383890323567,
    0.39035872973581376,
    0.33812446904328114,
    0.16633960183623697,
    0.15700606287818705,
    0.38686418257161953,
    0.12907286082912572,
    0.499833785612773,
)
