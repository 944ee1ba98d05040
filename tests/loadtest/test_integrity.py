"""The post-run integrity check finds real bookings and codes consistent, and catches
each kind of violation (tampered Redis, a 201 that was never stored)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from live_server.core import keys
from loadtest.acked import AckedLog, Acknowledged
from loadtest.integrity import IntegrityReport, check

STORE = "sh-jingan"  # open every day, capacity 4, offers cake-consult


async def _free_slot(api: Any) -> tuple[str, str]:
    tomorrow = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date().isoformat()
    status, body = await api.get(f"/api/v1/stores/{STORE}/slots?date={tomorrow}")
    assert status == 200, body
    return body["slots"][3]["start"], tomorrow


@pytest.fixture
async def run_data(
    api: Any, stores: Any, make_room: Callable[..., Awaitable[dict[str, Any]]],
    make_viewer: Callable[..., Awaitable[dict[str, Any]]], tmp_path: Any,
) -> dict[str, Any]:  # fmt: skip
    """A small 'run': two bookings of one slot, one cancelled, one coupon claimed; the
    acknowledged writes logged as locust logs them."""
    room = await make_room()
    room_id = room["room_id"]
    log = AckedLog(tmp_path / "acked.jsonl")
    slot, day = await _free_slot(api)
    bookings = []
    for _ in range(2):
        viewer = await make_viewer(room_id)
        status, booking = await api.post(
            f"/api/v1/rooms/{room_id}/bookings", viewer["token"],
            json={"store_id": STORE, "slot": slot, "service": "cake-consult"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        assert status == 201, booking
        log.booking(booking["id"], STORE, viewer["viewer_id"])
        bookings.append((booking, viewer))
    status, body = await api.delete(
        f"/api/v1/bookings/{bookings[1][0]['id']}", bookings[1][1]["token"]
    )
    assert status == 200, body
    log.cancellation(bookings[1][0]["id"], STORE)

    campaigns = f"/api/v1/rooms/{room_id}/campaigns"
    spec = {"title": "10 off", "value": 10, "quantity": 3, "expires_at": int(time.time()) + 600}
    status, campaign = await api.post(campaigns, room["host_token"], json=spec)
    assert status == 201, campaign
    status, _ = await api.post(f"{campaigns}/{campaign['id']}/drop", room["host_token"])
    assert status == 200
    viewer = await make_viewer(room_id)
    status, claimed = await api.post(f"{campaigns}/{campaign['id']}/claim", viewer["token"])
    assert status == 201, claimed
    log.code(campaign["id"], claimed["code"], viewer["viewer_id"])
    log.close()
    return {
        "room_id": room_id, "acked": tmp_path / "acked.jsonl", "booking": bookings[0][0],
        "day": day, "campaign": campaign["id"], "code": claimed["code"],
        "viewer": viewer["viewer_id"],
    }  # fmt: skip


async def _check(
    redis: Any, data: dict[str, Any], acked: Acknowledged | None = None
) -> IntegrityReport:
    acked = acked or Acknowledged.read([data["acked"]])
    return await asyncio.to_thread(check, redis, data["room_id"], acked)


async def test_a_consistent_run_passes(clean_redis: Any, run_data: dict[str, Any]) -> None:
    report = await _check(clean_redis, run_data)
    assert report.ok, report.violations
    assert report.checked["acknowledged_bookings"] == 2
    assert report.checked["acknowledged_codes"] == 1
    assert report.checked["stores"] == 24
    assert report.checked["slots"] >= 1


async def test_overbooked_slot_is_caught(clean_redis: Any, run_data: dict[str, Any]) -> None:
    seats = keys.store_slot_seats(STORE, run_data["day"])
    (slot_ts,) = [k for k, v in clean_redis.hgetall(seats).items() if int(v) == 1]
    clean_redis.hset(seats, slot_ts, 5)  # capacity of sh-jingan is 4
    report = await _check(clean_redis, run_data)
    assert not report.ok
    assert any("> capacity 4" in v for v in report.violations), report.violations


async def test_lost_booking_and_missing_stream_entry_are_caught(
    clean_redis: Any, run_data: dict[str, Any]
) -> None:
    booking = run_data["booking"]
    clean_redis.delete(keys.store_booking(STORE, booking["id"]))
    report = await _check(clean_redis, run_data)
    assert any(f"booking {booking['id']} is missing" in v for v in report.violations), (
        report.violations
    )

    acked = Acknowledged.read([run_data["acked"]])
    acked.bookings["b_sh-jingan_00000000aa"] = (STORE, "v_nobody")  # a 201 never stored
    report = await _check(clean_redis, run_data, acked)
    assert any("00000000aa is missing" in v for v in report.violations), report.violations


async def test_stream_entry_removed_is_caught(clean_redis: Any, run_data: dict[str, Any]) -> None:
    raw = clean_redis.hgetall(keys.store_booking(STORE, run_data["booking"]["id"]))
    clean_redis.xdel(keys.store_stream(STORE), raw[b"created_stream_id"])
    report = await _check(clean_redis, run_data)
    assert any("no booking.created entry" in v for v in report.violations), report.violations
    assert any("has no stream entry" in v for v in report.violations), report.violations


async def test_oversold_campaign_and_foreign_code_are_caught(
    clean_redis: Any, run_data: dict[str, Any]
) -> None:
    clean_redis.hset(keys.campaign(run_data["campaign"]), "claimed", 4)  # quantity 3
    acked = Acknowledged.read([run_data["acked"]])
    acked.codes.append((run_data["campaign"], run_data["code"], "v_someone_else"))
    report = await _check(clean_redis, run_data, acked)
    assert any("claimed for a quantity of 3" in v for v in report.violations), report.violations
    assert any("belongs to" in v for v in report.violations), report.violations


async def test_check_ins_and_redemptions_are_checked(
    api: Any, staff_token: Callable[[str], str], clean_redis: Any, run_data: dict[str, Any]
) -> None:
    """Staff answered 200: the booking is arrived and the code redeemed in Redis; a 200
    that did not stick is a violation."""
    booking, code, token = run_data["booking"], run_data["code"], staff_token(STORE)
    status, body = await api.post(f"/api/v1/stores/{STORE}/bookings/{booking['id']}/arrive", token)
    assert status == 200, body
    status, body = await api.post(
        f"/api/v1/stores/{STORE}/redemptions", token, json={"code": code, "order_amount": 100}
    )
    assert status == 200, body
    acked = Acknowledged.read([run_data["acked"]])
    acked.arrived.add(booking["id"])
    acked.redeemed[code] = STORE
    report = await _check(clean_redis, run_data, acked)
    assert report.ok, report.violations
    assert report.checked["acknowledged_arrivals"] == 1
    assert report.checked["acknowledged_redemptions"] == 1

    clean_redis.hset(keys.store_booking(STORE, booking["id"]), "status", "confirmed")
    report = await _check(clean_redis, run_data, acked)
    assert any("was checked in (200) but is 'confirmed'" in v for v in report.violations), (
        report.violations
    )


async def test_a_redemption_that_did_not_stick_is_caught(
    clean_redis: Any, run_data: dict[str, Any]
) -> None:
    acked = Acknowledged.read([run_data["acked"]])
    acked.redeemed[run_data["code"]] = STORE  # told 200, but the code is only claimed
    report = await _check(clean_redis, run_data, acked)
    assert any("was redeemed (200) but is" in v for v in report.violations), report.violations


def test_acked_log_round_trips_arrivals_and_redemptions(tmp_path: Any) -> None:
    log = AckedLog(tmp_path / "a.jsonl")
    log.arrival("b_1", STORE)
    log.redemption("cp_x", "ABCDE-12345-XYZ", STORE)
    log.close()
    acked = Acknowledged.read([tmp_path / "a.jsonl"])
    assert acked.arrived == {"b_1"}
    assert acked.redeemed == {"ABCDE-12345-XYZ": STORE}
