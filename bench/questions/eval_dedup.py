"""Precision and recall of question merging, beside two plain baselines, in one run.

    python -m bench.questions.eval_dedup            # frozen test split, per vertical and language
    python -m bench.questions.eval_dedup --errors   # also print the matcher's DEV errors
    python -m bench.questions.eval_dedup --fresh    # also the sealed batches D, E and G

The pairs are ``bench/questions/eval_sets/`` (3,200 pairs in four retail verticals, written
blind to the matcher, and 2,101 busy-room pairs labelled by hand; README there): ``dev/``
(batches A, C and F) is what the matcher, its generic vocabulary and the thresholds were
tuned on, ``test/`` (batch B) is frozen and only ever reported, ``fresh/`` (batches D, E
and G) is sealed: scored once per released version, never tuned on or looked into. ``busy/`` holds
pairs of questions of different labelled pairs that share a word, labelled by hand: a busy
room's cards are mostly other questions about the same product, and the labelled pairs
alone never ask how often a question is merged with one of those. Each vertical's brand
lexicon (``lexicons/<vertical>.json``, written from the dev world) is what a brand would
upload with ``PUT /api/v1/brands/{brand}/lexicon``.

The matcher is scored as intake runs it (:func:`live`): question A is a room's one open
card, question B arrives, and B merges only if A is among the cards the room's index
offers it as candidates.

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

from live_server.questions.dedup import DedupIndex, retail_lexicon
from live_server.questions.matching import Lexicon, Matcher, normalise
from live_server.questions.models import LANE_OPEN

SETS = Path(__file__).with_name("eval_sets")
VERTICALS = ("bakery", "cosmetics", "apparel", "electronics")
Row = dict[str, object]


def load(split: str, vertical: str) -> list[Row]:
    """The labelled pairs of a split ("dev", "test", or "fresh": the sealed batches D, E, G)."""
    path = SETS / split / f"{vertical}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def load_busy(split: str, vertical: str) -> list[Row]:
    """The labelled busy-room pairs drawn from a split (:func:`busy_pairs`)."""
    return load(f"busy/{split}", vertical)


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


_PLAIN_STOP = frozenset(
    "可以 能不能 什么 怎么 多少 有没有 是不是 请问 这个 那个 一下 还有 现在 你们 我们 the and "
    "can you for with this that have does are how what will your any".split()
)


def plain_words(text: str) -> set[str]:
    """Words of a question by plain segmentation (rjieba, English words), not the matcher's
    reading: what the busy-room pairs are drawn by, so they stay put when the matcher
    changes."""
    return {
        w for w in rjieba.cut(normalise(text), False)
        if w not in _PLAIN_STOP and (len(w) >= 3 if w.isascii() else len(w) >= 2)
        and not w.isspace()
    }  # fmt: skip


def busy_pairs(rows: list[Row]) -> list[tuple[str, str]]:
    """Two questions of different labelled pairs of one vertical sharing a plain word: the
    candidates a busy room's open cards offer a new question. Every k-th such pair in file
    order, about as many as labelled pairs: deterministic. Labelled by hand in
    ``eval_sets/busy/`` (most are other questions about the same thing; some, since the
    sets reuse topics, are duplicates)."""
    questions = [(str(r["id"]), str(q)) for r in rows for q in (r["a"], r["b"])]
    words = [plain_words(q) for _, q in questions]
    candidates = [
        (questions[i][1], questions[j][1])
        for i in range(len(questions))
        for j in range(i + 1, len(questions))
        if questions[i][0] != questions[j][0] and questions[i][1] != questions[j][1]
        and words[i] & words[j]
    ]  # fmt: skip
    return candidates[:: max(1, len(candidates) // len(rows))]


def live(matcher: Matcher, row: Row) -> tuple[bool, bool]:
    """(merged, suggested) as intake decides them: question A is the one open card of a
    room (:class:`DedupIndex`), question B arrives; B merges only if A is among its
    candidates, as in a real room."""
    index = DedupIndex(matcher)
    index.add("a", LANE_OPEN, str(row["a"]))
    merged, similar = index.match_or_suggestion(matcher.read(str(row["b"])), LANE_OPEN)
    return merged == "a", similar == "a"


def by_vertical(rows: dict[str, list[Row]]) -> dict[str, list[tuple[str, Row]]]:
    """Table groups: each vertical's pairs, then all of them."""
    groups = {v: [(v, r) for r in rows[v]] for v in VERTICALS}
    groups["all"] = [item for v in VERTICALS for item in groups[v]]
    return groups


def best_threshold(rows: list[Row], score: Callable[[str, str], float]) -> float:
    values = [(score(str(r["a"]), str(r["b"])), bool(r["duplicate"])) for r in rows]
    candidates = sorted({round(v, 3) for v, _ in values})
    return max(candidates, key=lambda t: scores([(v >= t, d) for v, d in values])["f05"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="print the matcher's dev errors")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="also score the sealed batches D, E and G (once per released version)",
    )
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
        return live(matchers[vertical], row)[0]

    def ours_generic(vertical: str, row: Row) -> bool:
        return live(plain, row)[0]

    def offered(vertical: str, row: Row) -> bool:
        return any(live(matchers[vertical], row))

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
    table("TEST (frozen), by vertical", by_vertical(test))
    by_lang: dict[str, list[tuple[str, Row]]] = {}
    for v in VERTICALS:
        for r in test[v]:
            by_lang.setdefault(str(r["lang"]), []).append((v, r))
    table("TEST (frozen), by language", dict(sorted(by_lang.items())))
    table("DEV (tuned on), all verticals", {"all": by_vertical(dev)["all"]})
    busy = {split: {v: load_busy(split, v) for v in VERTICALS} for split in ("test", "dev")}
    table(
        "BUSY ROOM, TEST: two questions of different test pairs sharing a word, labelled by "
        "hand (the candidates a busy room's cards offer a new question: mostly other "
        "questions about the same thing; precision here is how often a merge is right)",
        by_vertical(busy["test"]),
    )
    table("BUSY ROOM, DEV (tuned on)", {"all": by_vertical(busy["dev"])["all"]})
    if args.fresh:
        fresh = {v: load("fresh", v) for v in VERTICALS}
        groups = by_vertical(fresh)
        for batch in sorted({str(r["batch"]) for _, r in groups["all"]}):
            groups[f"batch {batch}"] = [(v, r) for v, r in groups["all"] if r["batch"] == batch]
        table("FRESH (batches D, E and G, sealed: scored once per released version)", groups)
        table(
            "BUSY ROOM, FRESH: the same kind of pairs drawn from batch E, labelled by hand",
            by_vertical({v: load_busy("fresh", v) for v in VERTICALS}),
        )
    if args.errors:
        print("\nmatcher errors on DEV (test errors are never printed):")
        for v in VERTICALS:
            m = matchers[v]
            for r in [*dev[v], *busy["dev"][v]]:
                a, b = m.read(str(r["a"])), m.read(str(r["b"]))
                if m.same(a, b) != r["duplicate"]:
                    kind = "missed" if r["duplicate"] else "wrongly merged"
                    print(f"{kind:14} {m.apart(a, b) or '':9} {m.score(a, b):5.2f} "
                          f"{r['a']} | {r['b']}")  # fmt: skip


if __name__ == "__main__":
    main()
