"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs and dev busy-room pairs of bench/questions/eval_sets (the
frozen test pairs are never used). Leave-one-vertical-out on dev at THRESHOLD:
labelled pairs precision 0.960, recall 0.662; busy-room pairs
precision 0.730, recall 0.764.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, near, apart_words.
"""

THRESHOLD = 0.55
SUGGEST = 0.4  # held-out recall 0.763: merged or offered
BIAS = 0.01675797512319881
WEIGHTS = (
    0.33509875985956256,
    0.20316295926670502,
    0.34433250330782794,
    -0.21738802037974408,
    -0.39362130296541786,
    0.17333131407417252,
    0.261883623375248,
    -0.4727070505715788,
)
MEAN = (
    0.3636922033239837,
    0.5354519760664687,
    0.41992329049036076,
    0.21290311565212452,
    0.14918693861811416,
    0.19084821428571427,
    0.04149553070685152,
    0.5267857142857143,
)
SCALE = (
    0.3268966021102333,
    0.3898371903759766,
    0.3365534643512165,
    0.16519246822157915,
    0.16006950145476004,
    0.3929696850771901,
    0.14600005993779794,
    0.49928201000056954,
)
