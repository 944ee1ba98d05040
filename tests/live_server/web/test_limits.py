"""Per-viewer and per-IP rate limits on flash-crowd routes: 429 + Retry-After, no effect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.settings import Settings
from tests.conftest import Api


@pytest.fixture
async def strict_api(settings: Settings) -> AsyncIterator[Api]:
    """The app with per-IP limits on for 127.0.0.1 too."""
    server = TestServer(create_app(settings.with_changes(rate_limit_exempt=())), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Api(str(server.make_url("")).rstrip("/"), session)
    await server.close()


async def test_question_flood_from_one_viewer_is_429(
    api: Api, make_room: Any, make_viewer: Any
) -> None:
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    statuses = []
    for i in range(8):
        status, _ = await api.post(
            f"/api/v1/rooms/{room['room_id']}/questions", viewer["token"],
            json={"text": f"第{i}个问题：这个蛋糕可以提前几天预订 number {i}?"},
        )  # fmt: skip
        statuses.append(status)
    assert statuses.count(429) >= 3, statuses
    assert all(s in (200, 201, 202) for s in statuses[:5]), statuses
    other = await make_viewer(room["room_id"])
    status, _ = await api.post(
        f"/api/v1/rooms/{room['room_id']}/questions",
        other["token"],
        json={"text": "别人的问题可以吗?"},
    )
    assert status != 429  # the limit is per viewer


async def test_per_ip_limit_and_retry_after(strict_api: Api, ops_token: str) -> None:
    status, room = await strict_api.post("/api/v1/rooms", ops_token, json={"title": "limits"})
    assert status == 201
    last: tuple[int, Any] = (0, None)
    # Fixed 60 s windows: a run that straddles a window boundary needs up to 2 x 600 + 1.
    for _ in range(1201):
        last = await strict_api.post(f"/api/v1/rooms/{room['room_id']}/viewers", json={})
        if last[0] == 429:
            break
    status, body = last
    assert status == 429, "600 viewers per minute per IP should be the limit"
    assert body["type"].endswith("/rate-limited") and "retry in" in body["detail"]
