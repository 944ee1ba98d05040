"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs of bench/questions/eval_sets (the frozen test pairs are
never used). Leave-one-vertical-out on dev at THRESHOLD: precision 0.931, recall 0.745.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, apart_words.
"""

THRESHOLD = 0.7
SUGGEST = 0.45  # held-out recall 0.852: merged or offered
BIAS = 0.8371055369284605
WEIGHTS = (
    0.14790261370859406,
    0.33709410982226584,
    0.15358923386829992,
    -0.3000075527494589,
    -0.690011728797618,
    0.20183468191072618,
    -0.3584792725713668,
)
MEAN = (
    0.3825096591437871,
    0.5525379767859061,
    0.4718497681382835,
    0.2201004981858712,
    0.12726877427045244,
    0.21587301587301588,
    0.4444444444444444,
)
SCALE = (
    0.3091137592560187,
    0.38350794459105486,
    0.3512725382784236,
    0.16655029493895415,
    0.16486373525564438,
    0.41142661179231566,
    0.49690399499995364,
)
