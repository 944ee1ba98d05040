"""Where does a coupon drop's time go, and a join's? (issue 21, points 1 and 2)

Runs the server in this process (``--workers 1``, embedded Redis, demo room, pinned to
CPU 0 with its Redis), creates the campaigns as the host, connects N viewers with their
own tokens through ``loadgen.js`` (pinned to CPU 1), drops the campaigns, and prints:

* wall-clock timers of each step of a drop, per drop (median and max): the whole
  ``CouponService.drop``, its Redis steps (``require_live``, the drop script,
  ``get_campaign``), the history append (``XADD``), the local fan-out (encode + the
  per-socket write loop, with the number of recipients) and the publish;
* with ``--cprofile``: cProfile's top functions over the join phase and over the drop phase
  (cProfile slows Python code about 2x: read shares, not absolute times).

    .venv/bin/python -m bench.fanout.profile --viewers 10000 [--cprofile]

(run it under ``flock /tmp/bench.lock``).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import os
import pstats
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.fanout.run import (
    HERE,
    drop_triggers,
    free_port,
    mint_viewer_tokens,
    wait_http,
)

TIMES: dict[str, list[float]] = defaultdict(list)
COUNTS: dict[str, list[int]] = defaultdict(list)
PROFILE: dict[str, Any] = {"on": False, "prof": None}


def timed_async(owner: Any, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            TIMES[label].append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


def timed_sync(owner: Any, name: str, label: str, count: Callable[..., int] | None = None) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            TIMES[label].append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


def instrument() -> None:
    from coupons.service import CouponService
    from coupons.store import CouponStore
    from live_server.realtime.bus import LiveRedisManager
    from live_server.realtime.fanout import FastFanout
    from live_server.realtime.server import Realtime
    from live_server.rooms.live import LiveRooms
    from live_server.rooms.service import RoomService
    from live_server.rooms.store import RoomStore

    timed_async(CouponService, "drop", "drop: whole service call")
    timed_async(RoomService, "require_live", "drop: require_live (Redis)")
    timed_async(CouponStore, "drop", "drop: drop script (Redis)")
    timed_async(CouponService, "get_campaign", "drop: get_campaign (Redis)")
    timed_async(Realtime, "to_viewers", "drop: to_viewers (history + fan-out + publish)")
    timed_async(Realtime, "to_host", "drop: to_host")
    timed_async(RoomStore, "append_history", "broadcast: history XADD (Redis)")
    timed_async(LiveRedisManager, "_publish", "broadcast: publish (Redis)")
    timed_async(LiveRooms, "_on_viewer_join", "join: on_join hook (room.state + replay)")
    timed_async(LiveRooms, "shared_state", "join: shared_state")
    timed_async(LiveRooms, "missed_since", "join: missed_since (Redis)")

    original = FastFanout.fast_emit

    def fast_emit(self: Any, event: str, data: list[Any], namespace: str, room: Any,
                  skip_sid: Any) -> None:  # fmt: skip
        before = FastFanout.fast_deliveries + FastFanout.queued_deliveries
        started = time.perf_counter()
        original(self, event, data, namespace, room, skip_sid)
        label = f"fan-out {event} ({'room' if str(room).startswith('room:') else 'one'})"
        TIMES[label].append(time.perf_counter() - started)
        COUNTS[label].append(FastFanout.fast_deliveries + FastFanout.queued_deliveries - before)

    FastFanout.fast_emit = fast_emit  # type: ignore[method-assign]


def toggle_profile(_sig: int, _frame: Any) -> None:
    if not PROFILE["on"]:
        PROFILE["prof"] = cProfile.Profile()
        PROFILE["prof"].enable()
        PROFILE["on"] = True
    else:
        PROFILE["prof"].disable()
        PROFILE["on"] = False


def dump_profile(title: str, top: int) -> None:
    prof = PROFILE["prof"]
    if prof is None:
        return
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(f"\n===== cProfile: {title} (by own time) =====\n{out.getvalue()}", flush=True)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    print(f"\n===== cProfile: {title} (cumulative) =====\n{out.getvalue()}", flush=True)
    PROFILE["prof"] = None


def summary() -> None:
    print("\n===== timers (ms): n, median, p90, max, total =====")
    for label in sorted(TIMES):
        values = sorted(v * 1000 for v in TIMES[label])
        if not values:
            continue
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        extra = ""
        if COUNTS.get(label):
            extra = f"  recipients median {statistics.median(COUNTS[label]):.0f}"
        print(
            f"{label:55s} n={len(values):6d} med={statistics.median(values):8.3f} "
            f"p90={p90:8.3f} max={values[-1]:8.3f} total={sum(values):9.1f}{extra}",
            flush=True,
        )


def probe(port: int, data_dir: Path, viewers: int, drops: int, secret: str, prof: bool,
          top: int) -> None:  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/readyz")
        time.sleep(1.0)
        demo = json.loads((data_dir / "demo.json").read_text())
        room, host = demo["room_id"], demo["host_token"]
        _campaigns, triggers = drop_triggers(base, room, host, drops)
        load = {
            "url": base, "n": viewers, "gap_ms": 250, "event": "coupon.dropped",
            "tokens": mint_viewer_tokens(secret, room, viewers), "triggers": triggers,
        }  # fmt: skip
        load_file = data_dir / "load.json"
        load_file.write_text(json.dumps(load))
        TIMES.clear()
        COUNTS.clear()
        if prof:
            os.kill(os.getpid(), signal.SIGUSR1)
        gen = subprocess.Popen(
            ["taskset", "-c", "1", "node", str(HERE / "loadgen.js"), str(load_file)],
            cwd=HERE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "FANOUT_PER_BROADCAST": "1"},
        )  # fmt: skip
        assert gen.stdout is not None
        cpu0 = os.times()
        for line in gen.stdout:
            msg = json.loads(line)
            if msg["phase"] == "connected":
                cpu1 = os.times()
                print(json.dumps(msg), flush=True)
                used = cpu1.user + cpu1.system - cpu0.user - cpu0.system
                per = used / max(1, msg["connected"]) * 1e6
                print(f"join CPU (this process): {per:.0f} µs/join", flush=True)
                if prof:
                    os.kill(os.getpid(), signal.SIGUSR1)
                    time.sleep(0.5)
                    dump_profile("join phase", top)
                summary()
                TIMES.clear()
                COUNTS.clear()
            elif msg["phase"] == "broadcasting":
                cpu2 = os.times()
                if prof:
                    os.kill(os.getpid(), signal.SIGUSR1)
            elif msg["phase"] == "done":
                cpu3 = os.times()
                if prof:
                    os.kill(os.getpid(), signal.SIGUSR1)
                    time.sleep(0.5)
                    dump_profile("drop phase", top)
                print(json.dumps(msg), flush=True)
                received = max(1, msg["received"])
                used = cpu3.user + cpu3.system - cpu2.user - cpu2.system
                print(f"drop phase CPU (this process): {used / received * 1e6:.1f} µs/msg")
            else:
                print(json.dumps(msg), flush=True)
        gen.wait(60)
        summary()
    finally:
        os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=10000)
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # this server and its embedded Redis on CPU 0
    secret = secrets.token_hex(32)
    os.environ["LIVE_LOG_LEVEL"] = "WARNING"
    os.environ["LIVE_SECRET"] = secret
    os.environ.pop("REDIS_URL", None)
    os.environ.pop("LIVE_SECRETS", None)
    instrument()
    signal.signal(signal.SIGUSR1, toggle_profile)
    from live_server.cli import main as cli_main

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fanout-profile-") as tmp:
        threading.Thread(
            target=probe,
            args=(port, Path(tmp), args.viewers, args.drops, secret, args.cprofile, args.top),
            daemon=True,
        ).start()
        cli_main(["serve", "--demo", "--workers", "1", "--port", str(port), "--data-dir", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
