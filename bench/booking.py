"""Booking benchmark: HTTP bookings/s and p99 at 64 concurrent clients against the ceiling,
a bare aiohttp endpoint doing one Redis call, in the same run.

    python -m bench.booking                       # 10 runs of 4 s per target (~3 min)
    python -m bench.booking --runs 1 --seconds 3  # quick look

Starts an embedded Valkey (append-only everysec) and ``live-server serve`` (one worker) on a free
127.0.0.1 port, imports one store open around the clock (capacity 10,000 per slot, 47 slots, so
every answer is a real 201), starts a live room, then drives ``POST /api/v1/rooms/{room}/
bookings`` from one asyncio process with 64 clients (keep-alive, one request in flight
each; each request a fresh viewer with its own Idempotency-Key, on one of tomorrow's 47
slots). The ceiling is ``bench.booking --ceiling``: an aiohttp app on uvloop whose handler
does one ``INCR`` on the same Valkey and answers JSON, driven the same way; twice: with
redis-py's asyncio client, and with the auto-pipelined connection the booking path itself
uses (live_server/core/fastredis.py), so the ratio is not flattered by the client. After the runs
the stream is reconciled: booking.created entries == 201s seen.

The machine is shared by the server, Valkey and the load generator (and, on a CI box, by
neighbours): the targets run in ABC CBA order, and the ratio is also reported within each
run (booking and ceiling seconds apart) with its median and range. Server and Redis CPU
per request come from /proc (utime + stime of each process). ``--pin`` puts the servers
(ours and the ceilings) on CPU 0 and Valkey and the load generator on CPU 1.
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
ALL_DAY = {
    d: [{"open": "00:00", "close": "23:59"}]
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)  # readiness poll, bounded by the deadline
    raise RuntimeError(f"{url} did not become ready")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def box_idle() -> tuple[float, float]:
    """(idle, total) jiffies of the whole machine so far (/proc/stat)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (the server's own CPU, not the client's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the ceiling: one Redis call per request ------------------------------------------------


def run_ceiling(port: int, redis_url: str, client: str) -> None:
    """The bare endpoint. ``client``: ``redis-py`` (its asyncio pool, as most aiohttp apps)
    or ``fast`` (the same auto-pipelined connection the booking path uses)."""
    import uvloop
    from aiohttp import web
    from redis.asyncio import Redis

    from live_server.core.fastredis import connect_fast

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def book(request: web.Request) -> web.Response:
        n = await request.app["incr"]("bench:ceiling")
        return web.json_response({"n": n}, status=201)

    async def ctx(app: web.Application) -> Any:
        if client == "fast":
            fast = connect_fast(redis_url, 2.0)
            assert fast is not None
            app["incr"] = lambda key: fast.execute("INCR", key)
            yield
            await fast.aclose()
        else:
            redis = Redis.from_url(redis_url, max_connections=256)
            app["incr"] = redis.incr
            yield
            await redis.aclose()

    app = web.Application()
    app.cleanup_ctx.append(ctx)
    app.router.add_get("/readyz", ready)
    app.router.add_post("/ceiling", book)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- load -------------------------------------------------------------------------------------


async def drive(url: str, make_request: Any, clients: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def client(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            headers, body = make_request(next(counter))
            t0 = time.perf_counter()
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.read()
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
            latencies.append(time.perf_counter() - t0)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "statuses": statuses,
        "count": len(latencies),
    }


async def setup(base: str) -> tuple[str, list[str]]:
    import aiohttp

    from live_server.core.tokens import Role, TokenSigner

    ops = TokenSigner(SECRET).issue(Role.OPS, "*", "ops")
    auth = {"Authorization": f"Bearer {ops}"}
    store = {"id": "bench", "name": "Bench store", "lat": 31.2, "lng": 121.45,
             "timezone": "Asia/Shanghai", "hours": ALL_DAY, "services": ["cake-consult"],
             "capacity": 10_000}  # fmt: skip
    async with aiohttp.ClientSession() as s:
        async with s.put(f"{base}/api/v1/stores", json=[store], headers=auth) as r:
            assert r.status == 200, await r.text()
        async with s.post(f"{base}/api/v1/rooms", json={"title": "Bench"}, headers=auth) as r:
            room = await r.json()
        host = {"Authorization": f"Bearer {room['host_token']}"}
        async with s.post(f"{base}/api/v1/rooms/{room['room_id']}/start", headers=host) as r:
            assert r.status == 200
        day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date()
        async with s.get(f"{base}/api/v1/stores/bench/slots?date={day}") as r:
            slots = [x["start"] for x in (await r.json())["slots"]]
    return room["room_id"], slots


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument(
        "--pin", action="store_true",
        help="the servers (ours and the ceilings) on CPU 0; Valkey and the load generator on CPU 1",
    )  # fmt: skip
    parser.add_argument(
        "--ceiling", nargs=3, metavar=("PORT", "REDIS_URL", "CLIENT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.ceiling:
        run_ceiling(int(args.ceiling[0]), args.ceiling[1], args.ceiling[2])
        return

    import redis

    from live_server.core import keys
    from live_server.core.embedded_redis import EmbeddedRedis
    from live_server.core.tokens import Role, TokenSigner

    tmp = tempfile.TemporaryDirectory(prefix="bench-booking-")
    valkey = EmbeddedRedis(Path(tmp.name) / "redis", fsync="everysec")
    redis_url = valkey.start()
    assert valkey.process is not None
    valkey_pid = valkey.process.pid
    port, ceiling_port, fast_port = free_port(), free_port(), free_port()
    # One address drives it all: exempt it from the per-IP rule (600 a minute), as a load
    # test host is; the per-viewer rule still runs on every request (fresh viewers).
    env = {**os.environ, "LIVE_SECRET": SECRET, "LIVE_LOG_LEVEL": "WARNING",
           "LIVE_RATE_LIMIT_EXEMPT": "127.0.0.1"}  # fmt: skip
    env.pop("REDIS_URL", None)
    exe = Path(sys.executable).parent / "live-server"
    server = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", tmp.name,
         "--redis-url", redis_url],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    ceilings: list[subprocess.Popen[bytes]] = []
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz", server)
        for cport, client in ((ceiling_port, "redis-py"), (fast_port, "fast")):
            ceilings.append(subprocess.Popen(
                [sys.executable, "-m", "bench.booking", "--ceiling", str(cport), redis_url, client],
                cwd=ROOT,
            ))  # fmt: skip
            wait_ready(f"http://127.0.0.1:{cport}/readyz", ceilings[-1])
        if args.pin:  # each server gets a core of its own, as it would in production
            for pid in (server.pid, *(c.pid for c in ceilings)):
                os.sched_setaffinity(pid, {0})
            for pid in (valkey_pid, os.getpid()):
                os.sched_setaffinity(pid, {1})
        room_id, slots = asyncio.run(setup(base))
        signer = TokenSigner(SECRET)
        stamp = int(time.time())

        def booking_request(n: int) -> tuple[dict[str, str], dict[str, Any]]:
            token = signer.issue(Role.VIEWER, room_id, f"v_b{stamp}_{n}")
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k{n}"}
            return headers, {
                "store_id": "bench",
                "slot": slots[n % len(slots)],
                "service": "cake-consult",
            }

        def ceiling_request(n: int) -> tuple[dict[str, str], dict[str, Any]]:
            token = signer.issue(Role.VIEWER, room_id, f"v_c{n}")  # same client-side work
            return {"Authorization": f"Bearer {token}"}, {"n": n}

        results: dict[str, list[dict[str, Any]]] = {
            "booking": [],
            "ceiling": [],
            "ceiling-fast": [],
        }
        created = 0
        targets = (
            ("booking", f"{base}/api/v1/rooms/{room_id}/bookings", booking_request, server.pid),
            (
                "ceiling",
                f"http://127.0.0.1:{ceiling_port}/ceiling",
                ceiling_request,
                ceilings[0].pid,
            ),
            (
                "ceiling-fast",
                f"http://127.0.0.1:{fast_port}/ceiling",
                ceiling_request,
                ceilings[1].pid,
            ),
        )
        for run in range(args.runs):
            # Every other run in reverse order (ABC CBA): a drift of the machine's speed
            # during the bench weighs on both sides of a ratio alike.
            for name, url, make, pid in targets if run % 2 == 0 else targets[::-1]:
                cpu_before, redis_before = cpu_seconds(pid), cpu_seconds(valkey_pid)
                client_before, idle_before = cpu_seconds(os.getpid()), box_idle()
                r = asyncio.run(drive(url, make, args.clients, args.seconds))
                served = max(1, sum(r["statuses"].values()))
                r["cpu_us"] = 1e6 * (cpu_seconds(pid) - cpu_before) / served
                r["redis_us"] = 1e6 * (cpu_seconds(valkey_pid) - redis_before) / served
                r["client_us"] = 1e6 * (cpu_seconds(os.getpid()) - client_before) / served
                idle_after = box_idle()
                r["idle_pct"] = (
                    100
                    * (idle_after[0] - idle_before[0])
                    / max(1.0, idle_after[1] - idle_before[1])
                )
                results[name].append(r)
                if name == "booking":
                    created += r["statuses"].get(201, 0)
                    stamp += 1
                print(f"run {run + 1} {name:12s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                      f"p99 {r['p99_ms']:6.1f} ms  server CPU {r['cpu_us']:5.0f} µs/req  "
                      f"Redis CPU {r['redis_us']:4.0f} µs/req  "
                      f"client CPU {r['client_us']:4.0f} µs/req  "
                      f"box idle {r['idle_pct']:4.1f}%  {r['statuses']}", flush=True)  # fmt: skip
        entries = redis.Redis.from_url(redis_url).xlen(keys.store_stream("bench"))
        print(
            f"reconcile: booking.created entries {entries} == 201s {created}: {entries == created}"
        )
        med = {
            n: {
                k: statistics.median(r[k] for r in rs)
                for k in ("rps", "p50_ms", "p99_ms", "cpu_us", "redis_us", "client_us", "idle_pct")
            }
            for n, rs in results.items()
        }
        print("\nmedian of", args.runs, "runs,", args.clients, "clients:")
        for n, m in med.items():
            print(f"  {n:12s} {m['rps']:8.0f} req/s  p50 {m['p50_ms']:6.1f} ms  "
                  f"p99 {m['p99_ms']:6.1f} ms  "
                  f"server CPU {m['cpu_us']:5.0f} µs/req  Redis CPU {m['redis_us']:4.0f} µs/req  "
                  f"client CPU {m['client_us']:4.0f} µs/req  "
                  f"box idle {m['idle_pct']:4.1f}%")  # fmt: skip
        print(
            "  booking / ceiling (redis-py) throughput: "
            f"{med['booking']['rps'] / med['ceiling']['rps']:.2f}"
        )
        # The same ratio within each run (booking and ceiling measured seconds apart), then
        # its median: the figure the target is read against on a noisy machine.
        paired = sorted(
            b["rps"] / c["rps"] for b, c in zip(results["booking"], results["ceiling"], strict=True)
        )
        print(f"  booking / ceiling (redis-py) throughput within each run: median "
              f"{statistics.median(paired):.2f} (range {paired[0]:.2f}-{paired[-1]:.2f}; "
              f"{sum(r >= 0.5 for r in paired)} of {len(paired)} runs >= 0.50)")  # fmt: skip
        print(f"  booking / ceiling (fast client) throughput: "
              f"{med['booking']['rps'] / med['ceiling-fast']['rps']:.2f}")  # fmt: skip
        print(f"  server CPU per request, ceiling (redis-py) / booking: "
              f"{med['ceiling']['cpu_us'] / med['booking']['cpu_us']:.2f}; "
              "ceiling (fast) / booking: "
              f"{med['ceiling-fast']['cpu_us'] / med['booking']['cpu_us']:.2f}")  # fmt: skip
    finally:
        for ceiling in ceilings:
            stop(ceiling)
        stop(server)
        valkey.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
