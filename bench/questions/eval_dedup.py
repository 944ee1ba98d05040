"""Precision and recall of question merging, beside two plain baselines, in one run.

    python -m bench.questions.eval_dedup            # frozen test split, per vertical and language
    python -m bench.questions.eval_dedup --errors   # also print the matcher's DEV errors

The pairs are ``bench/questions/eval_sets/`` (1,200 pairs, four retail verticals, written
blind to the matcher; README there): ``dev/`` is what the matcher, its generic vocabulary
and the thresholds were tuned on, ``test/`` is frozen and only ever reported. Each
vertical's brand lexicon (``lexicons/<vertical>.json``, written from the dev world) is
what a brand would upload with ``PUT /api/v1/brands/{brand}/lexicon``.

Baselines, on the same normalised text (width folding, traditional to simplified, lower
case), each with its threshold chosen on dev for the best F0.5 (precision counts double:
a wrong merge hides a question; the matcher's own threshold was chosen the same way):
* ``rapidfuzz``: ``fuzz.token_set_ratio`` (tokens: jieba words and English words);
* ``trigram``: Jaccard similarity of character trigrams.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import rjieba
from rapidfuzz import fuzz

from live_server.questions.dedup import retail_lexicon
from live_server.questions.matching import Lexicon, Matcher, normalise

SETS = Path(__file__).with_name("eval_sets")
VERTICALS = ("bakery", "cosmetics", "apparel", "electronics")
Row = dict[str, object]


def load(split: str, vertical: str) -> list[Row]:
    path = SETS / split / f"{vertical}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def brand_lexicon(vertical: str) -> Lexicon:
    return Lexicon.from_json(json.loads((SETS / "lexicons" / f"{vertical}.json").read_text()))


def scores(predictions: list[tuple[bool, bool]]) -> dict[str, float]:
    tp = sum(p and a for p, a in predictions)
    fp = sum(p and not a for p, a in predictions)
    fn = sum(a and not p for p, a in predictions)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    beta2 = 0.25
    f05 = (
        (1 + beta2) * precision * recall / (beta2 * precision + recall)
        if precision + recall
        else 0.0
    )
    return {"pairs": len(predictions), "precision": precision, "recall": recall, "f1": f1,
            "f05": f05}  # fmt: skip


def _words(text: str) -> str:
    return " ".join(w for w in rjieba.cut(normalise(text), False) if w.strip())


def _trigrams(text: str) -> set[str]:
    t = normalise(text).replace(" ", "")
    return {t[i : i + 3] for i in range(max(1, len(t) - 2))}


def rapidfuzz_score(a: str, b: str) -> float:
    return fuzz.token_set_ratio(_words(a), _words(b)) / 100


def trigram_score(a: str, b: str) -> float:
    x, y = _trigrams(a), _trigrams(b)
    return len(x & y) / len(x | y) if x | y else 0.0


def cross_pairs(rows: list[Row], matcher: Matcher) -> list[tuple[str, str]]:
    """Two questions of different labelled pairs of one vertical that share a content word:
    the candidates a room's open cards offer a new question. Mostly other questions (the
    sets reuse topics, so some are duplicates nobody labelled): the share a method merges
    is an upper bound of its wrong merges in a busy room. Every k-th such pair in file
    order, about as many as labelled pairs: deterministic."""
    questions = [(str(r["id"]), str(q)) for r in rows for q in (r["a"], r["b"])]
    words = [matcher.read(q).words.keys() for _, q in questions]
    candidates = [
        (questions[i][1], questions[j][1])
        for i in range(len(questions))
        for j in range(i + 1, len(questions))
        if questions[i][0] != questions[j][0] and words[i] & words[j]
    ]
    return candidates[:: max(1, len(candidates) // len(rows))]


def best_threshold(rows: list[Row], score: Callable[[str, str], float]) -> float:
    values = [(score(str(r["a"]), str(r["b"])), bool(r["duplicate"])) for r in rows]
    candidates = sorted({round(v, 3) for v, _ in values})
    return max(candidates, key=lambda t: scores([(v >= t, d) for v, d in values])["f05"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="print the matcher's dev errors")
    args = parser.parse_args()
    generic = retail_lexicon()
    dev = {v: load("dev", v) for v in VERTICALS}
    test = {v: load("test", v) for v in VERTICALS}
    all_dev = [r for v in VERTICALS for r in dev[v]]
    thresholds = {
        "rapidfuzz": best_threshold(all_dev, rapidfuzz_score),
        "trigram": best_threshold(all_dev, trigram_score),
    }
    methods: dict[str, Callable[[str, Row], bool]] = {}
    matchers = {v: Matcher(generic.merged(brand_lexicon(v))) for v in VERTICALS}
    plain = Matcher(generic)

    def ours(vertical: str, row: Row) -> bool:
        m = matchers[vertical]
        return m.same(m.read(str(row["a"])), m.read(str(row["b"])))

    def ours_generic(vertical: str, row: Row) -> bool:
        return plain.same(plain.read(str(row["a"])), plain.read(str(row["b"])))

    def offered(vertical: str, row: Row) -> bool:
        m = matchers[vertical]
        a, b = m.read(str(row["a"])), m.read(str(row["b"]))
        return m.apart(a, b) is None and m.score(a, b) >= m.suggest

    methods["matcher"] = ours
    methods["matcher, generic vocabulary only"] = ours_generic
    methods["matcher, merged or suggested to the host"] = offered
    methods["rapidfuzz"] = lambda v, r: (
        rapidfuzz_score(str(r["a"]), str(r["b"])) >= thresholds["rapidfuzz"]
    )
    methods["trigram"] = lambda v, r: (
        trigram_score(str(r["a"]), str(r["b"])) >= thresholds["trigram"]
    )

    def table(title: str, groups: dict[str, list[tuple[str, Row]]]) -> None:
        print(f"\n{title}")
        head = "| group | pairs | " + " | ".join(f"{m}: P / R" for m in methods) + " |"
        print(head)
        print("|" + " --- |" * (2 + len(methods)))
        for name, items in groups.items():
            cells = []
            for method in methods.values():
                s = scores([(method(v, r), bool(r["duplicate"])) for v, r in items])
                cells.append(f"{s['precision']:.3f} / {s['recall']:.3f}")
            print(f"| {name} | {len(items)} | " + " | ".join(cells) + " |")

    print("thresholds chosen on dev (best F0.5): " + ", ".join(
        f"{k} >= {v:.3f}" for k, v in thresholds.items()
    ) + f"; matcher >= {matchers['bakery'].threshold} (suggested >= "
      f"{matchers['bakery'].suggest})")  # fmt: skip
    by_vertical = {v: [(v, r) for r in test[v]] for v in VERTICALS}
    by_vertical["all"] = [(v, r) for v in VERTICALS for r in test[v]]
    table("TEST (frozen), by vertical", by_vertical)
    by_lang: dict[str, list[tuple[str, Row]]] = {}
    for v in VERTICALS:
        for r in test[v]:
            by_lang.setdefault(str(r["lang"]), []).append((v, r))
    table("TEST (frozen), by language", dict(sorted(by_lang.items())))
    table("DEV (tuned on), all verticals", {"all": [(v, r) for v in VERTICALS for r in dev[v]]})
    print(
        "\nCROSS pairs merged (two questions of different pairs sharing a word: the candidates"
        " of a busy room; an upper bound of wrong merges, lower is better)"
    )
    print("| split | pairs | " + " | ".join(methods) + " |")
    print("|" + " --- |" * (2 + len(methods)))
    for split, rows in (("test", test), ("dev", dev)):
        cross = [(v, {"a": a, "b": b}) for v in VERTICALS for a, b in cross_pairs(rows[v], plain)]
        cells = [f"{sum(method(v, r) for v, r in cross) / len(cross):.3f}"
                 for method in methods.values()]  # fmt: skip
        print(f"| {split} | {len(cross)} | " + " | ".join(cells) + " |")
    if args.errors:
        print("\nmatcher errors on DEV (test errors are never printed):")
        for v in VERTICALS:
            m = matchers[v]
            for r in dev[v]:
                a, b = m.read(str(r["a"])), m.read(str(r["b"]))
                if m.same(a, b) != r["duplicate"]:
                    kind = "missed" if r["duplicate"] else "wrongly merged"
                    print(f"{kind:14} {m.apart(a, b) or '':9} {m.score(a, b):5.2f} "
                          f"{r['a']} | {r['b']}")  # fmt: skip


if __name__ == "__main__":
    main()
