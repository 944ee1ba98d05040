"""Merging speed and memory: one question against a room with thousands of open cards.

    python -m bench.questions.bench_match [--cards 5000] [--queries 2000] [--repeats 3]

The room's cards are real question texts of ``eval_sets`` (all four verticals, both
sides of every pair) made distinct with a store and a number, read by the cosmetics
brand's matcher (generic vocabulary + brand lexicon). Each query is read
(:meth:`Matcher.read`) and matched (:meth:`DedupIndex.best_match`) as intake does; the
reference in the same run is rapidfuzz's ``process.extractOne`` (token set ratio) over the
same card texts, a brute-force scan in C. Prints per-question p50 / p99 / max and the
memory each card costs the index (tracemalloc), and what the near-word table costs each
process (shared by every room and brand).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import tracemalloc
from pathlib import Path

from rapidfuzz import fuzz, process

from live_server.questions.dedup import DedupIndex, retail_lexicon
from live_server.questions.matching import Lexicon, Matcher, load_near_words, near_words
from live_server.questions.models import LANE_OPEN

SETS = Path(__file__).with_name("eval_sets")
STORES = [
    "静安店",
    "徐汇店",
    "国贸专柜",
    "万象城店",
    "来福士店",
    "中关村店",
    "天河店",
    "the Wanda store",
]


def texts() -> list[str]:
    out: list[str] = []
    for path in sorted(SETS.glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out += [row["a"], row["b"]]
    return sorted(set(out))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cards", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    base = texts()
    cards = [f"{rng.choice(STORES)} {t} {i}" for i, t in enumerate(rng.choices(base, k=args.cards))]
    queries = [f"{rng.choice(STORES)} {t}" for t in rng.choices(base, k=args.queries)]
    own = Lexicon.from_json(json.loads((SETS / "lexicons" / "cosmetics.json").read_text()))
    started = time.perf_counter()
    table = near_words()  # once per process, shared by every brand's matcher
    loaded = time.perf_counter() - started
    matcher = Matcher(retail_lexicon().merged(own))
    gc.collect()
    tracemalloc.start()
    copy = load_near_words()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del copy
    print(f"near-word table: {len(table):,} words, {size / 1024 / 1024:.1f} MiB, loaded in "
          f"{loaded:.2f} s (once per process)")  # fmt: skip

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    index = DedupIndex(matcher)
    for i, text in enumerate(cards):
        index.add(f"q.r.{i}", LANE_OPEN, text)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(f"{args.cards} cards: index memory {grown / 1024 / 1024:.1f} MiB, "
          f"{grown / args.cards:.0f} bytes per card (tracemalloc)")  # fmt: skip

    merged = 0
    ours: list[list[float]] = []
    scan: list[list[float]] = []
    for _ in range(args.repeats):
        times: list[float] = []
        for text in queries:
            start = time.perf_counter()
            found = index.best_match(index.read(text), LANE_OPEN)
            times.append(time.perf_counter() - start)
            merged += found is not None
        ours.append(times)
        times = []
        for text in queries[: max(50, args.queries // 10)]:  # the scan is slow: a sample
            start = time.perf_counter()
            process.extractOne(text, cards, scorer=fuzz.token_set_ratio)
            times.append(time.perf_counter() - start)
        scan.append(times)

    def line(name: str, runs: list[list[float]]) -> None:
        p50 = statistics.median(percentile(r, 0.5) for r in runs) * 1000
        p99 = statistics.median(percentile(r, 0.99) for r in runs) * 1000
        worst = max(max(r) for r in runs) * 1000
        print(f"  {name:34} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  max {worst:7.3f} ms  "
              f"({len(runs[0])} questions x {len(runs)})")  # fmt: skip

    print(f"per question against {args.cards} open cards (median of {args.repeats} runs):")
    line("matcher: read + best_match", ours)
    line("rapidfuzz extractOne (reference)", scan)
    print(f"  merged into a card: {merged / args.repeats / len(queries):.0%} of queries")


if __name__ == "__main__":
    main()
