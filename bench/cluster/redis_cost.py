"""What one claim, one booking and one viewer join cost Redis: commands (from INFO
commandstats, so follow-ups, publishes and counter flushes are all counted) and Redis CPU
(INFO cpu) per operation, on one Valkey core. Feeds the capacity model in docs/SCALING.md.

    python -m bench.cluster.redis_cost                 # 2,000 claims, 500 bookings, 1,000 joins
    python -m bench.cluster.redis_cost --cluster       # the same on a local 3-master cluster

The app runs in-process (aiohttp TestServer on 127.0.0.1, one worker); 32 concurrent
clients. Redis CPU is used_cpu_user+sys of the server(s) over the phase, divided by the
operations; on a shared machine it includes a little background (heartbeats, sweepers).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import redis
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.core.cluster import LocalCluster
from live_server.core.embedded_redis import EmbeddedRedis
from live_server.core.tokens import Role, TokenSigner
from live_server.settings import Settings

SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ALL_DAY = {
    d: [{"open": "00:00", "close": "23:59"}]
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}
CONCURRENCY = 32


def snapshot(urls: list[str]) -> tuple[collections.Counter[str], float]:
    calls: collections.Counter[str] = collections.Counter()
    cpu = 0.0
    for url in urls:
        client = redis.Redis.from_url(url)
        try:
            for name, stats in client.info("commandstats").items():
                calls[name.removeprefix("cmdstat_")] += int(stats["calls"])
            info = client.info("cpu")
            cpu += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        finally:
            client.close()
    return calls, cpu


async def drive(n: int, one: Any) -> float:
    queue = list(range(n))
    started = time.monotonic()

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.monotonic() - started


async def measure(urls: list[str], cluster: bool, claims: int, bookings: int, joins: int) -> None:
    settings = Settings.from_env(
        {}, data_dir=Path(tempfile.mkdtemp(prefix="bench-cost-")), redis_url=urls[0],
        redis_cluster=cluster or None, secret=SECRET, access_log=False, log_level="WARNING",
    )  # fmt: skip
    signer = TokenSigner(SECRET)
    ops = signer.issue(Role.OPS, "*", "ops")
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    rows: list[tuple[str, int, float, collections.Counter[str], float]] = []
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONCURRENCY * 2)
        ) as http:

            async def post(
                path: str, token: str | None = None, body: Any = None, **headers: str
            ) -> tuple[int, Any]:
                hdrs = {"Authorization": f"Bearer {token}"} if token else {}
                async with http.post(base + path, json=body, headers={**hdrs, **headers}) as resp:
                    return resp.status, await resp.json(content_type=None)

            store = {
                "id": "bench1", "name": "Bench", "lat": 31.2, "lng": 121.45,
                "timezone": "Asia/Shanghai", "hours": ALL_DAY, "services": ["cake-consult"],
                "slot_minutes": 30, "capacity": 10000,
            }  # fmt: skip
            async with http.put(
                base + "/api/v1/stores", json=[store], headers={"Authorization": f"Bearer {ops}"}
            ) as r:
                assert r.status == 200, await r.text()
            status, room = await post("/api/v1/rooms", ops, {"title": "bench"})
            assert status == 201, room
            rid, host = room["room_id"], room["host_token"]
            assert (await post(f"/api/v1/rooms/{rid}/start", host))[0] == 200
            status, camp = await post(f"/api/v1/rooms/{rid}/campaigns", host, {
                "title": "bench", "value": 5, "quantity": claims + 10, "per_user": 1,
                "expires_at": int(time.time()) + 3600})  # fmt: skip
            assert status == 201, camp
            assert (await post(f"/api/v1/rooms/{rid}/campaigns/{camp['id']}/drop", host))[0] == 200
            day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date().isoformat()
            async with http.get(f"{base}/api/v1/stores/bench1/slots?date={day}") as r:
                slots = [s["start"] for s in (await r.json())["slots"]]

            async def join(n: int) -> None:
                status, _ = await post(
                    f"/api/v1/rooms/{rid}/viewers", None, {"external_id": f"bench-{n}"}
                )
                assert status == 201

            async def claim(n: int) -> None:
                token = signer.issue(Role.VIEWER, rid, f"v_c{n:06d}")
                status, body = await post(
                    f"/api/v1/rooms/{rid}/campaigns/{camp['id']}/claim", token
                )
                assert status == 201, body

            async def book(n: int) -> None:
                token = signer.issue(Role.VIEWER, rid, f"v_b{n:06d}")
                body = {
                    "store_id": "bench1",
                    "slot": slots[n % len(slots)],
                    "service": "cake-consult",
                }
                status, answer = await post(
                    f"/api/v1/rooms/{rid}/bookings", token, body, **{"Idempotency-Key": f"k{n}"}
                )
                assert status == 201, answer

            for name, n, fn in (
                ("viewer join", joins, join),
                ("coupon claim", claims, claim),
                ("booking", bookings, book),
            ):
                before, cpu0 = snapshot(urls)
                elapsed = await drive(n, fn)
                await asyncio.sleep(1.5)  # let coalesced counters flush (they are part of the cost)
                after, cpu1 = snapshot(urls)
                rows.append((name, n, elapsed, after - before, cpu1 - cpu0))
    finally:
        await server.close()

    where = "cluster (3 masters)" if cluster else "single Valkey"
    print(f"\n{where}; {CONCURRENCY} concurrent clients")
    print(
        "| operation | n | HTTP op/s (1 worker) | Redis commands / op "
        "| Redis CPU µs / op | commands (per op) |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name, n, elapsed, calls, cpu in rows:
        calls -= collections.Counter(
            {"info": calls["info"], "cluster|info": calls.get("cluster|info", 0)}
        )
        total = sum(calls.values())
        top = ", ".join(f"{c} {v / n:.2f}" for c, v in calls.most_common(8) if v / n >= 0.01)
        print(
            f"| {name} | {n} | {n / elapsed:.0f} | {total / n:.2f} | {cpu / n * 1e6:.0f} | {top} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--bookings", type=int, default=500)
    parser.add_argument("--joins", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cost-redis-"))
    if args.cluster:
        with LocalCluster(tmp) as cluster:
            asyncio.run(measure(cluster.urls, True, args.claims, args.bookings, args.joins))
    else:
        server = EmbeddedRedis(tmp, persistent=False)
        url = server.start()
        try:
            asyncio.run(measure([url], False, args.claims, args.bookings, args.joins))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
