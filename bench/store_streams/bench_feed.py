"""Store feed: replay throughput and live delivery latency on /store (bounded, 127.0.0.1).

    .venv/bin/python -m bench.store_streams.bench_feed --replay 5000 --live 500

Starts an embedded Valkey and the real app in-process, appends ``--replay`` entries, then
connects one staff client with ``last_id=0`` and times the replay until ``store.synced``;
then appends ``--live`` entries one at a time (paced at ~200/s) and records, per entry,
client receive time minus the entry's ``ts`` (append time). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import socketio
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.core.embedded_redis import EmbeddedRedis
from live_server.core.redis_conn import connect_redis
from live_server.core.tokens import Role, TokenSigner
from live_server.settings import Settings
from live_server.store_streams import events as store_events

SECRET = "bench-secret-for-the-store-feed-0123456789abcdef"


async def run(replay: int, live: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp) / "valkey", persistent=False)
        url = server.start()
        try:
            settings = Settings.from_env({}, data_dir=Path(tmp), redis_url=url, secret=SECRET,
                                         access_log=False)  # fmt: skip
            redis = connect_redis(settings)
            srv = TestServer(create_app(settings), host="127.0.0.1")
            await srv.start_server()
            try:
                return await measure(srv, redis, replay, live)
            finally:
                await srv.close()
                await redis.aclose()
        finally:
            server.stop()


async def measure(srv: TestServer, redis: Any, replay: int, live: int) -> dict[str, Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(replay):
            entry = store_events.encode_entry("booking.created", {"booking_id": f"b{n}", "n": n})
            pipe.xadd("{store:s_bench}:events", entry)
        await pipe.execute()
    token = TokenSigner(SECRET).issue(Role.STAFF, "s_bench", "staff")
    got: list[tuple[float, dict[str, Any]]] = []
    synced = asyncio.Event()
    done = asyncio.Event()
    client = socketio.AsyncClient(reconnection=False)

    def on_booking(data: dict[str, Any]) -> None:
        got.append((time.time() * 1000, data))
        if len(got) == replay + live:
            done.set()

    client.on("booking.created", on_booking, namespace="/store")
    client.on("store.synced", lambda data: synced.set(), namespace="/store")
    started = time.perf_counter()
    await client.connect(str(srv.make_url("")), namespaces=["/store"], transports=["websocket"],
                         auth={"token": token, "last_id": "0"})  # fmt: skip
    await asyncio.wait_for(synced.wait(), 120)
    replay_s = time.perf_counter() - started
    for n in range(live):
        await store_events.append(redis, "s_bench", "booking.created", {"booking_id": f"l{n}"})
        await asyncio.sleep(0.005)
    await asyncio.wait_for(done.wait(), 60)
    await client.disconnect()
    ids = [d["id"] for _, d in got]
    latencies = sorted(at - d["ts"] for at, d in got[replay:])
    return {
        "replayed": replay,
        "replay_s": round(replay_s, 3),
        "replay_per_s": round(replay / replay_s),
        "live": live,
        "live_ms_p50": round(statistics.median(latencies), 2),
        "live_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "in_order_no_dups": ids == sorted(set(ids), key=lambda i: tuple(map(int, i.split("-")))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replay", type=int, default=5000)
    parser.add_argument("--live", type=int, default=500)
    args = parser.parse_args()
    print(orjson.dumps(asyncio.run(run(args.replay, args.live))).decode())


if __name__ == "__main__":
    main()
