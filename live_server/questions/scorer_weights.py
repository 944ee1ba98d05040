"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs and dev busy-room pairs of bench/questions/eval_sets (the
frozen test pairs are never used). Leave-one-vertical-out on dev at THRESHOLD:
labelled pairs precision 0.954, recall 0.682; busy-room pairs
precision 0.706, recall 0.792.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, near, apart_words.
"""

THRESHOLD = 0.55
SUGGEST = 0.4  # held-out recall 0.773: merged or offered
BIAS = 0.27145862427021356
WEIGHTS = (
    0.353067363081057,
    0.280838870027435,
    0.3468958961894826,
    -0.2526092906368103,
    -0.3623724513650165,
    0.1325038681279789,
    0.25868000288034537,
    -0.39809220968483905,
)
MEAN = (
    0.39568678778492633,
    0.5749755292628865,
    0.4457919410536715,
    0.19577236205552842,
    0.13487687102103893,
    0.1824884792626728,
    0.03503160881707835,
    0.5124423963133641,
)
SCALE = (
    0.33218850072742406,
    0.390513660956691,
    0.33781549448501513,
    0.16617229373062142,
    0.1567437449464206,
    0.3862465976537167,
    0.1290394076808344,
    0.49984516279942065,
)
