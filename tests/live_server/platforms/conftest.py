"""Platform fixtures: a platform secret for launch tokens, bound Douyin and generic rooms,
and pushes signed exactly as Douyin and a brand's bridge sign them."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from live_server.platforms.models import douyin_signature, sign_bridge
from live_server.settings import Settings
from tests.conftest import Api

PLATFORM_SECRET = "platform-launch-secret-for-the-suite-0123456789"
DOUYIN_SECRET = "douyin-push-secret-0123456789abcdef"
BRIDGE_SECRET = "bridge-secret-0123456789abcdef-xyz"
BRAND = "maixiang"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Launch tokens need LIVE_PLATFORM_SECRET; every live comment may ask (no per-asker cap
    getting in the way of counting tests)."""
    extra = {
        **settings.extra,
        "questions.author_rate": "1000/60",
        "questions.group_rate": "1000/60",
    }
    return settings.with_changes(platform_secret=PLATFORM_SECRET, extra=extra)


BoundRoom = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def douyin_room(api: Api, make_room: Callable[..., Awaitable[dict[str, Any]]]) -> BoundRoom:
    """A room (live by default) bound to a fresh Douyin room: {room_id, host_token,
    platform_room_id}."""

    async def make(live: bool = True, **extra: Any) -> dict[str, Any]:
        room = await make_room(live=live, brand=BRAND, **extra)
        prid = str(7_000_000_000_000 + secrets.randbelow(10**12))
        status, body = await api.put(
            f"/api/v1/rooms/{room['room_id']}/platforms/douyin", room["host_token"],
            json={"platform_room_id": prid, "app_id": "tt-demo", "secret": DOUYIN_SECRET},
        )  # fmt: skip
        assert status == 200, body
        return {**room, "platform_room_id": prid}

    return make


@pytest.fixture
def bridge_room(api: Api, make_room: Callable[..., Awaitable[dict[str, Any]]]) -> BoundRoom:
    async def make(live: bool = True, **extra: Any) -> dict[str, Any]:
        room = await make_room(live=live, brand=BRAND, **extra)
        status, body = await api.put(
            f"/api/v1/rooms/{room['room_id']}/platforms/generic", room["host_token"],
            json={"platform_room_id": "wx-" + room["room_id"], "secret": BRIDGE_SECRET},
        )  # fmt: skip
        assert status == 200, body
        return dict(room)

    return make


def comment(text: str, user: str | None = None, msg_id: str | None = None) -> dict[str, Any]:
    """One live_comment message in Douyin's documented shape."""
    return {
        "msg_id": msg_id or uuid.uuid4().hex, "sec_openid": user or "open_" + uuid.uuid4().hex[:12],
        "content": text, "avatar_url": "https://p3.douyinpic.com/aweme/100x100/a.jpeg",
        "nickname": "观众", "timestamp": int(time.time() * 1000),
    }  # fmt: skip


def like(n: int, msg_id: str | None = None) -> dict[str, Any]:
    return {
        "msg_id": msg_id or uuid.uuid4().hex, "sec_openid": "open_" + uuid.uuid4().hex[:12],
        "like_num": n, "avatar_url": "", "nickname": "点赞的人",
        "timestamp": int(time.time() * 1000),
    }  # fmt: skip


def gift(num: int, value: int, msg_id: str | None = None) -> dict[str, Any]:
    return {
        "msg_id": msg_id or uuid.uuid4().hex, "sec_openid": "open_" + uuid.uuid4().hex[:12],
        "sec_gift_id": "n1/Dg1905sj1FyoBlQBvmbaDZFBNaKuKZH6zxHkv8Lg5x2cRfrKUTb8gzMs=",
        "gift_num": num, "gift_value": value, "avatar_url": "", "nickname": "送礼的人",
        "timestamp": int(time.time() * 1000), "test": False,
    }  # fmt: skip


def douyin_headers(
    platform_room_id: str, msg_type: str, body: bytes, *, secret: str = DOUYIN_SECRET,
    timestamp_ms: int | None = None,
) -> dict[str, str]:  # fmt: skip
    signed = {
        "x-nonce-str": secrets.token_hex(8),
        "x-timestamp": str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms),
        "x-roomid": platform_room_id,
        "x-msg-type": msg_type,
    }
    return {**signed, "x-signature": douyin_signature(signed, body, secret),
            "content-type": "application/json"}  # fmt: skip


async def push(
    api: Api, room: dict[str, Any], msg_type: str, messages: list[dict[str, Any]], **kw: Any
) -> tuple[int, Any]:
    body = orjson.dumps(messages)
    headers = douyin_headers(room["platform_room_id"], msg_type, body, **kw)
    return await api.post("/api/v1/platforms/douyin/push", data=body, headers=headers)


async def bridge(
    api: Api, room_id: str, events: list[dict[str, Any]], *, secret: str = BRIDGE_SECRET,
    timestamp: int | None = None,
) -> tuple[int, Any]:  # fmt: skip
    body = orjson.dumps({"events": events})
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {"Content-Type": "application/json", "X-Timestamp": ts,
               "X-Signature": sign_bridge(secret, ts, body)}  # fmt: skip
    return await api.post(f"/api/v1/rooms/{room_id}/platform-events", data=body, headers=headers)


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "type": type_, "at": int(time.time() * 1000), **fields}


async def stats(api: Api, room: dict[str, Any]) -> dict[str, Any]:
    status, body = await api.get(f"/api/v1/rooms/{room['room_id']}/stats", room["host_token"])
    assert status == 200, body
    return dict(body["engagement"])
