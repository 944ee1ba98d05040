"""Precision and recall of the question de-duplication on the labelled pairs.

    python -m bench.questions.eval_dedup            # both splits, per language
    python -m bench.questions.eval_dedup --errors   # also print the misclassified TRAIN pairs

``bench/questions/pairs.jsonl`` holds question pairs labelled duplicate or not, each with a
``split``: rules and thresholds are tuned looking at train errors only; test is reported
as held out (``--errors`` never prints test pairs unless ``--show-test`` is given).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from live_server.questions.dedup import fingerprint, is_duplicate

PAIRS = Path(__file__).with_name("pairs.jsonl")


def load() -> list[dict[str, object]]:
    return [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]


def scores(rows: list[dict[str, object]]) -> dict[str, float]:
    tp = fp = fn = tn = 0
    for row in rows:
        predicted = is_duplicate(fingerprint(str(row["a"])), fingerprint(str(row["b"])))
        actual = bool(row["duplicate"])
        tp += predicted and actual
        fp += predicted and not actual
        fn += (not predicted) and actual
        tn += (not predicted) and not actual
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {"pairs": len(rows), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(precision, 3), "recall": round(recall, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="print misclassified train pairs")
    parser.add_argument("--show-test", action="store_true", help="with --errors: test pairs too")
    args = parser.parse_args()
    rows = load()
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        groups[f"{row['split']}"].append(row)
        groups[f"{row['split']}/{row['lang']}"].append(row)
        groups["all"].append(row)
    print(
        f"{'slice':<14}{'pairs':>6}{'tp':>5}{'fp':>5}{'fn':>5}{'tn':>5}{'precision':>11}{'recall':>8}"
    )
    for name in sorted(groups, key=lambda n: (n != "all", n)):
        s = scores(groups[name])
        print(f"{name:<14}{s['pairs']:>6}{s['tp']:>5}{s['fp']:>5}{s['fn']:>5}{s['tn']:>5}"
              f"{s['precision']:>11.3f}{s['recall']:>8.3f}")  # fmt: skip
    if args.errors:
        for row in rows:
            if row["split"] == "test" and not args.show_test:
                continue
            fa, fb = fingerprint(str(row["a"])), fingerprint(str(row["b"]))
            if is_duplicate(fa, fb) != row["duplicate"]:
                label = "missed dup" if row["duplicate"] else "false merge"
                print(f"{row['id']} {row['split']} {label}: {row['a']!r} | {row['b']!r}")
                print(f"    {sorted(fa.tokens)} {sorted(fb.tokens)}")


if __name__ == "__main__":
    main()
