"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs and dev busy-room pairs of bench/questions/eval_sets (the
frozen test pairs are never used). Leave-one-vertical-out on dev at THRESHOLD:
labelled pairs precision 0.958, recall 0.694; busy-room pairs
precision 0.689, recall 0.774.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, near, apart_words.
"""

THRESHOLD = 0.5
SUGGEST = 0.4  # held-out recall 0.767: merged or offered
BIAS = -0.002113172819991724
WEIGHTS = (
    0.32609663689616475,
    0.19831823515041258,
    0.316964522977479,
    -0.2240423917836903,
    -0.4326851984689113,
    0.1694298824976744,
    0.307066705452851,
    -0.4648452937476189,
)
MEAN = (
    0.3535784047357602,
    0.5217138441210806,
    0.41038511865775057,
    0.2191043649880031,
    0.1511880653972631,
    0.1934065934065934,
    0.04518000027729822,
    0.532967032967033,
)
SCALE = (
    0.3247758732107807,
    0.3888799742303102,
    0.33516657077025874,
    0.16453462613012237,
    0.16133263917664442,
    0.39496896464589404,
    0.15237054631161975,
    0.49891199097370914,
)
