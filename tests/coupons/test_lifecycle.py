"""Forged codes, expiry, room end, ops void/rollback with audit, store rules, min spend."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestServer

from coupons.codes import CodeBook, new_campaign_id
from coupons.wiring import COUPONS
from live_server.core import keys

from .conftest import claim_path


class RedisSpy:
    """Wraps the coupon store's request client and its scripts (every Redis access of the
    domain is the store's); counts every call made. The sweeper's client is left alone."""

    def __init__(self, service: Any) -> None:
        self.calls: list[str] = []
        self.store = service.store
        self.saved = {
            name: getattr(self.store, name)
            for name in vars(self.store)
            if name.startswith("_") and callable(getattr(self.store, name))
        }
        assert "_claim" in self.saved and "_redeem" in self.saved  # the scripts are seen

    def __enter__(self) -> RedisSpy:
        real = self.store.redis
        spy = self

        class Proxy:
            def __getattr__(self, name: str) -> Any:
                spy.calls.append(name)
                return getattr(real, name)

        self.real = real
        self.store.redis = Proxy()
        for name, script in self.saved.items():

            def counting(*a: Any, _name: str = name, _script: Any = script, **kw: Any) -> Any:
                spy.calls.append(_name)
                return _script(*a, **kw)

            setattr(self.store, name, counting)
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.redis = self.real
        for name, script in self.saved.items():
            setattr(self.store, name, script)


async def redeem(
    api: Any, staff_token: Any, store_id: str, code: str, **extra: Any
) -> tuple[int, Any]:
    return await api.post(f"/api/v1/stores/{store_id}/redemptions", staff_token(store_id),
                          json={"code": code, **extra})  # fmt: skip


async def test_forged_or_mistyped_code_rejected_without_touching_redis(
    api: Any, server: TestServer, stores: list[Any], make_campaign: Any, viewer_token: Any,
    staff_token: Any,
) -> None:  # fmt: skip
    campaign = await make_campaign()
    status, claim = await api.post(claim_path(campaign), viewer_token(campaign["room_id"], "v_x"))
    assert status == 201
    real = claim["code"]
    mistyped = real[:-1] + ("A" if real[-1] != "A" else "B")
    forged = CodeBook("an attacker's guess at the secret, long enough").issue(campaign["id"]).text
    other_campaign = CodeBook("x" * 40).issue(new_campaign_id()).text
    service = server.app[COUPONS]
    with RedisSpy(service) as spy:
        for bad in (mistyped, forged, other_campaign, "K7M2-PX9Q", "not a code at all"):
            status, body = await redeem(api, staff_token, stores[0].id, bad)
            assert status == 400 and body["type"].endswith("/invalid-code"), body
            assert "not a valid code" in body["detail"]
            async with api.session.get(f"{api.base}/api/v1/coupons/{bad}/qr.svg") as resp:
                assert resp.status == 400
        assert spy.calls == []  # decided offline: the MAC, no Redis lookup
        status, _ = await redeem(api, staff_token, stores[0].id, real)
        assert status == 200
        assert spy.calls  # the spy does see a real redemption


async def test_expiry_releases_stock_and_expired_codes_answer_410(
    api: Any, stores: list[Any], make_campaign: Any, viewer_token: Any, staff_token: Any
) -> None:
    campaign = await make_campaign(quantity=10, expires_at=time.time() + 1.5)
    status, claim = await api.post(
        claim_path(campaign), viewer_token(campaign["room_id"], "v_late")
    )
    assert status == 201
    path = f"/api/v1/rooms/{campaign['room_id']}/campaigns/{campaign['id']}"
    deadline = time.monotonic() + 8
    while True:  # the sweeper expires it shortly after expires_at
        status, body = await api.get(path, campaign["_room"]["host_token"])
        if body["status"] == "expired":
            break
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)  # polling interval, bounded by the deadline
    assert (body["remaining"], body["released"], body["claimed"]) == (0, 9, 1)
    status, gone = await api.post(
        claim_path(campaign), viewer_token(campaign["room_id"], "v_later")
    )
    assert status == 410 and gone["type"].endswith("/coupon-expired")
    status, gone = await redeem(api, staff_token, stores[0].id, claim["code"])
    assert status == 410 and gone["type"].endswith("/coupon-expired"), gone


async def test_room_end_closes_claiming_but_codes_stay_redeemable(
    api: Any, stores: list[Any], make_campaign: Any, viewer_token: Any, staff_token: Any
) -> None:
    campaign = await make_campaign(quantity=10)
    room = campaign["_room"]
    status, claim = await api.post(claim_path(campaign), viewer_token(room["room_id"], "v_a"))
    assert status == 201
    status, _ = await api.post(f"/api/v1/rooms/{room['room_id']}/end", room["host_token"])
    assert status == 200
    status, body = await api.post(claim_path(campaign), viewer_token(room["room_id"], "v_b"))
    assert status == 410 and body["type"].endswith("/room-ended"), body
    status, after = await api.get(
        f"/api/v1/rooms/{room['room_id']}/campaigns/{campaign['id']}", room["host_token"]
    )
    assert after["status"] == "closed" and after["released"] == 9 and after["remaining"] == 0
    status, _ = await redeem(api, staff_token, stores[0].id, claim["code"])
    assert status == 200  # ending the broadcast does not take a customer's coupon away


async def test_room_not_live_and_auth(api: Any, make_room: Any, make_campaign: Any,
                                      viewer_token: Any, staff_token: Any,
                                      stores: list[Any]) -> None:  # fmt: skip
    room = await make_room(live=False)
    status, body = await api.post(
        f"/api/v1/rooms/{room['room_id']}/campaigns", viewer_token(room["room_id"], "v"),
        json={"title": "t", "value": 1, "quantity": 1, "expires_at": time.time() + 60},
    )  # fmt: skip
    assert status == 403
    campaign = await make_campaign(drop=False, room=room)
    status, body = await api.post(
        f"/api/v1/rooms/{room['room_id']}/campaigns/{campaign['id']}/drop", room["host_token"]
    )
    assert status == 409 and body["type"].endswith("/room-not-live")
    status, _ = await api.post(claim_path(campaign), viewer_token("another-room", "v"))
    assert status == 403
    status, _ = await api.post(f"/api/v1/stores/{stores[0].id}/redemptions",
                               staff_token(stores[1].id), json={"code": "x"})  # fmt: skip
    assert status == 403


async def test_void_and_rollback_are_audited(
    api: Any, stores: list[Any], make_campaign: Any, viewer_token: Any, staff_token: Any,
    ops_token: str, clean_redis: Any,
) -> None:  # fmt: skip
    campaign = await make_campaign(quantity=10, per_user=5)
    viewer = viewer_token(campaign["room_id"], "v_ops")
    (_, first), (_, second) = [await api.post(claim_path(campaign), viewer) for _ in range(2)]

    status, voided = await api.post(
        f"/api/v1/coupons/{first['code']}/void", ops_token, json={"reason": "fraud"}
    )
    assert status == 200 and voided["status"] == "void"
    status, body = await redeem(api, staff_token, stores[0].id, first["code"])
    assert status == 410 and body["type"].endswith("/code-voided")
    status, body = await api.post(
        f"/api/v1/coupons/{first['code']}/void", staff_token(stores[0].id), json={"reason": "x"}
    )
    assert status == 403  # ops only

    status, _ = await redeem(api, staff_token, stores[0].id, second["code"], order_amount=30)
    assert status == 200
    status, rolled = await api.post(
        f"/api/v1/coupons/{second['code']}/rollback", ops_token, json={"reason": "till error"}
    )
    assert status == 200 and rolled["status"] == "claimed", rolled
    status, body = await api.post(
        f"/api/v1/coupons/{second['code']}/rollback", ops_token, json={"reason": "again"}
    )
    assert status == 409 and body["type"].endswith("/not-redeemed")
    status, again = await redeem(api, staff_token, stores[1].id, second["code"], order_amount=50)
    assert status == 200 and again["store_id"] == stores[1].id

    status, audit = await api.get(f"/api/v1/campaigns/{campaign['id']}/audit", ops_token)
    actions = [(e["action"], e["code"], e["reason"]) for e in reversed(audit["entries"])]
    assert actions == [("void", first["code"], "fraud"), ("rollback", second["code"], "till error")]
    rollback = audit["entries"][0]  # times as the rest of the API writes them
    assert datetime.fromisoformat(rollback["ts"]).tzinfo is not None
    assert datetime.fromisoformat(rollback["redeemed_at"]).tzinfo is not None
    # One store-stream entry per redemption (the rolled-back one and the new one).
    assert clean_redis.xlen(keys.store_stream(stores[0].id)) == 1
    assert clean_redis.xlen(keys.store_stream(stores[1].id)) == 1
    stats = clean_redis.hgetall(keys.room_stats(campaign["room_id"]))
    assert stats[f"{stores[0].id}:coupons_redeemed".encode()] == b"0"
    assert stats[b"total:coupons_redeemed"] == b"1"
    assert float(stats[f"{stores[1].id}:redeemed_amount".encode()]) == 50


async def test_booking_store_and_min_spend(
    api: Any, stores: list[Any], make_campaign: Any, viewer_token: Any, staff_token: Any,
    clean_redis: Any,
) -> None:  # fmt: skip
    campaign = await make_campaign(
        store_ids="booking_store", min_spend=100, kind="percent_off", value=20
    )
    status, claim = await api.post(
        claim_path(campaign), viewer_token(campaign["room_id"], "v_booker")
    )
    assert status == 201 and claim["store_ids"] == "booking_store"
    # What bookings records for this viewer (cross-domain contract in keys.py).
    clean_redis.sadd(keys.customer_booked_stores("v_booker"), stores[3].id)
    status, body = await redeem(api, staff_token, stores[0].id, claim["code"], order_amount=150)
    assert status == 403 and "booked" in body["detail"]
    status, body = await redeem(api, staff_token, stores[3].id, claim["code"])
    assert status == 409 and body["min_spend"] == 100
    status, body = await redeem(api, staff_token, stores[3].id, claim["code"], order_amount=99.5)
    assert status == 409 and body["type"].endswith("/below-min-spend")
    status, ok = await redeem(api, staff_token, stores[3].id, claim["code"], order_amount=150)
    assert status == 200 and ok["discount"] == 30


async def test_a_viewer_joining_after_a_drop_sees_the_open_drops(
    api: Any, make_campaign: Any, make_viewer: Any, sio_client: Any, ops_token: str
) -> None:
    """room.state lists the open drops: a viewer who opens the room after the host dropped
    (or whose join raced the broadcast) can still claim. Drafts and closed drops are not
    listed."""
    dropped = await make_campaign(title="新品试吃券")
    room = dropped["_room"]
    await make_campaign(drop=False, room=room, title="draft")
    closed = await make_campaign(room=room, title="closed")
    path = f"/api/v1/rooms/{room['room_id']}/campaigns/{closed['id']}/close"
    assert (await api.post(path, room["host_token"]))[0] == 200
    _, audit = await api.get(f"/api/v1/campaigns/{closed['id']}/audit", ops_token)
    assert [(e["action"], e["by"]) for e in audit["entries"]] == [("closed", "host")]
    viewer = await make_viewer(room["room_id"])
    _, log = await sio_client("/live", viewer["token"])
    (state,) = await log.wait_for("room.state")
    assert [c["id"] for c in state["campaigns"]] == [dropped["id"]]
    shown = state["campaigns"][0]
    assert (shown["title"], shown["status"], shown["remaining"]) == ("新品试吃券", "open", 100)


async def test_out_of_range_times_and_amounts_are_refused_and_store_nothing(
    api: Any, make_room: Any, make_campaign: Any
) -> None:
    """An expiry in year 5138 or an infinite amount is a 400 that stores nothing: such a
    campaign once got stored and then broke the room's list, its drop and its claims."""
    room = await make_room()
    good = await make_campaign(room=room)
    path = f"/api/v1/rooms/{room['room_id']}/campaigns"
    base = {"title": "t", "value": 10, "quantity": 5, "expires_at": int(time.time()) + 3600}
    for bad in ({"expires_at": 99999999999999}, {"expires_at": "1e400"}, {"expires_at": "inf"},
                {"expires_at": 1e300}, {"expires_at": "0001-01-01T00:00:00"},
                {"valid_from": -5}, {"value": 1e400}, {"min_spend": 1e400},
                {"value": 20_000_000}):  # fmt: skip
        raw = json.dumps({**base, **bad}).replace("Infinity", "1e400")
        status, body = await api.post(
            path, room["host_token"], data=raw, headers={"Content-Type": "application/json"}
        )
        assert status == 400 and body["errors"], (bad, body)
    status, listing = await api.get(path, room["host_token"])
    assert status == 200 and [c["id"] for c in listing["campaigns"]] == [good["id"]]
