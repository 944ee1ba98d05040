"""The question matcher's learned score (generated: do not edit).

    python -m bench.questions.train_scorer --write

Learned from the dev pairs and dev busy-room pairs of bench/questions/eval_sets (the
frozen test pairs are never used). Leave-one-vertical-out on dev at THRESHOLD:
labelled pairs precision 0.955, recall 0.641; busy-room pairs
precision 0.661, recall 0.755.
Features, in order: overlap, coverage, bigrams, unmatched, unmatched_strong,
same_intent, near, apart_words.
"""

THRESHOLD = 0.5
SUGGEST = 0.4  # held-out recall 0.717: merged or offered
BIAS = -0.06678856076553852
WEIGHTS = (
    0.32457327049456786,
    0.14351986781323248,
    0.1983155256116368,
    -0.2092218703964988,
    -0.4768235722823646,
    0.19158439821844175,
    0.2447320945231773,
    -0.5090415638888834,
)
MEAN = (
    0.3337523854645051,
    0.5058801430771287,
    0.4128757256594513,
    0.23103899491490418,
    0.132926722249955,
    0.19668508287292819,
    0.03507428180941856,
    0.5513812154696133,
)
SCALE = (
    0.30566467243858664,
    0.37511169007374173,
    0.3364405694613401,
    0.16062074967836093,
    0.15506276718294348,
    0.39749221507873433,
    0.12897526802499315,
    0.49735296389673445,
)
