"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs and dev busy-room pairs of bench/questions/eval_sets (the
frozen test pairs are never used). Leave-one-vertical-out on dev at THRESHOLD:
labelled pairs precision 0.953, recall 0.667; busy-room pairs
precision 0.706, recall 0.792.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, near, apart_words.
"""

THRESHOLD = 0.55
SUGGEST = 0.4  # held-out recall 0.760: merged or offered
BIAS = 0.28600201325478714
WEIGHTS = (
    0.31233714973505866,
    0.22892827020389891,
    0.34610842677890064,
    -0.2098367783024378,
    -0.40642452398002693,
    0.15799027337686955,
    0.23084906447760428,
    -0.4552288519209677,
)
MEAN = (
    0.3772490647632109,
    0.5509309168430109,
    0.43645547570016513,
    0.2078938747555721,
    0.1391000890347289,
    0.18031278748850046,
    0.03848278879605416,
    0.5179392824287029,
)
SCALE = (
    0.3263060395519782,
    0.38637441489780766,
    0.3358364891484661,
    0.1638413553045316,
    0.15688192255125416,
    0.3844477677872875,
    0.1387857629678301,
    0.49967807851249985,
)
