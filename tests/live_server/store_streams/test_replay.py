"""/store: scope, live entries with ids, acks, replay on reconnect, and the replay/live
hand-off under concurrent writes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from live_server.core import keys
from live_server.store_streams.ids import StreamId

from ..bookings.booking_helpers import make_store, tomorrow_slots
from .conftest import Append

STORE_EVENTS = ("booking.created", "booking.cancelled", "booking.arrived", "coupon.redeemed")


def stream_events(log: Any) -> list[dict[str, Any]]:
    return [d for n, d in log.events if n in STORE_EVENTS]


async def test_staff_sees_only_their_store(
    sio_client: Any, staff_token: Any, append: Append
) -> None:
    _, log_a = await sio_client("/store", staff_token("s_a"))
    _, log_b = await sio_client("/store", staff_token("s_b"))
    await log_a.wait_for("store.synced")
    await log_b.wait_for("store.synced")
    id_b = await append("s_b", 1)
    id_a = await append("s_a", 2)
    got_a = await log_a.wait_for("booking.created")
    got_b = await log_b.wait_for("booking.created")
    assert [e["id"] for e in got_a] == [id_a]
    assert [e["id"] for e in got_b] == [id_b]
    assert got_a[0]["store_id"] == "s_a" and got_a[0]["v"] == 1 and got_a[0]["ts"] > 0
    # a third entry for b proves a's feed had its chance to (wrongly) show b's entries
    await append("s_a", 3)
    await log_a.wait_for("booking.created", count=2)
    assert all(e["store_id"] == "s_a" for e in stream_events(log_a))


async def test_other_tokens_are_refused(sio_client: Any, signer: Any, ops_token: str) -> None:
    from live_server.core.tokens import Role

    viewer = signer.issue(Role.VIEWER, "r_x", "v_1")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio_client("/store", viewer)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio_client("/store", "lc1.forged.token")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio_client("/store", ops_token)  # ops must name the store
    _, log = await sio_client("/store", ops_token, store="s_a")
    await log.wait_for("store.synced")


async def test_invalid_last_id_is_refused(sio_client: Any, staff_token: Any) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio_client("/store", staff_token("s_a"), last_id="yesterday")


async def test_disconnect_50_bookings_reconnect_exactly_those_in_order_then_live(
    api: Any, ops_token: str, make_room: Any, make_viewer: Any, sio_client: Any,
    staff_token: Any, clean_redis: Any,
) -> None:  # fmt: skip
    """Bookings made through the bookings API while the dashboard is away come back,
    exactly, in order, before the live ones."""
    await make_store(api, ops_token, "t1", capacity=60)
    slot = (await tomorrow_slots(api, "t1"))[0]["start"]
    room = await make_room()
    viewers = [await make_viewer(room["room_id"], f"ext-{n}") for n in range(52)]

    async def book(n: int) -> str:
        status, booking = await api.post(
            f"/api/v1/rooms/{room['room_id']}/bookings", viewers[n]["token"],
            json={"store_id": "t1", "slot": slot, "service": "cake-consult"},
            headers={"Idempotency-Key": f"k-{n}"},
        )  # fmt: skip
        assert status == 201, booking
        return str(booking["id"])

    token = staff_token("t1")
    client, log = await sio_client("/store", token)
    await log.wait_for("store.synced")
    await book(0)
    [event] = await log.wait_for("booking.created")
    assert await client.call("ack", {"id": event["id"]}, namespace="/store") == {
        "acked": event["id"]
    }
    assert clean_redis.hget(keys.store_acked("t1"), _token_id(token)) == event["id"].encode()
    await client.disconnect()

    missed = [await book(n) for n in range(1, 51)]

    # no last_id: resumes after the last id acked with this token
    _, log2 = await sio_client("/store", token)
    [synced] = await log2.wait_for("store.synced")
    replayed = stream_events(log2)
    assert [e["booking_id"] for e in replayed] == missed
    ids = [e["id"] for e in replayed]
    assert ids == sorted(ids, key=StreamId.parse) and len(set(ids)) == 50
    # each booking is followed by its guide task's task.assigned: the first booking's task
    # (after the acked id) and the 50 missed bookings with theirs, 101 entries replayed
    assert synced == {"last_id": synced["last_id"], "replayed": 101, "ts": synced["ts"]}
    assert StreamId.parse(synced["last_id"]) > StreamId.parse(ids[-1])
    live = await book(51)
    await log2.wait_for("booking.created", count=51)
    assert [e["booking_id"] for e in stream_events(log2)] == [*missed, live]
    # the synced marker comes after the replay and before the live entry
    names = [n for n, _ in log2.events]
    assert names.index("store.synced") == 101


async def test_explicit_last_id_wins_over_the_ack(
    sio_client: Any, staff_token: Any, append: Append
) -> None:
    ids = [await append("s_a", n) for n in range(5)]
    _, log = await sio_client("/store", staff_token("s_a"), last_id=ids[1])
    await log.wait_for("store.synced")
    assert [e["id"] for e in stream_events(log)] == ids[2:]
    _, log0 = await sio_client("/store", staff_token("s_a"), last_id="0")
    await log0.wait_for("store.synced")
    assert [e["id"] for e in stream_events(log0)] == ids


async def test_first_connection_without_ack_starts_live(
    sio_client: Any, staff_token: Any, append: Append
) -> None:
    await append("s_a", 0)
    _, log = await sio_client("/store", staff_token("s_a"))
    [synced] = await log.wait_for("store.synced")
    assert synced["replayed"] == 0
    new = await append("s_a", 1)
    [event] = await log.wait_for("booking.created")
    assert event["id"] == new


async def test_acks_are_monotonic_and_bounded(
    sio_client: Any, staff_token: Any, append: Append, clean_redis: Any
) -> None:
    token = staff_token("s_a")
    ids = [await append("s_a", n) for n in range(3)]
    client, log = await sio_client("/store", token, last_id="0")
    await log.wait_for("booking.created", count=3)
    assert await client.call("ack", {"id": ids[2]}, namespace="/store") == {"acked": ids[2]}
    assert await client.call("ack", ids[0], namespace="/store") == {"acked": ids[2]}
    future = str(StreamId.parse(ids[2]).next())
    reply = await client.call("ack", {"id": future}, namespace="/store")
    assert "error" in reply
    reply = await client.call("ack", {"id": "nope"}, namespace="/store")
    assert "error" in reply
    assert clean_redis.hget(keys.store_acked("s_a"), _token_id(token)) == ids[2].encode()


async def test_handoff_under_concurrent_writes_nothing_missed_nothing_twice(
    sio_client: Any, staff_token: Any, append: Append
) -> None:
    """Clients connect (replaying from 0) while a writer appends: each one sees every
    entry exactly once, in order."""
    total = 400
    written: list[str] = []
    progress = asyncio.Event()

    async def writer() -> None:
        for n in range(total):
            written.append(await append("s_a", n))
            progress.set()
            # paced, so the connections below land while entries keep arriving
            await asyncio.sleep(0.002)

    task = asyncio.create_task(writer())
    logs = []
    for _ in range(6):
        while len(written) < len(logs) * 50 + 10 and not task.done():
            progress.clear()  # let the writer get ahead: connect mid-stream
            await progress.wait()
        assert not task.done(), "the writer finished before every client connected"
        _, log = await sio_client("/store", staff_token("s_a"), last_id="0")
        logs.append(log)
    await task
    assert len(logs) == 6 and len(written) == total
    for log in logs:
        await log.wait_for("booking.created", count=total, timeout=20)
        ids = [e["id"] for e in stream_events(log)]
        assert ids == written


def _token_id(token: str) -> str:
    import base64

    import orjson

    payload = token.split(".")[1]
    return str(orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["j"])
