"""Benchmark: live-platform ingest beside the group webhook, in one run, one worker.

    python -m bench.platforms.run [--seconds 15] [--rate 1000] [--pin]

Starts ``live-server serve --demo`` (embedded Valkey, one worker) and measures:

1. **Push ingest**: closed loop, ``--concurrency`` senders posting signed Douyin pushes of
   ``--batch`` (50) messages for ``--seconds``: a storm's mix (per push type, as Douyin
   batches them): 50% comments (of which a fifth read as questions, most of them rewordings
   of common questions), 45% likes, 5% gifts. Messages/s accepted by the one worker.
2. **Group webhook**, the same way and length: one signed question per request (its
   contract), messages/s.
3. **Comment to host card**: open loop, ``--rate`` comments/s (pushes of 50 every 50 ms at
   1,000/s), a fifth question-like; latency = the card event on ``/host`` (matched by
   question id and askers from the push's answer) minus the push's *scheduled* send time.

Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import socketio

from bench.questions.bench_intake import children, cpu_seconds, make_text, pct, wait_for_demo
from live_server.platforms.models import douyin_signature, reads_as_question
from live_server.questions.models import sign

CHATTER = ["666", "来了", "主播好", "哈哈哈", "好看", "想要", "冲冲冲", "👍👍👍", "打卡", "支持"]


class Mix:
    """Messages in Douyin's shape: comments (a fifth questions), likes, gifts."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.i = 0

    def _base(self) -> dict[str, Any]:
        self.i += 1
        return {
            "msg_id": uuid.uuid4().hex, "sec_openid": f"bench-open-{self.i}", "nickname": "观众",
            "avatar_url": "", "timestamp": int(time.time() * 1000),
        }  # fmt: skip

    def comment(self, question_share: float = 0.2) -> dict[str, Any]:
        text = (
            make_text(self.rng, self.i) if self.rng.random() < question_share
            else self.rng.choice(CHATTER)
        )  # fmt: skip
        return {**self._base(), "content": text}

    def push(self, size: int) -> tuple[str, list[dict[str, Any]]]:
        r = self.rng.random()
        if r < 0.5:
            return "live_comment", [self.comment() for _ in range(size)]
        if r < 0.95:
            return "live_like", [{**self._base(), "like_num": self.rng.randrange(1, 20)}
                                 for _ in range(size)]  # fmt: skip
        return "live_gift", [{**self._base(), "sec_gift_id": "g1", "gift_num": 1, "gift_value": 10}
                             for _ in range(size)]  # fmt: skip


def signed_push(
    demo: dict[str, Any], msg_type: str, messages: list[dict[str, Any]]
) -> tuple[bytes, dict[str, str]]:
    p = demo["platforms"]
    body = orjson.dumps(messages)
    signed = {"x-nonce-str": secrets.token_hex(8), "x-timestamp": str(int(time.time() * 1000)),
              "x-roomid": p["douyin_room_id"], "x-msg-type": msg_type}  # fmt: skip
    return body, {**signed, "x-signature": douyin_signature(signed, body, p["douyin_secret"]),
                  "content-type": "application/json"}  # fmt: skip


async def push_throughput(
    demo: dict[str, Any], seconds: float, batch: int, concurrency: int, seed: int
) -> dict[str, Any]:
    base, mix = demo["base_url"], Mix(seed)
    accepted = requests = 0
    errors: dict[str, int] = {}
    lat: list[float] = []
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def sender() -> None:
            nonlocal accepted, requests
            while time.perf_counter() < deadline:
                body, headers = signed_push(demo, *mix.push(batch))
                t0 = time.perf_counter()
                async with http.post(f"{base}/api/v1/platforms/douyin/push", data=body,
                                     headers=headers) as resp:  # fmt: skip
                    answer = await resp.json(content_type=None)
                lat.append((time.perf_counter() - t0) * 1000)
                requests += 1
                if resp.status == 200:
                    accepted += answer["accepted"]
                else:
                    errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"messages_per_s": round(accepted / wall), "pushes_per_s": round(requests / wall),
            "batch": batch, "concurrency": concurrency, "errors": errors,
            "push_ms": {"p50": round(pct(lat, 50), 1), "p99": round(pct(lat, 99), 1)}}  # fmt: skip


async def webhook_throughput(
    demo: dict[str, Any], seconds: float, concurrency: int, seed: int
) -> dict[str, Any]:
    base, groups, rng = demo["base_url"], demo["groups"], random.Random(seed)
    accepted = 0
    errors: dict[str, int] = {}
    lat: list[float] = []
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def sender() -> None:
            nonlocal accepted
            while time.perf_counter() < deadline:
                i = next(counter)
                group = groups[i % len(groups)]
                body = orjson.dumps({
                    "message_id": uuid.uuid4().hex, "author_id": f"w{i}",
                    "text": make_text(rng, i), "sent_at": int(time.time()),
                })  # fmt: skip
                ts = str(int(time.time()))
                headers = {"Content-Type": "application/json", "X-Timestamp": ts,
                           "X-Signature": sign(group["secret"], ts, body)}  # fmt: skip
                t0 = time.perf_counter()
                async with http.post(f"{base}/api/v1/groups/{group['id']}/messages", data=body,
                                     headers=headers) as resp:  # fmt: skip
                    await resp.read()
                lat.append((time.perf_counter() - t0) * 1000)
                if resp.status == 200:
                    accepted += 1
                else:
                    errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {
        "messages_per_s": round(accepted / wall), "concurrency": concurrency, "errors": errors,
        "request_ms": {"p50": round(pct(lat, 50), 1), "p99": round(pct(lat, 99), 1)},
    }  # fmt: skip


async def comment_latency(
    demo: dict[str, Any], rate: float, seconds: float, batch: int, seed: int
) -> dict[str, Any]:
    base, mix = demo["base_url"], Mix(seed + 1)
    arrivals: dict[tuple[str, int], float] = {}
    sio = socketio.AsyncClient(reconnection=False)

    def on_card(data: dict[str, Any]) -> None:
        arrivals.setdefault((data["id"], data["askers"]), time.perf_counter())

    sio.on("question.new", on_card, namespace="/host")
    sio.on("question.updated", on_card, namespace="/host")
    await sio.connect(base, namespaces=["/host"], transports=["websocket"],
                      auth={"token": demo["host_token"]}, wait_timeout=10)  # fmt: skip
    expected: list[tuple[float, str, int]] = []
    errors: dict[str, int] = {}
    questions = comments = 0
    pushes = int(rate * seconds / batch)
    interval = batch / rate
    async with aiohttp.ClientSession() as http:

        async def send(scheduled: float) -> None:
            nonlocal questions, comments
            messages = [mix.comment() for _ in range(batch)]
            comments += len(messages)
            questions += sum(reads_as_question(m["content"]) for m in messages)
            body, headers = signed_push(demo, "live_comment", messages)
            async with http.post(f"{base}/api/v1/platforms/douyin/push", data=body,
                                 headers=headers) as resp:  # fmt: skip
                answer = await resp.json(content_type=None)
            if resp.status != 200:
                errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                return
            expected.extend((scheduled, c["question_id"], c["askers"]) for c in answer["cards"])

        start = time.perf_counter() + 0.3
        tasks = []
        for n in range(pushes):
            scheduled = start + n * interval
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            tasks.append(asyncio.create_task(send(scheduled)))
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline:  # the last card events may still be in flight
            if all((q, a) in arrivals for _s, q, a in expected):
                break
            await asyncio.sleep(0.05)
    await asyncio.wait_for(sio.disconnect(), 5)
    e2e = [(arrivals[(q, a)] - s) * 1000 for s, q, a in expected if (q, a) in arrivals]
    return {"comments_per_s": rate, "seconds": seconds, "comments": comments,
            "question_comments": questions, "cards_matched": len(e2e),
            "missing": len(expected) - len(e2e), "errors": errors,
            "comment_to_card_ms": {p: round(pct(e2e, float(p[1:])), 1)
                                   for p in ("p50", "p90", "p99")}
            | {"max": round(max(e2e), 1) if e2e else None}}  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-platforms-"))
    env = {**os.environ, "LIVE_LOG_LEVEL": "WARNING", "LIVE_Q_GROUP_RATE": "1000000/60",
           "LIVE_Q_AUTHOR_RATE": "1000/60", "LIVE_RATE_LIMITS": "0"}  # fmt: skip
    log_file = (data_dir / "server.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *(["taskset", "-c", "0"] if args.pin else []), sys.executable, "-m", "live_server.cli",
        "serve", "--demo", "--host", "127.0.0.1", "--port", str(args.port),
        "--data-dir", str(data_dir), env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        demo = await wait_for_demo(data_dir, proc)
        if args.pin:
            os.sched_setaffinity(0, {1})
        kids = children(proc.pid)
        out: dict[str, Any] = {"cpus": os.cpu_count(), "pinned": args.pin}
        for name, phase in (
            ("douyin_push", push_throughput(demo, args.seconds, args.batch, args.concurrency, 1)),
            ("group_webhook", webhook_throughput(demo, args.seconds, args.concurrency, 2)),
            ("comment_to_card", comment_latency(demo, args.rate, args.seconds, args.batch, 3)),
        ):
            cpu0, kid0 = cpu_seconds(proc.pid), sum(cpu_seconds(k) for k in kids)
            result = await phase
            result["server_cpu_s"] = round(cpu_seconds(proc.pid) - cpu0, 2)
            result["valkey_cpu_s"] = round(sum(cpu_seconds(k) for k in kids) - kid0, 2)
            out[name] = result
            print(f"{name}: {result}", file=sys.stderr)
        return out
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=1000, help="comments/s for the latency phase")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=18471)
    parser.add_argument("--pin", action="store_true", help="server on CPU 0, load on CPU 1")
    args = parser.parse_args()
    print(orjson.dumps(asyncio.run(run(args)), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
