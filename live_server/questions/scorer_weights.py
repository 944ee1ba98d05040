"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs of bench/questions/eval_sets (the frozen test pairs are
never used). Leave-one-vertical-out on dev at THRESHOLD: precision 0.924, recall 0.727.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent.
"""

THRESHOLD = 0.75
SUGGEST = 0.5  # held-out recall 0.861: merged or offered
BIAS = 0.7311978977543907
WEIGHTS = (
    0.15977987311193487,
    0.3302692102781276,
    0.1823891719389833,
    -0.36820293238811286,
    -0.7075122166046492,
    0.24280772933158035,
)
MEAN = (
    0.3985597254631301,
    0.566668600683825,
    0.49243812426375255,
    0.2180015307818661,
    0.10175226541280996,
    0.2116564417177914,
)
SCALE = (
    0.30919914308865415,
    0.3786048341146854,
    0.34771284227407256,
    0.16538286083244977,
    0.1490468451336861,
    0.4084825484609532,
)
