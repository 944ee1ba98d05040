"""The generic bridge a brand runs for other platforms: signed like the group webhook,
idempotent by event id, each event type's effect (including product attribution on
coupon claims and the room's lifecycle)."""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis as sync_redis

from live_server.core import keys
from tests.conftest import Api, SioFactory
from tests.live_server.platforms.conftest import BoundRoom, bridge, event, stats


async def test_bridge_signature_good_bad_stale(api: Api, bridge_room: BoundRoom) -> None:
    room = await bridge_room()
    rid = room["room_id"]
    status, body = await bridge(api, rid, [event("like", count=7)])
    assert status == 200 and body["accepted"] == 1
    assert (await bridge(api, rid, [event("like", count=7)], secret="x" * 30))[0] == 401
    assert (await bridge(api, rid, [event("like", count=7)], timestamp=int(time.time()) - 400))[
        0
    ] == 401
    # unsigned: 401 before the body is even read (a broken body tells nothing)
    status, _ = await api.post(f"/api/v1/rooms/{rid}/platform-events", json={"events": "x"})
    assert status == 401
    assert (await stats(api, room))["likes"] == 7


async def test_bridge_needs_a_generic_binding(api: Api, make_room: Any) -> None:
    room = await make_room()
    status, problem = await bridge(api, room["room_id"], [event("like")])
    assert status == 404 and problem["title"] == "Platform not bound to this room"


async def test_bridge_bad_events_are_400_and_change_nothing(
    api: Api, bridge_room: BoundRoom
) -> None:
    room = await bridge_room()
    for events in (
        [event("like", count=1), event("dance")],
        [event("like", count=1), event("comment")],  # a comment without text
        [event("product_shown")],  # no product_id
        [event("like", count=1), {**event("like", count=1), "at": "yesterday"}],
        [{**event("like", count=1), "at": -5}],
    ):
        status, problem = await bridge(api, room["room_id"], events)
        assert status == 400, problem
    assert (await stats(api, room))["likes"] == 0


async def test_bridge_is_idempotent_by_id(api: Api, bridge_room: BoundRoom) -> None:
    room = await bridge_room()
    events = [event("gift", count=3), event("viewer_join", count=2)]
    assert (await bridge(api, room["room_id"], events))[1]["accepted"] == 2
    again = await bridge(api, room["room_id"], events)
    assert again[1]["accepted"] == 0 and again[1]["duplicates"] == 2
    counters = await stats(api, room)
    assert counters["gifts"] == 3 and counters["viewer_joins"] == 2


async def test_each_event_type(api: Api, bridge_room: BoundRoom, sio_client: SioFactory) -> None:
    room = await bridge_room()
    rid = room["room_id"]
    _, host = await sio_client("/host", room["host_token"])
    status, body = await bridge(api, rid, [
        event("comment", user_id="wx_1", nickname="小王", text="请问会员有折扣吗？"),
        event("comment", user_id="wx_2", text="哈哈哈哈"),
        event("like", count=40), event("gift", count=2), event("viewer_join"),
        event("viewer_count", count=1200), event("viewer_count", count=900),
        event("product_shown", product_id="cake-strawberry-6"),
    ])  # fmt: skip
    assert status == 200 and body["accepted"] == 8 and body["questions"] == 1, body
    card = (await host.wait_for("question.new"))[0]
    assert card["sources"] == [{"source": "live_comment", "platform": "generic", "askers": 1}]
    product = (await host.wait_for("room.product"))[0]
    assert product["product_id"] == "cake-strawberry-6"
    counters = await stats(api, room)
    assert counters == {
        "live_comments": 1, "live_chatter": 1, "likes": 40, "gifts": 2, "gift_value": 0,
        "fansclub_joins": 0, "viewer_joins": 1, "platform_viewers": 900,
        "platform_viewers_peak": 1200,
    }  # fmt: skip
    engagement = await host.wait_for("room.engagement", where=lambda e: e["likes"] == 40)
    assert engagement[-1]["platform_viewers"] == 900


async def test_live_start_and_end_move_the_room(
    api: Api, bridge_room: BoundRoom, sio_client: SioFactory
) -> None:
    room = await bridge_room(live=False)
    rid, host_token = room["room_id"], room["host_token"]
    _, host = await sio_client("/host", host_token)
    assert (await bridge(api, rid, [event("live_start")]))[0] == 200
    assert (await api.get(f"/api/v1/rooms/{rid}", host_token))[1]["status"] == "live"
    await host.wait_for("room.started")
    assert (await bridge(api, rid, [event("live_end")]))[0] == 200
    assert (await api.get(f"/api/v1/rooms/{rid}", host_token))[1]["status"] == "ended"
    await host.wait_for("room.ended")
    # old news from the platform: a start for an ended room changes nothing
    assert (await bridge(api, rid, [event("live_start")]))[0] == 200
    assert (await api.get(f"/api/v1/rooms/{rid}", host_token))[1]["status"] == "ended"


async def test_claim_records_the_product_on_screen(
    api: Api, bridge_room: BoundRoom, make_viewer: Any, clean_redis: sync_redis.Redis
) -> None:
    room = await bridge_room()
    rid, host_token = room["room_id"], room["host_token"]
    assert (await bridge(api, rid, [event("product_shown", product_id="tart-egg")]))[0] == 200
    path = f"/api/v1/rooms/{rid}/campaigns"
    status, campaign = await api.post(path, host_token, json={
        "title": "5 off", "value": 5, "quantity": 10, "per_user": 1,
        "expires_at": int(time.time()) + 3600, "identity": "any",
    })  # fmt: skip
    assert status == 201, campaign
    assert (await api.post(f"{path}/{campaign['id']}/drop", host_token))[0] == 200
    viewer = await make_viewer(rid)
    status, claimed = await api.post(f"{path}/{campaign['id']}/claim", viewer["token"])
    assert status == 201, claimed
    records = [orjson.loads(v) for v in clean_redis.hvals(keys.campaign_codes(campaign["id"]))]
    assert [r.get("p") for r in records] == ["tart-egg"]
