"""The funnel: GET /api/v1/rooms/{room}/stats (JSON and CSV) and POST .../taps."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from live_server.core import keys


async def test_funnel_per_store_and_total_with_credit_split(
    api: Any, make_room: Any, make_viewer: Any, stores: Any, clean_redis: Any
) -> None:
    room = await make_room()
    rid = room["room_id"]
    s1, s2 = stores[0].id, stores[1].id
    viewers = [await make_viewer(rid, f"ext-{n}") for n in range(4)]
    for v in viewers[:3]:
        status, body = await api.post(f"/api/v1/rooms/{rid}/taps", v["token"], json={})
        assert status == 201, body
    status, body = await api.post(
        f"/api/v1/rooms/{rid}/taps", viewers[0]["token"], json={"store_id": s1}
    )
    assert status == 201 and body == {"booking_taps": 4}
    # what the bookings, check-in and coupons domains write
    clean_redis.hset(keys.room_stats(rid), mapping={
        "total:bookings": 3, f"{s1}:bookings": 2, f"{s2}:bookings": 1,
        "total:cancellations": 1, f"{s2}:cancellations": 1,
        "total:arrivals": 2, f"{s1}:arrivals": 2,
        "total:coupons_claimed": 4, "total:coupons_redeemed": 2, f"{s1}:coupons_redeemed": 2,
        "total:redeemed_amount": "150.5", f"{s1}:redeemed_amount": "150.5",
        "total:peak_viewers": 9,
    })  # fmt: skip
    # the rooms' bookings by slot start: two whose slot has passed (both arrived), one
    # still to come (not a missed visit: arrival_rate leaves it out)
    now = time.time()
    clean_redis.zadd(keys.room_booked_slots(rid), {
        f"{s1}|b1": now - 7200, f"{s1}|b2": now - 3600, f"{s1}|b3": now + 3600,
    })  # fmt: skip
    clean_redis.zadd(keys.room_arrived_slots(rid), {f"{s1}|b1": now - 7200, f"{s1}|b2": now - 3600})

    status, report = await api.get(f"/api/v1/rooms/{rid}/stats", room["host_token"])
    assert status == 200, report
    total = report["total"]
    assert total["viewers_unique"] == 4 and total["viewers_peak"] == 9
    assert total["booking_taps"] == 4 and total["unique_tappers"] == 3
    assert (total["bookings"], total["cancellations"], total["arrivals"]) == (3, 1, 2)
    assert (total["coupons_claimed"], total["coupons_redeemed"]) == (4, 2)
    assert total["redeemed_amount"] == 150.5
    assert total["tap_rate"] == 0.75 and total["booking_rate"] == 0.75
    assert total["arrival_rate"] == 1.0 and total["redemption_rate"] == 0.5
    assert total["bookings_due"] == 2
    assert total["visit_rate"] == 0.5
    assert total["store_credit"] == 105.35 and total["live_team_credit"] == 45.15
    assert report["credit"] == {
        "basis": "redeemed_amount",
        "store_share": 0.7,
        "live_team_share": 0.3,
    }
    by_store = {row["scope"]: row for row in report["stores"]}
    assert set(by_store) == {s1, s2}
    assert by_store[s1]["store_name"] == stores[0].name
    assert by_store[s1]["bookings"] == 2 and by_store[s1]["booking_taps"] == 1
    assert by_store[s1]["store_credit"] == 105.35 and by_store[s2]["redeemed_amount"] == 0
    assert by_store[s2]["arrival_rate"] is None  # 1 booking, 1 cancelled: nothing to arrive
    assert by_store[s1]["viewers_unique"] is None

    status, text = await api.get(f"/api/v1/rooms/{rid}/stats?format=csv", room["host_token"])
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert [r["scope"] for r in rows] == ["total", s1, s2]
    assert rows[0]["bookings"] == "3" and rows[1]["store_credit"] == "105.35"
    assert rows[2]["arrival_rate"] == ""


async def test_stats_access_and_bad_input(
    api: Any, make_room: Any, make_viewer: Any, ops_token: str, stores: Any
) -> None:
    room, other = await make_room(), await make_room()
    rid = room["room_id"]
    viewer = await make_viewer(rid)
    assert (await api.get(f"/api/v1/rooms/{rid}/stats", viewer["token"]))[0] == 403
    assert (await api.get(f"/api/v1/rooms/{rid}/stats", other["host_token"]))[0] == 403
    assert (await api.get(f"/api/v1/rooms/{rid}/stats"))[0] == 401
    status, empty = await api.get(f"/api/v1/rooms/{rid}/stats", ops_token)
    assert status == 200 and empty["stores"] == [] and empty["total"]["booking_rate"] is None
    assert (await api.get("/api/v1/rooms/r_nope/stats", ops_token))[0] == 404
    assert (await api.get(f"/api/v1/rooms/{rid}/stats?format=xml", ops_token))[0] == 400
    status, body = await api.post(
        f"/api/v1/rooms/{rid}/taps", viewer["token"], json={"store_id": "zz"}
    )
    assert status == 400 and "store_id" in body["detail"]
    status, _ = await api.post(f"/api/v1/rooms/{other['room_id']}/taps", viewer["token"], json={})
    assert status == 403
    status, again = await api.get(f"/api/v1/rooms/{rid}/stats", ops_token)
    assert again["total"]["booking_taps"] == 0
