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
BIAS = 0.278615077020077
WEIGHTS = (
    0.3411253202673087,
    0.27737090246386,
    0.3255626783116284,
    -0.2511982189951086,
    -0.3964546467997351,
    0.1670699701716673,
    0.2450974754058705,
    -0.4015112515560336,
)
MEAN = (
    0.3888457648540756,
    0.5680347399108111,
    0.43645547570016513,
    0.1998510823083911,
    0.1362106289535501,
    0.18031278748850046,
    0.03734263390099683,
    0.5179392824287029,
)
SCALE = (
    0.3302967887239547,
    0.3904086643457896,
    0.3358364891484661,
    0.166644634091604,
    0.157027853015223,
    0.3844477677872875,
    0.13723297802556403,
    0.49967807851249985,
)
