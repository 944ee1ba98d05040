"""A booking's task and its timers survive a crash: ``kill -9`` the whole server (its
embedded Valkey too, AOF ``always``) right after a booking, before the task's accept
window closes; after ``serve`` again on the same data, the task is there and the accept
timer fires, once: the task moves to the other guide."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import redis as sync_redis

from live_server.core import keys
from live_server.store_streams.events import decode_entry

from .harness import ROOM, ServerProcess

pytestmark = pytest.mark.slow
ACCEPT_S = 4


async def _json(resp: aiohttp.ClientResponse, status: int) -> Any:
    body = await resp.json(content_type=None)
    assert resp.status == status, body
    return body


@pytest.mark.timeout(120)
async def test_task_and_its_timer_survive_kill_9(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path, workers=1,
        env={"LIVE_TASK_ACCEPT_S": str(ACCEPT_S), "LIVE_TASK_TIMER_POLL_S": "0.2"},
    )  # fmt: skip
    await asyncio.to_thread(server.start)
    try:
        demo = server.demo()
        store = demo["stores"][0]["id"]
        ops = {"Authorization": f"Bearer {demo['ops_token']}"}
        day = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)).isoformat()
        async with aiohttp.ClientSession() as http:
            roster = [{"id": "g_a", "name": "A"}, {"id": "g_b", "name": "B"}]
            async with http.put(
                f"{server.base}/api/v1/stores/{store}/guides", headers=ops, json=roster
            ) as resp:
                await _json(resp, 200)
            async with http.get(f"{server.base}/api/v1/stores/{store}/slots?date={day}") as resp:
                slot = (await _json(resp, 200))["slots"][5]["start"]
            async with http.post(f"{server.base}/api/v1/rooms/{ROOM}/viewers", json={}) as resp:
                viewer = await _json(resp, 201)
            async with http.post(
                f"{server.base}/api/v1/rooms/{ROOM}/bookings",
                headers={"Authorization": f"Bearer {viewer['token']}"},
                json={"store_id": store, "slot": slot, "service": "cake-consult"},
            ) as resp:  # fmt: skip
                booking = await _json(resp, 201)
            async with http.get(
                f"{server.base}/api/v1/tasks/t_{booking['id']}", headers=ops
            ) as resp:
                first = await _json(resp, 200)
        assert first["guide_id"] == "g_a" and first["status"] == "assigned"
        # crash before the accept window closes
        await asyncio.to_thread(server.kill_everything)
        await asyncio.to_thread(server.start)
        task_url = f"{server.base}/api/v1/tasks/t_{booking['id']}"
        deadline = asyncio.get_running_loop().time() + 30
        async with aiohttp.ClientSession() as http:
            while True:
                async with http.get(task_url, headers=ops) as resp:
                    task = await _json(resp, 200)
                if task["reassigned"] >= 1:
                    break
                assert asyncio.get_running_loop().time() < deadline, task
                await asyncio.sleep(0.2)  # polling interval, with a deadline
        # another guide has it now (the demo's restart may have put its own roster back)
        assert task["guide_id"] not in ("g_a", None) and task["status"] == "assigned"
        r = sync_redis.Redis.from_url(server.redis_url())
        try:
            entries = [decode_entry(i, f) for i, f in r.xrange(keys.store_stream(store))]
        finally:
            r.close()
        mine = [e for e in entries if e.get("booking_id") == booking["id"]]
        assert [e["type"] for e in mine][:2] == ["booking.created", "task.assigned"]
        moves = [e for e in mine if e.get("reason") == "not_accepted"]
        assert len(moves) == 1, mine  # fired once
    finally:
        await asyncio.to_thread(server.stop)
