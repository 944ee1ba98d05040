"""Check-in: POST /api/v1/stores/{store}/bookings/{id}/arrive."""

from __future__ import annotations

from typing import Any

import msgpack

from live_server.core import keys


def seed_booking(
    r: Any, store: str, booking: str, room: str = "r_1", status: str = "confirmed"
) -> None:
    """A booking record as the bookings domain writes it (documented fields)."""
    r.hset(keys.store_booking(store, booking), mapping={
        "id": booking, "status": status, "store_id": store, "room_id": room,
        "viewer_id": "v_1", "slot": "2030-01-01T10:00:00+08:00", "service": "tasting",
    })  # fmt: skip


async def test_arrive_marks_appends_counts_once_and_reaches_the_dashboard(
    api: Any, staff_token: Any, clean_redis: Any, sio_client: Any
) -> None:
    seed_booking(clean_redis, "s_a", "b_1")
    token = staff_token("s_a")
    _, log = await sio_client("/store", token)
    await log.wait_for("store.synced")

    status, body = await api.post("/api/v1/stores/s_a/bookings/b_1/arrive", token)
    assert status == 200, body
    assert body["status"] == "arrived" and body["first"] is True and body["room_id"] == "r_1"
    [event] = await log.wait_for("booking.arrived")
    assert event["id"] == body["stream_id"] and event["booking_id"] == "b_1"
    assert event["service"] == "tasting" and event["arrived_at"] == body["arrived_at"]

    again_status, again = await api.post("/api/v1/stores/s_a/bookings/b_1/arrive", token)
    assert again_status == 200 and again["first"] is False
    assert again["stream_id"] == body["stream_id"] and again["arrived_at"] == body["arrived_at"]
    entries = clean_redis.xrange(keys.store_stream("s_a"))
    assert len(entries) == 1 and entries[0][1][b"type"] == b"booking.arrived"
    assert msgpack.unpackb(entries[0][1][b"data"])["booking_id"] == "b_1"
    stats = clean_redis.hgetall(keys.room_stats("r_1"))
    assert stats[b"total:arrivals"] == b"1" and stats[b"s_a:arrivals"] == b"1"
    assert clean_redis.hget(keys.customer("v_1"), "visits") == b"1"


async def test_arrive_refuses_cancelled_unknown_and_other_stores(
    api: Any, staff_token: Any, clean_redis: Any
) -> None:
    seed_booking(clean_redis, "s_a", "b_c", status="cancelled")
    seed_booking(clean_redis, "s_a", "b_2")
    status, body = await api.post("/api/v1/stores/s_a/bookings/b_c/arrive", staff_token("s_a"))
    assert status == 409 and body["type"].endswith("booking-cancelled")
    status, body = await api.post("/api/v1/stores/s_a/bookings/nope/arrive", staff_token("s_a"))
    assert status == 404
    status, body = await api.post("/api/v1/stores/s_a/bookings/b_2/arrive", staff_token("s_b"))
    assert status == 403
    status, body = await api.post("/api/v1/stores/s_b/bookings/b_2/arrive", staff_token("s_b"))
    assert status == 404  # the booking is not at s_b
    assert clean_redis.xlen(keys.store_stream("s_a")) == 0
    assert clean_redis.hget(keys.store_booking("s_a", "b_2"), "status") == b"confirmed"


async def test_check_in_a_booking_made_through_the_api_and_see_it_in_the_funnel(
    api: Any, ops_token: str, make_room: Any, make_viewer: Any, staff_token: Any
) -> None:
    from ..bookings.booking_helpers import make_store, tomorrow_slots

    await make_store(api, ops_token, "t1", capacity=5)
    slot = (await tomorrow_slots(api, "t1"))[0]["start"]
    room = await make_room()
    rid = room["room_id"]
    made = []
    for n in range(2):
        viewer = await make_viewer(rid, f"ext-{n}")
        status, booking = await api.post(
            f"/api/v1/rooms/{rid}/bookings", viewer["token"],
            json={"store_id": "t1", "slot": slot, "service": "cake-consult"},
            headers={"Idempotency-Key": f"k-{n}"},
        )  # fmt: skip
        assert status == 201, booking
        made.append((viewer, booking))
    (_, kept), (canceller, dropped) = made
    status, _ = await api.delete(f"/api/v1/bookings/{dropped['id']}", canceller["token"])
    assert status in (200, 204)

    staff = staff_token("t1")
    status, arrival = await api.post(f"/api/v1/stores/t1/bookings/{kept['id']}/arrive", staff)
    assert status == 200 and arrival["first"] is True, arrival
    status, problem = await api.post(f"/api/v1/stores/t1/bookings/{dropped['id']}/arrive", staff)
    assert status == 409, problem
    status, booking = await api.get(f"/api/v1/bookings/{kept['id']}", staff)
    assert status == 200 and booking["status"] == "arrived"

    status, report = await api.get(f"/api/v1/rooms/{rid}/stats", room["host_token"])
    assert status == 200
    total, [t1] = report["total"], report["stores"]
    assert (total["bookings"], total["cancellations"], total["arrivals"]) == (2, 1, 1)
    assert t1["scope"] == "t1" and t1["arrivals"] == 1 and t1["arrival_rate"] == 1.0
