"""``live-server platform replay FILE --room R [--rate N]``: send a recorded stream of
platform messages to a server, signed as the platform signs them, at a chosen rate.

A recording is JSON lines, one push per line, in the platform's documented shape::

    {"t": 0.8, "kind": "douyin", "msg_type": "live_comment", "messages": [{"msg_id": ...,
     "sec_openid": ..., "nickname": ..., "avatar_url": ..., "timestamp": ..., "content": ...}]}
    {"t": 30.0, "kind": "product_card", "product_id": "mooncake-box", "title": "流心月饼礼盒"}

``t`` is seconds from the start. ``douyin`` lines go to POST /api/v1/platforms/douyin/push
with the room's Douyin binding (x-signature); ``product_card`` lines (Douyin's data push has
no product cards: a brand's bridge reads them from the shop side) go to the room's generic
bridge as ``product_shown``. Secrets come from the room's bindings in Redis (the server's
data dir or --redis-url), or, with ``--demo``, from ``demo.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from live_server.core.commands import (
    command,
    common_options,
    data_dir_from,
    redis_for_cli,
    settings_from,
)
from live_server.platforms.models import douyin_signature, sign_bridge

DEMO_RECORDING = "fixtures/douyin_bakery.jsonl"


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to send: the server, the room's Douyin room id and the secrets."""

    url: str
    room_id: str
    douyin_room_id: str | None
    douyin_secret: str | None
    bridge_secret: str | None


def read_recording(path: Path | None) -> list[dict[str, Any]]:
    """The recording's pushes in order (the bundled demo recording when ``path`` is None)."""
    if path is None:
        text = resources.files("live_server.platforms").joinpath(DEMO_RECORDING).read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    lines = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    return sorted(lines, key=lambda line: float(line.get("t", 0)))


def douyin_request(
    douyin_room_id: str, secret: str, msg_type: str, messages: list[dict[str, Any]],
    now_ms: int,
) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    """One push as Douyin sends it: body and signed headers."""
    body = orjson.dumps(messages)
    signed = {"x-nonce-str": secrets.token_hex(8), "x-timestamp": str(now_ms),
              "x-roomid": douyin_room_id, "x-msg-type": msg_type}  # fmt: skip
    headers = {**signed, "x-signature": douyin_signature(signed, body, secret),
               "content-type": "application/json"}  # fmt: skip
    return body, headers


def bridge_request(secret: str, events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"events": events})
    ts = str(int(time.time()))
    return body, {"Content-Type": "application/json", "X-Timestamp": ts,
                  "X-Signature": sign_bridge(secret, ts, body)}  # fmt: skip


async def replay(
    target: Target, pushes: list[dict[str, Any]], *, rate: float = 0.0, id_suffix: str = "",
    out: Any = sys.stderr,
) -> dict[str, int]:  # fmt: skip
    """Send every push; ``rate`` messages a second (0: as recorded). Answers counts."""
    sent = {"pushes": 0, "messages": 0, "accepted": 0, "questions": 0, "failed": 0}
    started = time.monotonic()
    budget = 0.0  # seconds of sending the rate allows so far
    async with aiohttp.ClientSession() as http:
        for push in pushes:
            if rate > 0:
                await asyncio.sleep(max(0.0, started + budget - time.monotonic()))
            else:
                await asyncio.sleep(max(0.0, started + float(push.get("t", 0)) - time.monotonic()))
            kind = push.get("kind", "douyin")
            now = int(time.time() * 1000)
            if kind == "douyin":
                if not target.douyin_room_id or not target.douyin_secret:
                    continue
                messages = [{**m, "msg_id": f"{m['msg_id']}{id_suffix}", "timestamp": now}
                            for m in push["messages"]]  # fmt: skip
                body, headers = douyin_request(
                    target.douyin_room_id, target.douyin_secret, push["msg_type"], messages, now
                )
                url = f"{target.url}/api/v1/platforms/douyin/push"
                count = len(messages)
            elif kind == "product_card":
                if not target.bridge_secret:
                    continue
                event = {
                    "id": f"card-{push['t']}-{push['product_id']}{id_suffix}",
                    "type": "product_shown",
                    "at": now,
                    "product_id": push["product_id"],
                }
                body, headers = bridge_request(target.bridge_secret, [event])
                url = f"{target.url}/api/v1/rooms/{target.room_id}/platform-events"
                count = 1
            else:
                continue
            budget += count / rate if rate > 0 else 0
            async with http.post(url, data=body, headers=headers) as resp:
                answer = await resp.json(content_type=None)
                sent["pushes"] += 1
                sent["messages"] += count
                if resp.status == 200:
                    sent["accepted"] += int(answer.get("accepted", 0))
                    sent["questions"] += int(answer.get("questions", 0))
                else:
                    sent["failed"] += 1
                    print(f"replay: {resp.status} {answer.get('detail', '')}", file=out)
    return sent


# --- the demo recording ------------------------------------------------------------------

_QUESTIONS = [
    "流心月饼礼盒多少钱？", "月饼礼盒可以寄到外地吗？", "月饼是现做的吗？保质期多久？",
    "静安寺店周末几点开门？", "陆家嘴店可以预约烘焙课吗？", "烘焙课适合小朋友吗？",
    "欧包是无糖的吗？", "天然酵种欧包能放几天？", "定制蛋糕要提前几天订？",
    "会员有折扣吗？", "优惠券能在门店用吗？", "可以到店自提吗？", "有没有低糖的月饼？",
    "烘焙课一节多久？", "武林广场店有停车位吗？", "蛋糕可以写字吗？",
]  # fmt: skip
_VARIANTS = ["", "呀", "啊", "～", "？？", "，求回复"]
_CHATTER = ["666", "来了", "主播好", "哈哈哈", "好看", "想要", "冲冲冲", "👍👍👍", "打卡",
            "支持", "好香啊", "买买买", "来了来了", "太好看了"]  # fmt: skip
_NAMES = ["小王", "面包控", "吃货小李", "上海阿姨", "Lily", "烘焙新手", "甜品党", "路过的猫",
          "静安小张", "杭州吃货"]  # fmt: skip
_GIFTS = [("n1/Dg1905sj1FyoBlQBvmbaDZFBNaKuKZH6zxHkv8Lg5x2cRfrKUTb8gzMs=", 1),
          ("28rYzVFNyXEXFC8HI+f/WG+I7a6lfl3OyZZjUS+CVuwCgYZrPrUdytGHu0c=", 10),
          ("fJs8HKQ0xlPRixn8JAUiL2gFRiLD9S6IFCFdvZODSnhyo9YN8q7xUuVVyZI=", 99)]  # fmt: skip
_CARDS = ["mooncake-box", "sourdough", "baking-class", "cake-consult", "bread-tasting"]


def _message(rng: random.Random, t: float, **fields: Any) -> dict[str, Any]:
    user = rng.randrange(400)
    return {
        "msg_id": str(uuid.UUID(int=rng.getrandbits(128))), "sec_openid": f"demo-open-{user:04d}",
        "nickname": rng.choice(_NAMES), "avatar_url": f"https://p3.douyinpic.com/aweme/100x100/demo{user}.jpeg",
        "timestamp": int(t * 1000), **fields,
    }  # fmt: skip


def synthesize(
    seconds: float = 180, *, comments_per_s: float = 4.0, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """A recording of a bakery broadcast: comments (a quarter of them questions, often the
    same question worded a little differently), like bursts, gifts, fans-club joins and a
    product card every 30 s, one push a second per message type as Douyin batches them."""
    rng = random.Random(seed)
    for second in range(int(seconds)):
        t = float(second)
        if second % 30 == 0:
            yield {
                "t": t,
                "kind": "product_card",
                "product_id": _CARDS[(second // 30) % len(_CARDS)],
            }
        n = max(1, int(rng.gauss(comments_per_s, 1.5)))
        comments = []
        for _ in range(n):
            if rng.random() < 0.25:
                text = rng.choice(_QUESTIONS[: 4 + second // 15]) + rng.choice(_VARIANTS)
            else:
                text = rng.choice(_CHATTER)
            comments.append(_message(rng, t, content=text))
        yield {"t": t + 0.1, "kind": "douyin", "msg_type": "live_comment", "messages": comments}
        likes = [
            _message(rng, t, like_num=rng.randrange(1, 30)) for _ in range(rng.randrange(1, 6))
        ]
        yield {"t": t + 0.4, "kind": "douyin", "msg_type": "live_like", "messages": likes}
        if rng.random() < 0.3:
            gift_id, value = rng.choice(_GIFTS)
            gift = _message(
                rng, t, sec_gift_id=gift_id, gift_num=rng.randrange(1, 4), gift_value=value
            )
            yield {"t": t + 0.6, "kind": "douyin", "msg_type": "live_gift", "messages": [gift]}
        if rng.random() < 0.05:
            fan = _message(rng, t, fansclub_reason_type=1, fansclub_level=1)
            yield {"t": t + 0.8, "kind": "douyin", "msg_type": "live_fansclub", "messages": [fan]}


# --- the command ---------------------------------------------------------------------------


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="platform_command", required=True)
    r = sub.add_parser("replay", help="send a recorded platform stream to a room, signed")
    r.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="JSON lines recording (default: the bundled Douyin bakery recording)",
    )
    r.add_argument("--room", help="our room id (its platform bindings sign the pushes)")
    r.add_argument(
        "--rate", type=float, default=0.0, help="messages per second (default: as recorded)"
    )
    r.add_argument("--url", help="the server (default: LIVE_PUBLIC_URL or http://127.0.0.1:8080)")
    r.add_argument(
        "--demo",
        action="store_true",
        help="the demo room, secrets from <data-dir>/demo.json; waits for the server",
    )
    r.add_argument(
        "--fresh-ids",
        action="store_true",
        help="suffix every message id with this run's id (replaying again counts again)",
    )
    common_options(r)


async def _wait_ready(url: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} was not ready in {deadline_s:.0f} s")
            await asyncio.sleep(0.5)


def _demo_target(args: argparse.Namespace, url: str) -> Target:
    path = data_dir_from(args) / "demo.json"
    deadline = time.monotonic() + 120
    while True:  # make run starts this beside the server: wait for its demo seed
        if path.is_file():
            demo = json.loads(path.read_text(encoding="utf-8"))
            if "platforms" in demo:
                break
        if time.monotonic() > deadline:
            raise SystemExit(f"replay: no {path} with platform bindings (run serve --demo)")
        time.sleep(0.5)
    p = demo["platforms"]
    return Target(url=url, room_id=demo["room_id"], douyin_room_id=p["douyin_room_id"],
                  douyin_secret=p["douyin_secret"], bridge_secret=p["bridge_secret"])  # fmt: skip


def _bound_target(args: argparse.Namespace, url: str) -> Target:
    from live_server.core.redis_conn import connect_redis
    from live_server.platforms.store import PlatformStore

    async def read() -> Target:
        with redis_for_cli(settings_from(args), "platform replay", may_start=False) as settings:
            redis = connect_redis(settings)
            try:
                bindings = {b.platform.value: b for b in
                            await PlatformStore(redis).room_bindings(args.room)}  # fmt: skip
            finally:
                await redis.aclose()
        douyin, generic = bindings.get("douyin"), bindings.get("generic")
        if douyin is None and generic is None:
            raise SystemExit(f"replay: room {args.room!r} has no platform binding")
        return Target(
            url=url, room_id=args.room,
            douyin_room_id=douyin.platform_room_id if douyin else None,
            douyin_secret=douyin.secret if douyin else None,
            bridge_secret=generic.secret if generic else None,
        )  # fmt: skip

    return asyncio.run(read())


@command("platform", configure)
def run(args: argparse.Namespace) -> int:
    """``live-server platform replay``."""
    import os

    url = (args.url or os.environ.get("LIVE_PUBLIC_URL") or "http://127.0.0.1:8080").rstrip("/")
    if args.demo:
        target = _demo_target(args, url)
    elif not args.room:
        print("replay: --room is required (or --demo)", file=sys.stderr)
        return 2
    else:
        target = _bound_target(args, url)
    pushes = read_recording(args.file)
    suffix = "-" + secrets.token_hex(3) if args.fresh_ids else ""

    async def go() -> dict[str, int]:
        await _wait_ready(url, 120 if args.demo else 5)
        return await replay(target, pushes, rate=args.rate, id_suffix=suffix)

    sent = asyncio.run(go())
    print(json.dumps({"room": target.room_id, **sent}))
    return 0 if sent["failed"] == 0 else 1
