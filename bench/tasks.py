"""What a booking's guide task costs: bookings/s and CPU per booking with the task made in
the booking's own step (``LIVE_TASKS=1``, the default) and without it (``LIVE_TASKS=0``),
in the same run, on the same Valkey.

    python -m bench.tasks                        # 10 rounds of 4 s per server (~90 s)
    python -m bench.tasks --runs 2 --seconds 2   # quick look

Starts an embedded Valkey (append-only everysec) and two ``live-server serve`` processes (one
worker each) on it: one makes tasks, one does not. One store open around the clock (capacity
10,000 per slot) with five active guides, one live room; 64 clients (keep-alive, one request
in flight each; each request a fresh viewer with its own Idempotency-Key) drive ``POST
/api/v1/rooms/{room}/bookings`` at one server, then the other (AB BA order). Server CPU and
Valkey CPU per booking come from /proc. Target (issue 19): the task adds <= 15% server CPU
per booking. After the runs: every booking.created of the task server has its task.assigned.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.booking import SECRET, cpu_seconds, drive, free_port, setup, stop, wait_ready

GUIDES = [{"id": f"g{n}", "name": f"Guide {n}"} for n in range(5)]


async def add_guides(base: str) -> None:
    import aiohttp

    from live_server.core.tokens import Role, TokenSigner

    ops = TokenSigner(SECRET).issue(Role.OPS, "*", "ops")
    async with (
        aiohttp.ClientSession() as s,
        s.put(
            f"{base}/api/v1/stores/bench/guides",
            json=GUIDES,
            headers={"Authorization": f"Bearer {ops}"},
        ) as r,
    ):
        assert r.status == 200, await r.text()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=64)
    args = parser.parse_args()

    import redis

    from live_server.core import keys
    from live_server.core.embedded_redis import EmbeddedRedis
    from live_server.core.tokens import Role, TokenSigner

    tmp = tempfile.TemporaryDirectory(prefix="bench-tasks-")
    valkey = EmbeddedRedis(Path(tmp.name) / "redis", fsync="everysec")
    redis_url = valkey.start()
    assert valkey.process is not None
    valkey_pid = valkey.process.pid
    exe = Path(sys.executable).parent / "live-server"
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for name, tasks in (("with task", "1"), ("without", "0")):
            port = free_port()
            env = {**os.environ, "LIVE_SECRET": SECRET, "LIVE_LOG_LEVEL": "WARNING",
                   "LIVE_RATE_LIMIT_EXEMPT": "127.0.0.1", "LIVE_TASKS": tasks}  # fmt: skip
            env.pop("REDIS_URL", None)
            data = Path(tmp.name) / name.replace(" ", "-")
            data.mkdir()
            proc = subprocess.Popen(
                [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port),
                 "--data-dir", str(data), "--redis-url", redis_url],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            base = f"http://127.0.0.1:{port}"
            wait_ready(base + "/readyz", proc)
            servers[name] = (proc, base)
        room_id, slots = asyncio.run(setup(servers["with task"][1]))
        asyncio.run(add_guides(servers["with task"][1]))
        signer = TokenSigner(SECRET)
        stamp = [int(time.time())]

        def booking_request(n: int) -> tuple[dict[str, str], dict[str, Any]]:
            token = signer.issue(Role.VIEWER, room_id, f"v_t{stamp[0]}_{n}")
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k{n}"}
            return headers, {
                "store_id": "bench", "slot": slots[n % len(slots)], "service": "cake-consult",
            }  # fmt: skip

        results: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        made = 0
        order = list(servers)
        for run in range(args.runs):
            for name in order if run % 2 == 0 else order[::-1]:
                proc, base = servers[name]
                cpu_before, redis_before = cpu_seconds(proc.pid), cpu_seconds(valkey_pid)
                url = f"{base}/api/v1/rooms/{room_id}/bookings"
                r = asyncio.run(drive(url, booking_request, args.clients, args.seconds))
                stamp[0] += 1
                served = max(1, sum(r["statuses"].values()))
                r["cpu_us"] = 1e6 * (cpu_seconds(proc.pid) - cpu_before) / served
                r["redis_us"] = 1e6 * (cpu_seconds(valkey_pid) - redis_before) / served
                results[name].append(r)
                if name == "with task":
                    made += r["statuses"].get(201, 0)
                print(f"run {run + 1} {name:9s} {r['rps']:7.0f} bookings/s  "
                      f"p99 {r['p99_ms']:6.1f} ms  server CPU {r['cpu_us']:5.0f} µs/booking  "
                      f"Valkey CPU {r['redis_us']:4.0f} µs/booking  {r['statuses']}",
                      flush=True)  # fmt: skip
        r = redis.Redis.from_url(redis_url)
        types = [f[b"type"] for _, f in r.xrange(keys.store_stream("bench"))]
        tasks = types.count(b"task.assigned")
        print(f"reconcile: task.assigned entries {tasks} == 201s of the task server {made}: "
              f"{tasks == made}")  # fmt: skip
        med = {
            n: {
                k: statistics.median(x[k] for x in rs)
                for k in ("rps", "p99_ms", "cpu_us", "redis_us")
            }
            for n, rs in results.items()
        }
        print(f"\nmedian of {args.runs} runs, {args.clients} clients:")
        for n, m in med.items():
            print(f"  {n:9s} {m['rps']:7.0f} bookings/s  p99 {m['p99_ms']:6.1f} ms  "
                  f"server CPU {m['cpu_us']:5.0f} µs/booking  "
                  f"Valkey CPU {m['redis_us']:4.0f} µs/booking")  # fmt: skip
        paired = sorted(
            a["cpu_us"] / b["cpu_us"]
            for a, b in zip(results["with task"], results["without"], strict=True)
        )
        print(
            f"  server CPU per booking, with / without the task: ratio of medians "
            f"{med['with task']['cpu_us'] / med['without']['cpu_us']:.3f}; within each run "
            f"median {statistics.median(paired):.3f} (range {paired[0]:.3f}-{paired[-1]:.3f})"
        )
        print(
            f"  Valkey CPU per booking, with / without: "
            f"{med['with task']['redis_us'] / med['without']['redis_us']:.3f}; "
            f"throughput with / without: {med['with task']['rps'] / med['without']['rps']:.3f}"
        )
    finally:
        for proc, _ in servers.values():
            stop(proc)
        valkey.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
