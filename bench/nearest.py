"""Nearest-store latency: the in-process index vs a brute-force geopy scan vs Redis GEOSEARCH.

    python -m bench.nearest              # 3 runs, medians (~1.5 min)
    python -m bench.nearest --runs 1     # quick look

Stores are spread uniformly over a China-sized box (lat 18-45, lng 100-125) at 1k, 10k and
100k; queries come from the same box, limit 10 (the API default), no radius. Per size:

* ``index``      ``SpatialIndex.nearest`` (geo/index.py), 2,000 queries, exact WGS-84
* ``brute``      geopy ``geodesic`` to every store, sort, take 10 (few queries: it is slow)
* ``geosearch``  ``GEOSEARCH ... FROMLONLAT BYRADIUS r km ASC COUNT 10 WITHDIST`` on an
                 embedded Valkey over loopback (sync client; includes the round trip; its
                 distances are haversine on a sphere, not WGS-84). GEOSEARCH needs a radius:
                 r holds ~40 stores on average (106 km at 1k, 34 km at 10k, 11 km at 100k);
                 a generous radius makes it scan far more (3,000 km: ~40 ms at 100k).

Results are checked: the index's ids and metres equal the brute-force scan's.

Each index query is timed twice: wall clock (what a caller waits) and the thread's CPU time
(``time.thread_time_ns``). On a shared 2-core box a wall p99 far above the CPU p99 is the
process waiting for a core (another process ran), not work the index did. Garbage
collections during the timed queries are counted (expected: none; a query's allocations die
young and are freed by reference counting). The load average is printed with every run.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from geopy.distance import geodesic

from geo.index import SpatialIndex

SIZES = (1_000, 10_000, 100_000)
BOX = ((18.0, 45.0), (100.0, 125.0))
BRUTE_QUERIES = {1_000: 10, 10_000: 2, 100_000: 1}
BOX_AREA_KM2 = 2_700 * 2_500  # roughly


def geosearch_radius_km(n: int) -> float:
    """A radius holding ~40 stores on average, so COUNT 10 nearly always fills."""
    return float((40 * BOX_AREA_KM2 / (n * 3.14159)) ** 0.5)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def one_run(seed: int, redis_url: str, queries: int) -> dict[int, dict[str, Any]]:
    import redis

    rng = random.Random(seed)
    client = redis.Redis.from_url(redis_url)
    out: dict[int, dict[str, Any]] = {}
    for n in SIZES:
        stores = [(rng.uniform(*BOX[0]), rng.uniform(*BOX[1]), f"s{i}") for i in range(n)]
        qs = [(rng.uniform(*BOX[0]), rng.uniform(*BOX[1])) for _ in range(queries)]
        t0 = time.perf_counter()
        index = SpatialIndex(stores)
        build_s = time.perf_counter() - t0
        lat_index, cpu_index = [], []
        wall, cpu, nearest = time.perf_counter_ns, time.thread_time_ns, index.nearest
        collections = sum(g["collections"] for g in gc.get_stats())
        for q in qs:
            c = cpu()
            t = wall()
            nearest(q[0], q[1], 10)
            t = wall() - t
            cpu_index.append(cpu() - c)
            lat_index.append(t / 1e9)
        collections = sum(g["collections"] for g in gc.get_stats()) - collections

        lat_brute = []
        for q in qs[: BRUTE_QUERIES[n]]:
            t = time.perf_counter()
            scan = sorted((geodesic(q, (s[0], s[1])).meters, s[2]) for s in stores)[:10]
            lat_brute.append(time.perf_counter() - t)
            got = [(round(d), name) for d, name in index.nearest(q[0], q[1], 10)]
            assert got == [(round(d), name) for d, name in scan], (q, got, scan)

        key = f"bench:geo:{n}"
        client.delete(key)
        for i in range(0, n, 10_000):
            chunk: list[Any] = []
            for lat, lng, name in stores[i : i + 10_000]:
                chunk += [lng, lat, name]
            client.execute_command("GEOADD", key, *chunk)
        lat_geo = []
        radius = geosearch_radius_km(n)
        for q in qs:
            t = time.perf_counter()
            client.execute_command(
                "GEOSEARCH",
                key,
                "FROMLONLAT",
                q[1],
                q[0],
                "BYRADIUS",
                radius,
                "km",
                "ASC",
                "COUNT",
                10,
                "WITHDIST",
            )
            lat_geo.append(time.perf_counter() - t)
        client.delete(key)
        out[n] = {
            "build_s": build_s,
            "index_p50": pct(lat_index, 0.5) * 1e6, "index_p99": pct(lat_index, 0.99) * 1e6,
            "index_cpu_p99": pct(cpu_index, 0.99) / 1e3, "gc": collections,
            "brute_p50": statistics.median(lat_brute) * 1e6,
            "geo_p50": pct(lat_geo, 0.5) * 1e6, "geo_p99": pct(lat_geo, 0.99) * 1e6,
        }  # fmt: skip
        r = out[n]
        print(f"  {n:>7} stores: index p50 {r['index_p50']:5.0f} µs p99 {r['index_p99']:6.0f} µs "
              f"(cpu p99 {r['index_cpu_p99']:4.0f}, {collections} gc) | "
              f"brute p50 {r['brute_p50']:11.0f} µs | geosearch p50 {r['geo_p50']:5.0f} µs p99 "
              f"{r['geo_p99']:5.0f} µs | build {build_s:.2f} s", flush=True)  # fmt: skip
    client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()

    from live_server.core.embedded_redis import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="bench-nearest-") as tmp:
        valkey = EmbeddedRedis(Path(tmp), persistent=False)
        url = valkey.start()
        try:
            runs = []
            for run in range(args.runs):
                load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
                print(f"run {run + 1} (load average {load}):", flush=True)
                runs.append(one_run(1000 + run, url, args.queries))
        finally:
            valkey.stop()
    print(f"\nmedian of {args.runs} runs (µs per query, limit 10):")
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| stores | index p50 | index p99 | index p99 CPU | brute geopy p50 | GEOSEARCH p50 "
          "| GEOSEARCH p99 | brute/index | GEOSEARCH/index (p50) |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in SIZES:
        m = {k: statistics.median(r[n][k] for r in runs) for k in runs[0][n]}
        print(f"| {n:,} | {m['index_p50']:.0f} | {m['index_p99']:.0f} | {m['index_cpu_p99']:.0f} | "
              f"{m['brute_p50']:,.0f} | "
              f"{m['geo_p50']:.0f} | {m['geo_p99']:.0f} | "
              f"{m['brute_p50'] / m['index_p50']:,.0f}x | "
              f"{m['geo_p50'] / m['index_p50']:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
