"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs of bench/questions/eval_sets (the frozen test pairs are
never used). Leave-one-vertical-out on dev at THRESHOLD: precision 0.949, recall 0.690.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, apart_words.
"""

THRESHOLD = 0.75
SUGGEST = 0.45  # held-out recall 0.861: merged or offered
BIAS = 0.8810298372733023
WEIGHTS = (
    0.10764225561598639,
    0.3227807115200009,
    0.17736254693632852,
    -0.3477382826625552,
    -0.69344283311549,
    0.20544681908064738,
    -0.323061455208276,
)
MEAN = (
    0.3828512716164977,
    0.5512654949453935,
    0.4722104430012025,
    0.22040032667211404,
    0.13868933325457503,
    0.21405750798722045,
    0.44089456869009586,
)
SCALE = (
    0.3119088215566338,
    0.38554877940267573,
    0.3496525561193579,
    0.167678021368671,
    0.16500547487754602,
    0.4101669065898923,
    0.49649425776102385,
)
