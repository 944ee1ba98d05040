"""500 viewers tap one slot of capacity 20 at once, over real HTTP: exactly 20 bookings."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import redis as sync_redis

from live_server.core import keys
from live_server.store_streams.events import decode_entry

from .booking_helpers import make_store, tomorrow_slots

VIEWERS, CAPACITY = 500, 20


async def test_500_viewers_one_slot_of_20(
    api: Any,
    base_url: str,
    ops_token: str,
    make_room: Any,
    signer: Any,
    clean_redis: sync_redis.Redis,
) -> None:
    from live_server.core.tokens import Role

    await make_store(api, ops_token, capacity=CAPACITY)
    room = await make_room()
    slot = (await tomorrow_slots(api))[10]["start"]
    # Viewer tokens signed directly: 500 identities without 500 setup requests.
    tokens = [signer.issue(Role.VIEWER, room["room_id"], f"v_load{i:04d}") for i in range(VIEWERS)]
    body = {"store_id": "t1", "slot": slot, "service": "cake-consult"}
    url = f"{base_url}/api/v1/rooms/{room['room_id']}/bookings"
    start = asyncio.Event()

    async def tap(session: aiohttp.ClientSession, token: str, n: int) -> tuple[int, dict[str, Any]]:
        await start.wait()
        async with session.post(
            url, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k{n}"}
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    connector = aiohttp.TCPConnector(limit=VIEWERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(tap(session, t, n)) for n, t in enumerate(tokens)]
        start.set()
        results = await asyncio.gather(*tasks)

    statuses = Counter(status for status, _ in results)
    assert statuses == {201: CAPACITY, 409: VIEWERS - CAPACITY}, (
        statuses,
        [p for s, p in results if s not in (201, 409)][:2],
    )
    for status, problem in results:
        if status == 409:
            assert problem["type"].endswith("slot-full") and "taken" in problem["detail"]
    booked = {b["id"]: b for s, b in results if s == 201}
    assert len(booked) == CAPACITY and len({b["viewer_id"] for b in booked.values()}) == CAPACITY

    entries = [decode_entry(i, f) for i, f in clean_redis.xrange(keys.store_stream("t1"))]
    tasks = [e for e in entries if e["type"] == "task.assigned"]
    entries = [e for e in entries if e["type"] != "task.assigned"]
    assert [e["type"] for e in entries] == ["booking.created"] * CAPACITY
    assert {t["booking_id"] for t in tasks} == set(booked)  # one task per booking, no more
    assert {e["booking_id"] for e in entries} == set(booked)  # every booking has its event
    day = slot[:10]
    assert (
        int(
            clean_redis.hget(
                keys.store_slot_seats("t1", day),
                str(int(__import__("datetime").datetime.fromisoformat(slot).timestamp())),
            )
        )
        == CAPACITY
    )
    remaining = next(s for s in await tomorrow_slots(api) if s["start"] == slot)["remaining"]
    assert remaining == 0
    stats = clean_redis.hget(keys.room_stats(room["room_id"]), "total:bookings")
    assert int(stats) == CAPACITY
