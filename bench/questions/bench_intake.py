"""Benchmark: group message in -> card on the host channel (/host), at a fixed rate.

    python -m bench.questions.bench_intake --rate 200 --seconds 20

Starts ``live-server serve --demo`` (embedded Valkey, one worker) in a subprocess on
127.0.0.1, connects the host console's Socket.IO channel, and sends signed group
messages open-loop at ``--rate`` per second from the five demo groups: ~60% near-duplicates
of 40 common questions (merged into existing cards -> ``question.updated``), ~40% distinct
questions (new cards -> ``question.new``). Every author is distinct, so every accepted
message produces exactly one host event, identified by (question id, askers).

Latency = host event arrival - the message's *scheduled* send time (no coordinated
omission: a slow server makes later messages late too). Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import socketio

from live_server.questions.models import sign

TOPICS_ZH = [
    "多少钱",
    "保质期多久",
    "可以配送吗",
    "还有货吗",
    "需要冷藏吗",
    "可以定制吗",
    "甜不甜",
    "热量高吗",
]
TOPICS_EN = ["how much is the {p}?", "how long does the {p} keep?", "is the {p} in stock?",
             "can you deliver the {p}?", "is the {p} very sweet?"]  # fmt: skip
PRODUCTS = [("月饼", "mooncake"), ("欧包", "sourdough"), ("吐司", "toast"), ("可颂", "croissant"),
            ("蛋挞", "egg tart"), ("芝士蛋糕", "cheesecake"), ("提拉米苏", "tiramisu"),
            ("马卡龙", "macaron")]  # fmt: skip
PREFIXES = ["", "请问", "主播，", "想问一下", "姐妹们 ", "亲，"]
RARE = ["带孩子来可以吗", "店里有wifi吗", "能开团购发票吗", "烘焙课周几上", "会员生日有礼物吗",
        "可以刷医保卡吗", "包装袋收费吗", "能帮忙加热吗", "有儿童座椅吗", "可以带狗吗", "几点补货",
        "新品什么时候上"]  # fmt: skip
READY_TIMEOUT_S = 60


def make_text(rng: random.Random, i: int) -> str:
    """A realistic mix: frequent questions re-worded, plus a long tail of distinct ones."""
    if rng.random() < 0.6:
        zh, en = rng.choice(PRODUCTS[:5])
        if rng.random() < 0.7:
            return f"{rng.choice(PREFIXES)}{zh}{rng.choice(TOPICS_ZH[:5])}"
        return rng.choice(TOPICS_EN[:3]).format(p=en)
    zh, _en = rng.choice(PRODUCTS)
    return f"{rng.choice(RARE)} 第{i}号 {zh}{rng.choice(TOPICS_ZH)}"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def wait_for_demo(data_dir: Path, proc: asyncio.subprocess.Process) -> dict[str, Any]:
    path = data_dir / "demo.json"
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while True:
                if proc.returncode is not None:
                    raise SystemExit(f"server exited with {proc.returncode}")
                if path.exists():
                    try:
                        demo = json.loads(path.read_text())
                        async with (
                            aiohttp.ClientSession() as s,
                            s.get(demo["base_url"] + "/readyz") as r,
                        ):
                            if r.status == 200:
                                return dict(demo)
                    except (OSError, ValueError, aiohttp.ClientError):
                        pass
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise SystemExit("server did not become ready") from None


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


async def run(
    rate: float, seconds: float, port: int, seed: int, profile: str | None = None, pin: bool = False
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-questions-"))
    env = {
        **os.environ, "LIVE_LOG_LEVEL": "WARNING", "LIVE_Q_GROUP_RATE": "1000000/60",
        "LIVE_Q_AUTHOR_RATE": "1000/60",
    }  # fmt: skip
    log_path = data_dir / "server.log"
    log_file = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        *(["taskset", "-c", "0"] if pin else []), sys.executable,
        *(["-m", "cProfile", "-o", profile] if profile else []),
        "-m", "live_server.cli", "serve", "--demo", "--host", "127.0.0.1",
        "--port", str(port), "--data-dir", str(data_dir),
        env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        demo = await wait_for_demo(data_dir, proc)
        if pin:
            os.sched_setaffinity(0, {1})  # the load generator on the other core
        kids = children(proc.pid)  # the embedded Valkey
        cpu_before = cpu_seconds(proc.pid)
        kids_before = sum(cpu_seconds(k) for k in kids)
        result = await drive(demo, rate, seconds, seed)
        cpu = cpu_seconds(proc.pid) - cpu_before
        kids_cpu = sum(cpu_seconds(k) for k in kids) - kids_before
        result["valkey_cpu_ms_per_message"] = round(kids_cpu * 1000 / max(1, result["accepted"]), 2)
        result["server_cpu_s"] = round(cpu, 2)
        result["server_cpu_ms_per_message"] = round(cpu * 1000 / max(1, result["accepted"]), 2)
        result["pinned"] = pin
        result["loadavg_1m_after"] = os.getloadavg()[0]
        result["server_log"] = str(log_path)
        return result
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        log_file.close()


async def drive(demo: dict[str, Any], rate: float, seconds: float, seed: int) -> dict[str, Any]:
    base, groups = demo["base_url"], demo["groups"]
    arrivals: dict[tuple[str, int], float] = {}
    # After the last answer: the host events still expected, and set when none are left.
    waiting: set[tuple[str, int]] = set()
    all_arrived = asyncio.Event()
    sio = socketio.AsyncClient(reconnection=False)

    def on_card(data: dict[str, Any]) -> None:
        key = (data["id"], data["askers"])
        arrivals.setdefault(key, time.perf_counter())
        if key in waiting:
            waiting.discard(key)
            if not waiting:
                all_arrived.set()

    sio.on("question.new", on_card, namespace="/host")
    sio.on("question.updated", on_card, namespace="/host")
    await sio.connect(base, namespaces=["/host"], transports=["websocket"],
                      auth={"token": demo["host_token"]}, wait_timeout=10)  # fmt: skip
    rng = random.Random(seed)
    total = int(rate * seconds)
    sent: dict[
        int, tuple[float, float, str, int, int]
    ] = {}  # i -> (scheduled, http_done, qid, askers, status)
    errors: dict[str, int] = {}
    conn = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def send(i: int, scheduled: float) -> None:
            group = groups[i % len(groups)]
            body = orjson.dumps({
                "message_id": uuid.uuid4().hex, "author_id": f"m{i}", "author_name": f"member {i}",
                "text": make_text(rng, i), "sent_at": int(time.time()),
            })  # fmt: skip
            ts = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Timestamp": ts,
                       "X-Signature": sign(group["secret"], ts, body)}  # fmt: skip
            try:
                async with session.post(f"{base}/api/v1/groups/{group['id']}/messages",
                                        data=body, headers=headers) as resp:  # fmt: skip
                    payload = await resp.json(content_type=None)
                    done = time.perf_counter()
                    if resp.status != 200:
                        errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                        return
                    sent[i] = (
                        scheduled,
                        done,
                        payload["question_id"],
                        payload["askers"],
                        resp.status,
                    )
            except aiohttp.ClientError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        start = time.perf_counter() + 0.5
        tasks = []
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i, scheduled)))
        print(f"sent {total} in {time.perf_counter() - start:.1f}s", file=sys.stderr)
        await asyncio.gather(*tasks)
        print(f"answered {len(sent)} (+{sum(errors.values())} errors)", file=sys.stderr)
        waiting.update(
            (qid, askers)
            for _s, _d, qid, askers, _st in sent.values()
            if (qid, askers) not in arrivals
        )
        if waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_arrived.wait(), 10)
        elapsed = time.perf_counter() - start
    await asyncio.wait_for(sio.disconnect(), 5)
    e2e = [
        (arrivals[(q, a)] - s) * 1000 for s, _d, q, a, _st in sent.values() if (q, a) in arrivals
    ]
    http = [(d - s) * 1000 for s, d, _q, _a, _st in sent.values()]
    cards = len({q for _s, _d, q, _a, _st in sent.values()})
    return {
        "rate_per_s": rate, "seconds": seconds, "messages": total, "accepted": len(sent),
        "errors": errors, "cards": cards, "host_events_matched": len(e2e),
        "missing_events": len(sent) - len(e2e), "wall_s": round(elapsed, 1),
        "e2e_ms": {p: round(pct(e2e, float(p[1:])), 1) for p in ("p50", "p90", "p99", "p99.9")}
        | {"max": round(max(e2e), 1) if e2e else None},
        "http_ms": {p: round(pct(http, float(p[1:])), 1) for p in ("p50", "p99")},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=18461)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", help="run the server under cProfile, write stats here")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="server (and its embedded Valkey) on CPU 0, load generator on CPU 1",
    )
    args = parser.parse_args()
    if args.rate * args.seconds > 20000:
        raise SystemExit("bounded: at most 20,000 messages per run")
    print(
        json.dumps(
            asyncio.run(run(args.rate, args.seconds, args.port, args.seed, args.profile, args.pin)),
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
