"""Campaign -> drop -> claim -> QR -> redeem, through real HTTP and Socket.IO."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestServer

from coupons.models import Claimed
from coupons.wiring import COUPONS
from live_server.core import keys

from .conftest import claim_path


async def test_create_drop_claim_redeem(api: Any, stores: list[Any], make_campaign: Any,
                                        viewer_token: Any, staff_token: Any, sio_client: Any,
                                        clean_redis: Any, server: TestServer) -> None:  # fmt: skip
    campaign = await make_campaign(drop=False, store_ids=[stores[0].id, stores[1].id], quantity=3)
    room = campaign["_room"]
    assert campaign["status"] == "draft" and campaign["kind"] == "amount_off"
    assert {campaign[k] for k in ("quantity", "remaining")} == {3}
    assert campaign["store_ids"] == sorted([stores[0].id, stores[1].id])

    viewer = viewer_token(room["room_id"], "v_alice")
    status, body = await api.post(claim_path(campaign), viewer)
    assert status == 409 and body["type"].endswith("campaign-not-open"), body

    _, live_log = await sio_client("/live", viewer)
    _, host_log = await sio_client("/host", room["host_token"])
    base = f"/api/v1/rooms/{room['room_id']}/campaigns/{campaign['id']}"
    status, dropped = await api.post(base + "/drop", room["host_token"])
    assert status == 200 and dropped["status"] == "open"
    (event,) = await live_log.wait_for("coupon.dropped")
    assert event["id"] == campaign["id"] and "ts" in event
    await host_log.wait_for("coupon.dropped")

    status, claim = await api.post(
        claim_path(campaign), viewer, headers={"Idempotency-Key": "tap-1"}
    )
    assert status == 201, claim
    assert set(claim) >= {"code", "campaign_id", "qr_svg_url", "expires_at"}
    assert claim["campaign_id"] == campaign["id"]
    declared = Claimed.model_validate(claim)  # the body is exactly the declared response
    assert declared.model_dump(mode="json") == claim
    assert (claim["title"], claim["store_ids"]) == (campaign["title"], campaign["store_ids"])
    stock = await live_log.wait_for("coupon.stock", where=lambda d: d["remaining"] == 2)
    assert stock[0]["campaign_id"] == campaign["id"] and "ts" in stock[0]

    # The QR: public, SVG, made from the code.
    async with api.session.get(claim["qr_svg_url"]) as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
        assert b"<svg" in await resp.read()

    # Redeem at a store that is not on the list: 403; at a listed store: 200.
    redeem = {"code": claim["code"].lower().replace("-", ""), "order_amount": 42.5}
    status, body = await api.post(f"/api/v1/stores/{stores[2].id}/redemptions",
                                  staff_token(stores[2].id), json=redeem)  # fmt: skip
    assert status == 403 and body["type"].endswith("not-valid-here"), body
    status, red = await api.post(f"/api/v1/stores/{stores[1].id}/redemptions",
                                 staff_token(stores[1].id), json=redeem)  # fmt: skip
    assert status == 200, red
    assert red["status"] == "redeemed" and red["store_id"] == stores[1].id
    assert red["code"] == claim["code"] and red["discount"] == 10
    assert red["campaign_title"] == campaign["title"] and red["customer"]["room_title"]
    assert "v_alice" not in str(red)  # staff see context, not internal ids

    # Once: the second attempt says when and where.
    status, again = await api.post(f"/api/v1/stores/{stores[0].id}/redemptions",
                                   staff_token(stores[0].id), json=redeem)  # fmt: skip
    assert status == 409 and again["store_id"] == stores[1].id
    assert stores[1].name in again["detail"] and again["redeemed_at"] == red["redeemed_at"]

    # The store stream got exactly one coupon.redeemed, and the code record says so.
    entries = clean_redis.xrange(keys.store_stream(stores[1].id))
    assert [e[1][b"type"] for e in entries] == [b"coupon.redeemed"]
    assert set(entries[0][1]) == {b"v", b"type", b"data", b"ts"}
    assert clean_redis.scard(keys.campaign_unappended(campaign["id"])) == 0
    await server.app[COUPONS].flush_stats()  # claim counters are coalesced
    stats = {
        k.decode(): v.decode()
        for k, v in clean_redis.hgetall(keys.room_stats(room["room_id"])).items()
    }
    assert stats["total:coupons_claimed"] == "1"
    assert stats[f"{stores[1].id}:coupons_redeemed"] == "1"
    assert float(stats[f"{stores[1].id}:redeemed_amount"]) == 42.5

    status, after = await api.get(base, room["host_token"])
    assert (after["claimed"], after["redeemed"], after["remaining"]) == (1, 1, 2)


async def test_retry_with_same_idempotency_key_returns_same_code(
    api: Any, make_campaign: Any, viewer_token: Any
) -> None:
    campaign = await make_campaign(quantity=5, per_user=3)
    viewer = viewer_token(campaign["room_id"], "v_bob")
    first = await api.post(claim_path(campaign), viewer, headers={"Idempotency-Key": "k1"})
    again = await api.post(claim_path(campaign), viewer, headers={"Idempotency-Key": "k1"})
    other = await api.post(claim_path(campaign), viewer, headers={"Idempotency-Key": "k2"})
    assert first[0] == again[0] == other[0] == 201
    assert first[1]["code"] == again[1]["code"] != other[1]["code"]
    # Another viewer using the same key string gets their own code.
    someone = await api.post(claim_path(campaign), viewer_token(campaign["room_id"], "v_eve"),
                             headers={"Idempotency-Key": "k1"})  # fmt: skip
    assert someone[0] == 201 and someone[1]["code"] != first[1]["code"]
    _, body = await api.get(
        f"/api/v1/rooms/{campaign['room_id']}/campaigns/{campaign['id']}",
        campaign["_room"]["host_token"],
    )
    assert body["claimed"] == 3 and body["remaining"] == 2


async def test_bad_campaign_input_changes_nothing(
    api: Any, make_room: Any, clean_redis: Any
) -> None:
    room = await make_room()
    path = f"/api/v1/rooms/{room['room_id']}/campaigns"
    later = int(time.time()) + 600
    for bad in (
        {"title": "x", "value": 10, "quantity": 0, "expires_at": later},
        {"title": "x", "value": 120, "kind": "percent_off", "quantity": 5, "expires_at": later},
        {"title": "x", "value": 10, "quantity": 5, "expires_at": "2001-01-01T00:00:00Z"},
        {"title": "x", "value": 10, "quantity": 5, "expires_at": "tomorrow"},
        {"title": "x", "value": 10, "quantity": 5, "expires_at": later, "store_ids": ["nope"]},
        {"title": "x", "value": 10, "quantity": 5, "expires_at": later, "surprise": 1},
    ):
        status, body = await api.post(path, room["host_token"], json=bad)
        assert status == 400, (bad, body)
        assert body["detail"]
    assert clean_redis.zcard(keys.room_campaigns(room["room_id"])) == 0
    status, ok = await api.post(path, room["host_token"], json={
        "title": "ISO time", "value": 15, "kind": "percent_off", "quantity": 5,
        "expires_at": "2099-01-01T20:00:00+08:00", "store_ids": "booking_store",
    })  # fmt: skip
    assert status == 201, ok
    assert ok["expires_at"].startswith("2099-01-01T12:00:00") and ok["store_ids"] == "booking_store"


async def test_claims_on_unknown_or_malformed_ids_are_404(
    api: Any, make_campaign: Any, viewer_token: Any
) -> None:
    campaign = await make_campaign(quantity=1)
    room_id = campaign["room_id"]
    for path, slug in (
        (f"/api/v1/rooms/{room_id}/campaigns/0/claim", "/campaign-not-found"),
        (f"/api/v1/rooms/{room_id}/campaigns/cp_ZZZZZ/claim", "/campaign-not-found"),
        ("/api/v1/rooms/r_nope/campaigns/" + campaign["id"] + "/claim", "/room-not-found"),
    ):
        token = viewer_token(path.split("/")[4], "v_lost")
        status, body = await api.post(path, token)
        assert status == 404 and body["type"].endswith(slug), (path, body)
    status, claim = await api.post(
        f"/api/v1/rooms/{room_id}/campaigns/{campaign['id']}/claim", viewer_token(room_id, "v_ok")
    )
    assert status == 201, claim  # nothing was taken by the refused ones
