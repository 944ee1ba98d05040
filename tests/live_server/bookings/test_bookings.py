"""Bookings over real HTTP: slots, book, idempotency, errors, lookup, cancel, events."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis as sync_redis

from live_server.bookings.models import Booking, confirmed_booking
from live_server.core import keys
from live_server.store_streams.events import decode_entry

from .booking_helpers import make_store, tomorrow_slots


def stream(r: sync_redis.Redis, store_id: str) -> list[dict[str, Any]]:
    """The store stream's booking entries (each booking.created is followed by its guide
    task's task.assigned: tests/live_server/guides hold those)."""
    return [
        e
        for e in (decode_entry(i, f) for i, f in r.xrange(keys.store_stream(store_id)))
        if e["type"].startswith("booking.")
    ]


async def test_slots_of_a_day(api: Any, ops_token: str) -> None:
    await make_store(api, ops_token, capacity=3)
    slots = await tomorrow_slots(api)
    assert len(slots) == 47  # 00:00 .. 23:00 start, the 23:30 one would end after 23:59
    first = slots[0]
    assert first["start"].endswith("T00:00:00+08:00") and first["end"].endswith("T00:30:00+08:00")
    assert first["capacity"] == first["remaining"] == 3
    today = datetime.now(ZoneInfo("Asia/Shanghai"))
    status, body = await api.get(f"/api/v1/stores/t1/slots?date={today.date().isoformat()}")
    assert status == 200
    assert all(datetime.fromisoformat(s["start"]) > today for s in body["slots"])  # none past
    status, body = await api.get("/api/v1/stores/t1/slots?date=2001-01-01")
    assert status == 200 and body["slots"] == []
    # no day has slots further ahead than a booking may be made (90 days), nor before 1970
    for day in ("0001-01-01", "9999-12-31", (today + timedelta(days=120)).date().isoformat()):
        status, body = await api.get(f"/api/v1/stores/t1/slots?date={day}")
        assert status == 200 and body["slots"] == [], (day, body)
    edge = (today + timedelta(days=90)).date().isoformat()
    status, body = await api.get(f"/api/v1/stores/t1/slots?date={edge}")
    limit = today + timedelta(days=90)
    assert body["slots"] and all(datetime.fromisoformat(s["start"]) <= limit for s in body["slots"])
    assert (await api.get("/api/v1/stores/t1/slots?date=tomorrow"))[0] == 400
    assert (await api.get("/api/v1/stores/nope/slots"))[0] == 404
    await make_store(api, ops_token, capacity=3, status="closed")
    assert await tomorrow_slots(api) == []


async def test_book_read_cancel(
    api: Any, ops_token: str, make_room: Any, make_viewer: Any, staff_token: Any,
    sio_client: Any, clean_redis: sync_redis.Redis,
) -> None:  # fmt: skip
    await make_store(api, ops_token, capacity=2)
    room = await make_room()
    viewer = await make_viewer(room["room_id"], external_id="+86 138 0000 0000")
    _, host_log = await sio_client("/host", room["host_token"])
    slot = (await tomorrow_slots(api))[20]
    body = {
        "store_id": "t1",
        "slot": slot["start"],
        "service": "cake-consult",
        "contact": "138 0000 0000",
    }
    path = f"/api/v1/rooms/{room['room_id']}/bookings"

    status, booking = await api.post(
        path, viewer["token"], json=body, headers={"Idempotency-Key": "tap-1"}
    )
    assert status == 201, booking
    assert booking["id"].startswith("b_t1_")
    assert booking["status"] == "confirmed" and booking["slot"] == slot["start"]
    assert {booking["room_id"], booking["store_id"], booking["viewer_id"]} == {
        room["room_id"],
        "t1",
        viewer["viewer_id"],
    }
    assert booking["service_name"].startswith("定制蛋糕咨询")

    # The retried tap answers the first result, byte for byte; no second seat, no second event.
    again = await api.post(path, viewer["token"], json=body, headers={"Idempotency-Key": "tap-1"})
    assert again == (201, booking)
    reused = await api.post(
        path,
        viewer["token"],
        json={**body, "service": "baking-class"},
        headers={"Idempotency-Key": "tap-1"},
    )
    assert reused[0] == 422
    # Without the key, the same viewer cannot hold a second booking of the slot.
    status, problem = await api.post(path, viewer["token"], json=body)
    assert status == 409 and problem["type"].endswith("already-booked")

    remaining = next(s for s in await tomorrow_slots(api) if s["start"] == slot["start"])[
        "remaining"
    ]
    assert remaining == 1

    entries = stream(clean_redis, "t1")
    assert [e["type"] for e in entries] == ["booking.created"]
    created = entries[0]
    assert created["id"] and created["booking_id"] == booking["id"]
    assert created["room"]["id"] == room["room_id"]
    assert created["customer"]["viewer_id"] == viewer["viewer_id"]
    assert created["customer"]["earlier_bookings"] == 0 and created["coupon"] is None

    [host_event] = await host_log.wait_for("booking.created")
    assert host_event["id"] == booking["id"] and "ts" in host_event and host_event["remaining"] == 1
    counts = await host_log.wait_for("booking.count")
    assert counts[-1]["bookings"] == 1

    stats = {
        k.decode(): int(v) for k, v in clean_redis.hgetall(keys.room_stats(room["room_id"])).items()
    }
    assert stats["total:bookings"] == 1 and stats["t1:bookings"] == 1
    assert clean_redis.sismember(keys.customer_booked_stores(viewer["viewer_id"]), "t1")
    # Nothing is kept forever: the booking 30 days after its slot, the day's seat and holder
    # hashes at least as long as any booking of the day.
    day = slot["start"][:10]
    booking_ends = clean_redis.expiretime(keys.store_booking("t1", booking["id"]))
    slot_start = datetime.fromisoformat(slot["start"]).timestamp()
    assert booking_ends == int(slot_start) + 86400 + keys.BOOKING_RETENTION_S
    for day_key in (keys.store_slot_seats("t1", day), keys.store_slot_holders("t1", day)):
        assert clean_redis.expiretime(day_key) >= booking_ends

    # Lookup: owner, the store's staff, ops; nobody else.
    for token in (viewer["token"], staff_token("t1"), ops_token):
        status, seen = await api.get(f"/api/v1/bookings/{booking['id']}", token)
        assert status == 200 and seen == booking
    other = await make_viewer(room["room_id"])
    assert (await api.get(f"/api/v1/bookings/{booking['id']}", other["token"]))[0] == 404
    assert (await api.get(f"/api/v1/bookings/{booking['id']}", staff_token("sh-jingan")))[0] == 404
    assert (await api.get("/api/v1/bookings/b_t1_0000000000", viewer["token"]))[0] == 404
    assert (await api.get("/api/v1/bookings/nonsense", viewer["token"]))[0] == 404

    # Cancel: only the owner; frees the seat; booking.cancelled joins the stream once.
    assert (await api.delete(f"/api/v1/bookings/{booking['id']}", other["token"]))[0] == 404
    status, cancelled = await api.delete(f"/api/v1/bookings/{booking['id']}", viewer["token"])
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
    assert (await api.delete(f"/api/v1/bookings/{booking['id']}", viewer["token"]))[0] == 200
    assert [e["type"] for e in stream(clean_redis, "t1")] == [
        "booking.created",
        "booking.cancelled",
    ]
    remaining = next(s for s in await tomorrow_slots(api) if s["start"] == slot["start"])[
        "remaining"
    ]
    assert remaining == 2
    stats = {
        k.decode(): int(v) for k, v in clean_redis.hgetall(keys.room_stats(room["room_id"])).items()
    }
    assert stats["total:cancellations"] == 1
    assert not clean_redis.sismember(keys.customer_booked_stores(viewer["viewer_id"]), "t1")

    # The same customer (OneID) books again in another room: context carries the history.
    room2 = await make_room(title="Second room")
    again_viewer = await make_viewer(room2["room_id"], external_id="+86 138 0000 0000")
    assert again_viewer["viewer_id"] == viewer["viewer_id"]
    status, second = await api.post(
        f"/api/v1/rooms/{room2['room_id']}/bookings", again_viewer["token"], json=body
    )
    assert status == 201, second
    latest = stream(clean_redis, "t1")[-1]
    assert latest["type"] == "booking.created"
    assert latest["customer"]["earlier_bookings"] == 1 and latest["customer"]["cancellations"] == 1
    assert latest["customer"]["returning"] is True and latest["customer"]["visits"] == 0
    assert latest["customer"]["viewer_id"] == viewer["viewer_id"]
    assert isinstance(latest["customer"]["since"], str) and latest["customer"]["since"]
    assert created["customer"]["returning"] is False


async def test_booking_refusals(
    api: Any, ops_token: str, make_room: Any, make_viewer: Any, clean_redis: sync_redis.Redis
) -> None:
    await make_store(api, ops_token, capacity=1)
    room = await make_room()
    path = f"/api/v1/rooms/{room['room_id']}/bookings"
    viewer = await make_viewer(room["room_id"])
    slots = await tomorrow_slots(api)
    ok = {"store_id": "t1", "slot": slots[5]["start"], "service": "baking-class"}

    async def refused(
        body: dict[str, Any], token: str = viewer["token"], room_path: str = path
    ) -> tuple[int, str]:
        status, problem = await api.post(room_path, token, json=body)
        assert problem["detail"], problem
        return status, problem["type"].rsplit("/", 1)[-1]

    assert await refused({**ok, "store_id": "nope"}) == (404, "store-not-found")
    start = datetime.fromisoformat(slots[5]["start"])
    assert await refused({**ok, "slot": (start + timedelta(minutes=7)).isoformat()}) == (
        400,
        "not-a-slot",
    )
    assert await refused({**ok, "slot": "not a time"}) == (400, "not-a-slot")
    assert await refused({**ok, "slot": "2030-01-01T10:00:00"}) == (400, "not-a-slot")  # no offset
    past = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(hours=3)).replace(
        minute=0, second=0, microsecond=0
    )
    assert await refused({**ok, "slot": past.isoformat()}) == (400, "slot-in-past")
    assert await refused({**ok, "service": "tire-change"}) == (400, "service-not-offered")
    assert await refused({**ok, "contact": "<script>"}) == (400, "validation")
    # A featured product can be booked at any store (pick it up, try it).
    status, product = await api.post(path, viewer["token"], json={**ok, "service": "mooncake-box"})
    assert status == 201 and product["service_name"].startswith("流心月饼礼盒")
    # unix seconds name the same slot; the only seat is now gone
    other = await make_viewer(room["room_id"])
    assert await refused({**ok, "slot": int(start.timestamp())}, other["token"]) == (
        409,
        "slot-full",
    )
    status, _ = await api.post(
        path, viewer["token"], json=ok, headers={"Idempotency-Key": "bad key!"}
    )
    assert status == 400

    scheduled = await make_room(live=False)
    v2 = await make_viewer(scheduled["room_id"])
    assert await refused(
        {**ok, "slot": slots[6]["start"]},
        v2["token"],
        f"/api/v1/rooms/{scheduled['room_id']}/bookings",
    ) == (409, "room-not-live")
    tapped = {**ok, "slot": slots[8]["start"]}
    status, first = await api.post(
        path, viewer["token"], json=tapped, headers={"Idempotency-Key": "tap-end"}
    )
    assert status == 201
    assert (await api.post(f"/api/v1/rooms/{room['room_id']}/end", room["host_token"]))[0] == 200
    assert await refused({**ok, "slot": slots[6]["start"]}) == (410, "room-ended")
    # The tap retried after the room ended still gets its first answer; the key on another
    # request is still refused, and a new key meets the ended room.
    again = await api.post(
        path, viewer["token"], json=tapped, headers={"Idempotency-Key": "tap-end"}
    )
    assert again == (201, first)
    changed = {**tapped, "service": "cake-consult"}
    assert (
        await api.post(path, viewer["token"], json=changed, headers={"Idempotency-Key": "tap-end"})
    )[0] == 422
    assert (
        await api.post(path, viewer["token"], json=tapped, headers={"Idempotency-Key": "tap-new"})
    )[0] == 410
    # another room's viewer token is refused (scope)
    assert (
        await api.post(f"/api/v1/rooms/{scheduled['room_id']}/bookings", viewer["token"], json=ok)
    )[0] == 403
    await make_store(api, ops_token, capacity=1, status="closed")
    live = await make_room()
    v3 = await make_viewer(live["room_id"])
    assert await refused(
        {**ok, "slot": slots[7]["start"]}, v3["token"], f"/api/v1/rooms/{live['room_id']}/bookings"
    ) == (409, "store-closed")
    # Every refusal changed nothing: two bookings (the product, the tap), two events.
    assert len(stream(clean_redis, "t1")) == 2


async def test_a_booking_flood_from_one_viewer_is_429_and_books_nothing_more(
    api: Any, ops_token: str, make_room: Any, make_viewer: Any, clean_redis: sync_redis.Redis
) -> None:
    await make_store(api, ops_token, capacity=50)
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    slots = await tomorrow_slots(api)
    path = f"/api/v1/rooms/{room['room_id']}/bookings"
    statuses: list[int] = []
    last: Any = None
    # 10 per 60 s fixed window, every attempt counts; a run straddling a window edge may
    # get up to 2 x 10 through before the first 429.
    for i in range(21):
        body = {"store_id": "t1", "slot": slots[i]["start"], "service": "cake-consult"}
        status, last = await api.post(path, viewer["token"], json=body)
        statuses.append(status)
        if status == 429:
            break
    assert statuses[-1] == 429 and 10 <= statuses.count(201) <= 20, statuses
    assert last["type"].endswith("/rate-limited") and "retry in" in last["detail"], last
    # The refused tap changed nothing: as many bookings and events as 201s.
    assert len(stream(clean_redis, "t1")) == statuses.count(201)
    other = await make_viewer(room["room_id"])
    body = {"store_id": "t1", "slot": slots[0]["start"], "service": "cake-consult"}
    assert (await api.post(path, other["token"], json=body))[0] == 201  # per viewer only


def test_the_fast_booking_record_is_what_pydantic_would_dump() -> None:
    # The booking hot path builds the 201 body without a validation pass; it must stay
    # byte for byte what Booking itself serialises (keys, order, nulls).
    values = dict(
        id="b_s1_0a1b2c3d4e", room_id="r_1", store_id="s1", slot="2026-12-02T10:00:00+08:00",
        slot_end="2026-12-02T10:30:00+08:00", service="cake", service_name="Cake 蛋糕",
        viewer_id="v_1", created_at="2026-12-01T09:00:00.000+08:00",
    )  # fmt: skip
    for contact in (None, "+86 138 0000 0000"):
        record = confirmed_booking(**values, contact=contact)
        model = Booking(**values, contact=contact, status="confirmed")
        assert record == model.model_dump()
        assert list(record) == list(model.model_dump())
        assert orjson.dumps(record) == model.model_dump_json().encode()


async def test_a_room_changed_behind_the_worker_is_seen_by_the_next_booking(
    api: Any, ops_token: str, make_room: Any, make_viewer: Any, clean_redis: sync_redis.Redis
) -> None:
    """On one node a worker keeps the room's featured list and title for its bookings;
    the booking script checks them against the room, so a change is never missed."""
    import msgpack

    await make_store(api, ops_token, capacity=5)
    room = await make_room()
    path = f"/api/v1/rooms/{room['room_id']}/bookings"
    slots = await tomorrow_slots(api)
    body = {"store_id": "t1", "slot": slots[3]["start"], "service": "mooncake-box"}
    status, first = await api.post(path, (await make_viewer(room["room_id"]))["token"], json=body)
    assert status == 201 and first["service_name"].startswith("流心月饼礼盒")
    featured = msgpack.unpackb(clean_redis.hget(keys.room(room["room_id"]), "featured"))
    for item in featured:
        if item["id"] == "mooncake-box":
            item["name"] = "Renamed box"
    clean_redis.hset(
        keys.room(room["room_id"]),
        mapping={"featured": msgpack.packb(featured), "title": "New title"},
    )
    status, second = await api.post(path, (await make_viewer(room["room_id"]))["token"], json=body)
    assert status == 201 and second["service_name"] == "Renamed box"
    created = stream(clean_redis, "t1")[-1]
    assert created["booking_id"] == second["id"] and created["room"]["title"] == "New title"
    assert created["service_name"] == "Renamed box"


async def test_pre_booking_while_the_room_is_scheduled_is_counted_apart(
    api: Any, ops_token: str, make_room: Any, make_viewer: Any
) -> None:
    """A room announced with a time takes bookings before it starts (its preview went out
    to the groups): source "preview", counted apart; a room with no time does not."""
    await make_store(api, ops_token, capacity=5)
    slots = await tomorrow_slots(api)
    when = int(time.time()) + 3 * 24 * 3600
    room = await make_room(live=False, scheduled_at=when)
    rid = room["room_id"]
    body = {"store_id": "t1", "slot": slots[3]["start"], "service": "cake-consult"}
    viewer = await make_viewer(rid)
    status, early = await api.post(f"/api/v1/rooms/{rid}/bookings", viewer["token"], json=body)
    assert status == 201 and early["source"] == "preview", early
    # the room goes live: the next booking is a live one (each worker sees the change)
    status, _ = await api.post(f"/api/v1/rooms/{rid}/start", room["host_token"])
    assert status == 200
    other = await make_viewer(rid)
    status, live = await api.post(f"/api/v1/rooms/{rid}/bookings", other["token"], json=body)
    assert status == 201 and live["source"] == "live", live
    status, stats = await api.get(f"/api/v1/rooms/{rid}/stats", room["host_token"])
    assert (stats["total"]["bookings"], stats["total"]["preview_bookings"]) == (2, 1)
    [t1] = stats["stores"]
    assert t1["preview_bookings"] == 1
    status, again = await api.get(f"/api/v1/bookings/{early['id']}", viewer["token"])
    assert again["source"] == "preview"
    # a scheduled room with no time announced: not open yet
    unscheduled = await make_room(live=False)
    v = await make_viewer(unscheduled["room_id"])
    status, problem = await api.post(
        f"/api/v1/rooms/{unscheduled['room_id']}/bookings", v["token"], json=body
    )
    assert status == 409 and problem["type"].endswith("room-not-live"), problem
