"""Learn the question matcher's score from the DEV pairs (never the frozen test pairs).

    python -m bench.questions.train_scorer            # report held-out figures, write nothing
    python -m bench.questions.train_scorer --write    # also write questions/scorer_weights.py

The score is a logistic regression over :data:`live_server.questions.matching.FEATURES`
(standardised, L2-regularised, plain gradient descent: deterministic, no dependencies).
Only pairs that pass the matcher's guards are learned from: a guard (another number,
another intent, an opposite word, ...) keeps two questions apart whatever the score.

How the threshold is chosen without touching the test split: leave one vertical out. For
each of the four dev verticals, a model learned on the other three scores its labelled
pairs and its busy-room pairs (two questions of different labelled pairs that share a word,
labelled by hand: what a busy room's cards offer a new question, mostly other questions
about the same thing). The shipped threshold is the one with the best F0.5 (precision
counts double: a wrong merge hides a question) over both kinds of held-out pairs; the
weights are learned on all of dev. The held-out table printed here is the honest estimate
of how the score transfers to a vertical it has not seen; ``python -m
bench.questions.eval_dedup`` reports the frozen test split.
"""

from __future__ import annotations

import argparse
import math
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench.questions.eval_dedup import VERTICALS, brand_lexicon, load, load_busy, scores
from live_server.questions.dedup import retail_lexicon
from live_server.questions.matching import FEATURES, Matcher

L2 = 0.1
STEPS = 800
RATE = 0.5
SUGGEST_RECALL = 0.85
"""The suggestion floor is the highest threshold below the merge threshold whose held-out
recall reaches this: a duplicate the score does not merge is then at least offered to the
host (``similar_to`` on the new card)."""
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
OUT = Path(__file__).parents[2] / "live_server" / "questions" / "scorer_weights.py"

Example = tuple[str, bool, bool, tuple[float, ...]]
"""(vertical, duplicate, a guard keeps the pair apart, features)"""
SOURCES = ("pairs", "busy")


class Model:
    def __init__(self, bias: float, weights: Sequence[float], mean: Sequence[float],
                 scale: Sequence[float]) -> None:  # fmt: skip
        self.bias, self.weights, self.mean, self.scale = bias, weights, mean, scale

    def probability(self, x: Sequence[float]) -> float:
        if not (x[0] or x[2]):  # as matching.likelihood: nothing in common
            return 0.0
        z = self.bias + sum(
            w * (v - m) / s
            for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-z))


def examples() -> dict[str, list[Example]]:
    """The labelled dev pairs ("pairs") and the labelled dev busy-room pairs ("busy")."""
    found: dict[str, list[Example]] = {source: [] for source in SOURCES}
    generic = retail_lexicon()
    for vertical in VERTICALS:
        matcher = Matcher(generic.merged(brand_lexicon(vertical)))
        for source, rows in (("pairs", load("dev", vertical)),
                             ("busy", load_busy("dev", vertical))):  # fmt: skip
            for row in rows:
                a, b = matcher.read(str(row["a"])), matcher.read(str(row["b"]))
                apart = matcher.apart(a, b) is not None
                found[source].append(
                    (vertical, bool(row["duplicate"]), apart, matcher.features(a, b))
                )
    return found


def train(data: Sequence[tuple[Sequence[float], bool]]) -> Model:
    n = len(data[0][0])
    mean = [sum(x[j] for x, _ in data) / len(data) for j in range(n)]
    scale = [
        max(1e-6, math.sqrt(sum((x[j] - mean[j]) ** 2 for x, _ in data) / len(data)))
        for j in range(n)
    ]
    z = [[(x[j] - mean[j]) / scale[j] for j in range(n)] for x, _ in data]
    y = [1.0 if d else 0.0 for _, d in data]
    bias, weights = 0.0, [0.0] * n
    for _ in range(STEPS):
        grad_bias, grad = 0.0, [0.0] * n
        for row, target in zip(z, y, strict=True):
            z_row = bias + sum(w * v for w, v in zip(weights, row, strict=True))
            p = 1.0 / (1.0 + math.exp(-z_row))
            grad_bias += p - target
            for j in range(n):
                grad[j] += (p - target) * row[j]
        bias -= RATE * grad_bias / len(z)
        for j in range(n):
            weights[j] -= RATE * (grad[j] / len(z) + L2 * weights[j])
    return Model(bias, weights, mean, scale)


def learnable(data: Iterable[Example]) -> list[tuple[Sequence[float], bool]]:
    return [(x, d) for _, d, apart, x in data if not apart]


def shipped_model(data: dict[str, list[Example]]) -> Model:
    """The model written to ``scorer_weights.py``: learned on every kind of dev pair."""
    return train(learnable(e for source in SOURCES for e in data[source]))


def held_out(data: dict[str, list[Example]]) -> dict[str, dict[float, dict[str, float]]]:
    """Leave one vertical out: P/R/F0.5 of each threshold over the held-out pairs of each
    source, and of both ("all")."""
    predictions: dict[str, dict[float, list[tuple[bool, bool]]]] = {
        source: {t: [] for t in THRESHOLDS} for source in (*SOURCES, "all")
    }
    everything = [e for source in SOURCES for e in data[source]]
    for vertical in VERTICALS:
        model = train(learnable(e for e in everything if e[0] != vertical))
        for source in SOURCES:
            for v, duplicate, apart, x in data[source]:
                if v == vertical:
                    p = 0.0 if apart else model.probability(x)
                    for t in THRESHOLDS:
                        predictions[source][t].append((p >= t, duplicate))
                        predictions["all"][t].append((p >= t, duplicate))
    return {
        source: {t: scores(p) for t, p in by_threshold.items()}
        for source, by_threshold in predictions.items()
    }


def render(
    model: Model, threshold: float, suggest: float, tables: dict[str, dict[float, dict[str, float]]]
) -> str:
    def floats(values: Sequence[float]) -> str:
        return "(\n" + "".join(f"    {v!r},\n" for v in values) + ")"

    pairs, busy = tables["pairs"][threshold], tables["busy"][threshold]
    return (
        '"""The question matcher\'s learned score (generated: do not edit).\n\n'
        "    python -m bench.questions.train_scorer --write\n\n"
        "Learned from the dev pairs and dev busy-room pairs of bench/questions/eval_sets (the\n"
        "frozen test pairs are never used). Leave-one-vertical-out on dev at THRESHOLD:\n"
        f"labelled pairs precision {pairs['precision']:.3f}, recall {pairs['recall']:.3f}; "
        f"busy-room pairs\nprecision {busy['precision']:.3f}, recall {busy['recall']:.3f}.\n"
        + textwrap.fill(f"Features, in order: {', '.join(FEATURES)}.", 88)
        + "\n"
        '"""\n\n'
        f"THRESHOLD = {threshold!r}\n"
        f"SUGGEST = {suggest!r}  # held-out recall {tables['all'][suggest]['recall']:.3f}: "
        "merged or offered\n"
        f"BIAS = {model.bias!r}\n"
        f"WEIGHTS = {floats(model.weights)}\n"
        f"MEAN = {floats(model.mean)}\n"
        f"SCALE = {floats(model.scale)}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {OUT.name}")
    args = parser.parse_args()
    data = examples()
    for source in SOURCES:
        rows = data[source]
        name = "labelled" if source == "pairs" else "busy-room"
        print(f"{len(rows)} {name} dev pairs ({sum(e[1] for e in rows)} duplicates), "
              f"{sum(not e[2] for e in rows)} pass the guards")  # fmt: skip
    tables = held_out(data)
    print("\nleave one vertical out (DEV), by threshold: P / R (F0.5)")
    print("| threshold | labelled pairs | busy-room pairs | all |\n| --- | --- | --- | --- |")
    for t in THRESHOLDS:
        cells = [f"{tables[k][t]['precision']:.3f} / {tables[k][t]['recall']:.3f} "
                 f"({tables[k][t]['f05']:.3f})" for k in (*SOURCES, "all")]  # fmt: skip
        print(f"| {t} | " + " | ".join(cells) + " |")
    table = tables["all"]
    threshold = max(THRESHOLDS, key=lambda t: (round(table[t]["f05"], 6), t))
    reach = [t for t in THRESHOLDS if t < threshold and table[t]["recall"] >= SUGGEST_RECALL]
    suggest = max(reach, default=min(THRESHOLDS))
    model = shipped_model(data)
    print(f"\nchosen threshold {threshold} (best held-out F0.5 over all held-out pairs)")
    print(f"suggestion floor {suggest} (merged or suggested: held-out recall "
          f"{table[suggest]['recall']:.3f} >= {SUGGEST_RECALL})")  # fmt: skip
    print("weights (standardised features):")
    for name, w in zip(FEATURES, model.weights, strict=True):
        print(f"  {name:18} {w:+.3f}")
    if args.write:
        OUT.write_text(render(model, threshold, suggest, tables), encoding="utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
