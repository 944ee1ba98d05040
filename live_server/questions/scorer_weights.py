"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs and dev busy-room pairs of bench/questions/eval_sets (the
frozen test pairs are never used). Leave-one-vertical-out on dev at THRESHOLD:
labelled pairs precision 0.951, recall 0.677; busy-room pairs
precision 0.714, recall 0.802.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, near, apart_words.
"""

THRESHOLD = 0.55
SUGGEST = 0.4  # held-out recall 0.764: merged or offered
BIAS = 0.2785944859442366
WEIGHTS = (
    0.3406276591987183,
    0.2775066467155695,
    0.32579612390429935,
    -0.25127105035538017,
    -0.39641753823568365,
    0.16705340891519616,
    0.24506666500503949,
    -0.4014710403185164,
)
MEAN = (
    0.3888539638248681,
    0.5680105303528776,
    0.43645547570016513,
    0.19985941860762077,
    0.13622702758459238,
    0.18031278748850046,
    0.03734263390099683,
    0.5179392824287029,
)
SCALE = (
    0.3303151871785678,
    0.3904153302228345,
    0.3358364891484661,
    0.16664411801334114,
    0.15704480706750554,
    0.3844477677872875,
    0.13723297802556403,
    0.49967807851249985,
)
