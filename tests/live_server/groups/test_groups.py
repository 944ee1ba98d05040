"""Community groups as a channel: member events (OneID), join gifts, store posts through
the outbox, group-only offers, previews of scheduled broadcasts, follow-ups, stats.

Real server, real Redis, a real local HTTP receiver for the group callbacks (every
notice's signature is checked with live_server.core.signing). Timers are fired by calling
the timer pass with a chosen clock; the background timer pass polls once a minute here,
so it never races the test. Waiting is on the receiver's condition, never a sleep.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from live_server.core.signing import sign
from live_server.core.tokens import Role
from live_server.core.util import now_ms
from live_server.groups.models import DAY_MS
from live_server.groups.service import GroupTimers
from live_server.groups.wiring import GROUP_TIMERS, GROUPS
from live_server.rooms.models import sign_launch
from live_server.settings import Settings
from tests.conftest import Api
from tests.live_server.bookings.booking_helpers import make_store, tomorrow_slots

PLATFORM_SECRET = "platform-secret-for-group-tests-0123456789"
GROUP_SECRET = "group-secret-0123456789abcdef"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_changes(
        platform_secret=PLATFORM_SECRET,
        extra={**settings.extra, "group_retry_ms": "0", "group_max_attempts": "3",
               "group_poll_s": "0.05", "group_timer_poll_s": "60"},
    )  # fmt: skip


class Receiver:
    """A group bot's callback endpoint: checks each notice's signature, records it, and
    fails the first ``fail[group]`` deliveries to a group with HTTP 500."""

    def __init__(self) -> None:
        self.notices: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        self.fail: dict[str, int] = {}
        self.changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        group = request.match_info["group"]
        raw = await request.read()
        expected = sign(GROUP_SECRET, request.headers["X-Timestamp"], raw)
        assert hmac.compare_digest(expected, request.headers["X-Signature"]), "bad signature"
        assert abs(int(request.headers["X-Timestamp"]) - time.time()) < 300
        body = json.loads(raw)
        assert body["delivery_id"] == request.headers["X-Delivery-Id"]
        async with self.changed:
            self.attempts[group] = self.attempts.get(group, 0) + 1
            failing = self.fail.get(group, 0)
            if failing:
                self.fail[group] = failing - 1 if failing > 0 else failing
                self.changed.notify_all()
                return web.Response(status=500)
            self.notices.append({"group": group, **body})
            self.changed.notify_all()
        return web.Response(status=200)

    def of(self, kind: str, group: str | None = None) -> list[dict[str, Any]]:
        return [n for n in self.notices if n["type"] == kind and group in (None, n["group"])]

    async def wait(self, predicate: Any) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), 10)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook/{group}", rec.handle)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield rec, str(srv.make_url("")).rstrip("/")
    await srv.close()


def signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    ts = str(int(time.time()))
    return raw, {"Content-Type": "application/json", "X-Timestamp": ts,
                 "X-Signature": sign(GROUP_SECRET, ts, raw)}  # fmt: skip


async def put_group(
    api: Api, ops: str, group: str, base: str, store: str = "t1", **extra: Any
) -> dict[str, Any]:
    status, body = await api.put(f"/api/v1/groups/{group}", ops, json={
        "store_id": store, "name": f"Group {group}", "secret": GROUP_SECRET,
        "callback_url": f"{base}/hook/{group}", **extra,
    })  # fmt: skip
    assert status == 200, body
    return dict(body)


async def member_events(api: Api, group: str, *events: dict[str, Any]) -> tuple[int, Any]:
    raw, headers = signed({"events": list(events)})
    return await api.post(f"/api/v1/groups/{group}/events", data=raw, headers=headers)


def launch_for(scope: str, open_id: str) -> str:
    return sign_launch(PLATFORM_SECRET, "douyin", open_id, scope, int(time.time()) + 600)


def joined(event_id: str, member: str, **extra: Any) -> dict[str, Any]:
    return {"id": event_id, "type": "member_joined", "member_id": member,
            "at": int(time.time()), **extra}  # fmt: skip


GIFT = {"title": "Join gift: 10 off", "value": 10, "valid_days": 14}


async def test_a_first_join_earns_one_gift_ever_and_it_is_redeemable_only_in_the_store(
    api: Api, ops_token: str, receiver: tuple[Receiver, str], make_room: Any,
    staff_token: Any, server: TestServer,
) -> None:  # fmt: skip
    rec, base = receiver
    await make_store(api, ops_token)
    await make_store(api, ops_token, "t2")
    group = await put_group(api, ops_token, "g1", base, join_gift=GIFT)
    assert group["join_gift"]["store_ids"] == ["t1"] and group["join_gift"]["campaign_id"]
    assert "secret" in group
    # OneID: the member with a platform identity is the viewer with it
    room = await make_room()
    status, viewer = await api.post(
        f"/api/v1/rooms/{room['room_id']}/viewers",
        json={"launch": launch_for(room["room_id"], "ou-1")},
    )
    assert status == 201, viewer
    # 20 concurrent duplicate joins of one person (different event ids, two member ids)
    launch = launch_for("g1", "ou-1")
    replies = await asyncio.gather(*(
        member_events(api, "g1", joined(f"e{i}", f"m-{i % 2}", launch=launch, name="Lin"))
        for i in range(20)
    ))  # fmt: skip
    assert all(s == 200 for s, _ in replies), replies
    results = [r for _, body in replies for r in body["results"]]
    assert {r["viewer_id"] for r in results} == {viewer["viewer_id"]}
    assert sum(r["gift"] for r in results) == 1
    await rec.wait(lambda: len(rec.of("join_gift")) == 1)
    # a replayed id, leaving and rejoining: nothing new
    status, again = await member_events(
        api,
        "g1",
        joined("e0", "m-0", launch=launch),
        {"id": "e-left", "type": "member_left", "member_id": "m-0", "at": int(time.time())},
        joined("e-back", "m-0", launch=launch),
    )
    assert status == 200 and [r["applied"] for r in again["results"]] == [False, True, True]
    assert not any(r["gift"] for r in again["results"])
    assert await server.app[GROUPS].outbox.run_once() == 0  # nothing more to send
    [gift] = rec.of("join_gift")
    assert gift["group_id"] == "g1" and gift["qr_svg_url"].endswith("/qr.svg")
    assert gift["member_id"] in ("m-0", "m-1") and gift["expires_at"]
    # only in the group's store, once
    status, body = await api.post(
        "/api/v1/stores/t2/redemptions", staff_token("t2"), json={"code": gift["code"]}
    )
    assert status == 403, body
    status, body = await api.post(
        "/api/v1/stores/t1/redemptions", staff_token("t1"), json={"code": gift["code"]}
    )
    assert status == 200, body
    status, body = await api.post(
        "/api/v1/stores/t1/redemptions", staff_token("t1"), json={"code": gift["code"]}
    )
    assert status == 409, body
    status, stats = await api.get("/api/v1/brands/default/groups/stats", ops_token)
    assert status == 200, stats
    [row] = stats["groups"]
    assert row["members_joined"] == 3 and row["members_left"] == 1 and row["members"] == 2
    assert row["gifts_issued"] == 1 and row["gifts_redeemed"] == 1


async def test_member_events_are_signed_and_identities_checked(
    api: Api, ops_token: str, receiver: tuple[Receiver, str]
) -> None:
    _, base = receiver
    await make_store(api, ops_token)
    await put_group(api, ops_token, "g1", base)
    raw, headers = signed({"events": [joined("x1", "m1")]})
    status, body = await api.post(
        "/api/v1/groups/g1/events", data=raw, headers={**headers, "X-Signature": "sha256=00"}
    )
    assert status == 401, body
    forged = launch_for("another-group", "ou-9")
    status, body = await member_events(
        api, "g1", joined("x2", "m2"), joined("x3", "m3", launch=forged)
    )
    assert status == 403 and body["type"].endswith("launch-refused"), body
    status, body = await member_events(api, "g1", joined("x2", "m2"))
    assert (
        status == 200 and body["results"][0]["applied"] is True
    )  # the refused batch changed nothing
    status, body = await member_events(api, "nope", joined("x9", "m9"))
    assert status == 404, body


async def test_a_store_post_reaches_each_group_with_retries_and_dead_letters(
    api: Api, ops_token: str, receiver: tuple[Receiver, str], server: TestServer,
) -> None:  # fmt: skip
    rec, base = receiver
    await make_store(api, ops_token)
    for g in ("ga", "gb", "gc"):
        await put_group(api, ops_token, g, base)
    rec.fail = {"gb": 1, "gc": -1}  # gb fails once; gc always
    status, manager = await api.post("/api/v1/stores/t1/staff-tokens", ops_token)
    assert status == 201, manager
    status, body = await api.put(
        "/api/v1/stores/t1/guides", ops_token, json=[{"id": "g_an", "name": "An", "active": True}]
    )
    status, guide = await api.post(
        "/api/v1/stores/t1/staff-tokens", ops_token, json={"guide_id": "g_an"}
    )
    post = {"kind": "new_product", "text": "新品：栗子蛋糕 / chestnut cake, from Friday"}
    status, body = await api.post("/api/v1/stores/t1/posts", guide["token"], json=post)
    assert status == 403, body
    status, body = await api.post(
        "/api/v1/stores/t1/posts", manager["token"], json={**post, "groups": ["zz"]}
    )
    assert status == 400, body
    status, created = await api.post("/api/v1/stores/t1/posts", manager["token"], json=post)
    assert status == 201, created
    assert sorted(d["group_id"] for d in created["deliveries"]) == ["ga", "gb", "gc"]
    await rec.wait(lambda: len(rec.of("post")) == 2)
    outbox = server.app[GROUPS].outbox
    async with outbox.settled:  # the third failed attempt at gc is settled as dead
        await asyncio.wait_for(outbox.settled.wait_for(lambda: outbox.dead == 1), 10)
    status, listed = await api.get("/api/v1/stores/t1/posts", manager["token"])
    assert status == 200, listed
    [p] = listed["posts"]
    found = {d["group_id"]: d for d in p["deliveries"]}
    assert found["ga"]["state"] == "delivered" and found["ga"]["attempts"] == 1
    assert found["gb"]["state"] == "delivered" and found["gb"]["attempts"] == 2
    assert found["gc"]["state"] == "dead" and found["gc"]["attempts"] == 3
    assert "HTTP 500" in found["gc"]["error"]
    for notice in rec.of("post"):
        assert notice["kind"] == "new_product" and notice["post_id"] == created["post_id"]
        assert notice["text"] == post["text"]
    assert rec.attempts == {"ga": 1, "gb": 2, "gc": 3}


async def test_a_scheduled_post_waits_for_its_time(
    api: Api, ops_token: str, receiver: tuple[Receiver, str], server: TestServer
) -> None:
    rec, base = receiver
    await make_store(api, ops_token)
    await put_group(api, ops_token, "ga", base)
    send_at = int(time.time()) + 3600
    status, created = await api.post("/api/v1/stores/t1/posts", ops_token, json={
        "kind": "pickup", "text": "Mooncakes ready for pickup", "send_at": send_at,
    })  # fmt: skip
    assert status == 201 and created["status"] == "scheduled", created
    assert created["deliveries"][0]["state"] == "scheduled"
    timers = server.app[GROUP_TIMERS]
    assert await timers.run_once(now_ms()) == []
    fired = await timers.run_once(send_at * 1000 + 1)
    assert [what for _, what in fired] == ["post"]
    await rec.wait(lambda: len(rec.of("post", "ga")) == 1)
    assert await timers.run_once(send_at * 1000 + 2) == []


async def test_a_group_only_offer_is_for_members(
    api: Api, ops_token: str, receiver: tuple[Receiver, str], make_room: Any
) -> None:
    rec, base = receiver
    await make_store(api, ops_token)
    await put_group(api, ops_token, "ga", base)
    room = await make_room()
    rid = room["room_id"]
    status, campaign = await api.post(f"/api/v1/rooms/{rid}/campaigns", room["host_token"], json={
        "title": "Members' price", "value": 5, "quantity": 10,
        "expires_at": int(time.time()) + 3600, "audience": {"groups": ["ga"]},
    })  # fmt: skip
    assert status == 201 and campaign["audience"] == {"groups": ["ga"]}, campaign
    status, dropped = await api.post(
        f"/api/v1/rooms/{rid}/campaigns/{campaign['id']}/drop", room["host_token"]
    )
    assert status == 200, dropped
    await rec.wait(lambda: len(rec.of("offer", "ga")) == 1)
    assert rec.of("offer")[0]["id"] == campaign["id"]
    status, member = await api.post(
        f"/api/v1/rooms/{rid}/viewers", json={"launch": launch_for(rid, "ou-member")}
    )
    status, stranger = await api.post(
        f"/api/v1/rooms/{rid}/viewers", json={"launch": launch_for(rid, "ou-stranger")}
    )
    status, _ = await member_events(
        api, "ga", joined("j1", "m1", launch=launch_for("ga", "ou-member"))
    )
    assert status == 200
    claim = f"/api/v1/rooms/{rid}/campaigns/{campaign['id']}/claim"
    status, body = await api.post(claim, stranger["token"])
    assert status == 403 and body["type"].endswith("group-members-only"), body
    assert "ga" in body["detail"]
    status, body = await api.post(claim, member["token"])
    assert status == 201, body
    # leaving the group ends it
    await member_events(api, "ga", {"id": "l1", "type": "member_left", "member_id": "m1",
                                    "at": int(time.time())})  # fmt: skip
    status, body = await api.post(claim, member["token"])
    assert status == 403, body


async def test_a_scheduled_broadcast_is_previewed_in_the_brands_groups_days_before(
    api: Api, ops_token: str, receiver: tuple[Receiver, str], make_room: Any,
    server: TestServer,
) -> None:  # fmt: skip
    rec, base = receiver
    await make_store(api, ops_token)
    await make_store(api, ops_token, "t2")
    await put_group(api, ops_token, "ga", base)
    await put_group(api, ops_token, "gb", base, store="t2")
    at = int(time.time()) + 5 * 86400
    room = await make_room("Mid-autumn special", live=False, scheduled_at=at)
    status, got = await api.get(f"/api/v1/rooms/{room['room_id']}", room["host_token"])
    assert status == 200 and got["status"] == "scheduled" and got["scheduled_at"], got
    timers = server.app[GROUP_TIMERS]
    preview_at = at * 1000 - 3 * DAY_MS
    assert await timers.run_once(preview_at - 1) == []
    fired = await timers.run_once(preview_at)
    assert [what for _, what in fired] == ["preview"]
    await rec.wait(lambda: len(rec.of("post")) == 2)
    for notice in rec.of("post"):
        assert notice["kind"] == "preview" and notice["room_id"] == room["room_id"]
        assert "Mid-autumn special" in notice["text"]
        assert notice["booking_url"].endswith(f"/embed/{room['room_id']}")
    assert await timers.run_once(preview_at + 1000) == []


async def test_a_first_visit_is_followed_up_once_at_the_next_preview(
    api: Api, ops_token: str, receiver: tuple[Receiver, str], make_room: Any,
    server: TestServer, staff_token: Any,
) -> None:  # fmt: skip
    rec, base = receiver
    await make_store(api, ops_token)
    await put_group(api, ops_token, "ga", base)
    status, body = await api.put("/api/v1/brands/default/automations", ops_token, json=[
        {"trigger": "first_visit", "delay_days": 7, "action": "send_preview"},
    ])  # fmt: skip
    assert status == 200 and len(body["automations"]) == 1, body
    room = await make_room()
    rid = room["room_id"]
    status, viewer = await api.post(
        f"/api/v1/rooms/{rid}/viewers", json={"launch": launch_for(rid, "ou-v")}
    )
    await member_events(api, "ga", joined("j1", "m-v", launch=launch_for("ga", "ou-v")))
    slots = await tomorrow_slots(api)
    status, booking = await api.post(f"/api/v1/rooms/{rid}/bookings", viewer["token"], json={
        "store_id": "t1", "slot": slots[3]["start"], "service": "cake-consult",
    })  # fmt: skip
    assert status == 201, booking
    status, body = await api.post(
        f"/api/v1/stores/t1/bookings/{booking['id']}/arrive", staff_token("t1")
    )
    assert status == 200, body
    # the next broadcast is in 20 days: its preview (17 days on) is later than 7 days on
    scheduled = int(time.time()) + 20 * 86400
    await make_room("Next broadcast", live=False, scheduled_at=scheduled)
    timers = server.app[GROUP_TIMERS]
    now = now_ms()
    await timers.run_once(now)  # reads the check-in from the store stream: arms the follow-up
    assert [m for m, _ in await server.app[GROUPS].store.timers() if m.startswith("followup|")]
    fired = await timers.run_once(now + 7 * DAY_MS + 1000)
    assert [w for _, w in fired] == ["follow_up_later"]  # re-armed for the preview time
    # two nodes at the preview time: it fires once
    other = GroupTimers(server.app[GROUPS], 60)
    preview_at = scheduled * 1000 - 3 * DAY_MS
    both = await asyncio.gather(timers.run_once(preview_at), other.run_once(preview_at))
    whats = sorted(w for fired in both for _, w in fired)
    assert whats == ["follow_up", "preview"], whats
    await rec.wait(lambda: len(rec.of("follow_up")) == 1)
    [notice] = rec.of("follow_up")
    assert notice["member_id"] == "m-v" and notice["viewer_id"] == viewer["viewer_id"]
    assert notice["room"]["title"] == "Next broadcast"
    assert await timers.run_once(preview_at + DAY_MS) == []
    status, stats = await api.get("/api/v1/brands/default/groups/stats", ops_token)
    [row] = stats["groups"]
    assert row["bookings"] == 1 and row["visits"] == 1, row
    status, room_stats = await api.get(f"/api/v1/rooms/{rid}/stats", ops_token)
    assert status == 200 and room_stats["groups"][0]["group_id"] == "ga", room_stats


async def test_a_groups_owner_guide_gets_its_members_bookings(
    api: Api, ops_token: str, make_room: Any, receiver: tuple[Receiver, str]
) -> None:
    """The guide who owns a community group is the first choice for its members' bookings
    at the group's store (guides: "the guide who owns the customer's group")."""
    _, base = receiver
    await make_store(api, ops_token, capacity=5)
    roster = [{"id": g, "name": g} for g in ("g_an", "g_bo", "g_ce")]
    status, _ = await api.put("/api/v1/stores/t1/guides", ops_token, json=roster)
    assert status == 200
    group = await put_group(api, ops_token, "g1", base, guide_id="g_ce")
    assert group["guide_id"] == "g_ce"
    status, body = await member_events(
        api, "g1", joined("e1", "m1", launch=launch_for("g1", "open-42"))
    )
    assert status == 200, body
    room = await make_room()
    status, viewer = await api.post(
        f"/api/v1/rooms/{room['room_id']}/viewers",
        json={"launch": launch_for(room["room_id"], "open-42")},
    )
    assert status == 201, viewer
    assert viewer["viewer_id"] == body["results"][0]["viewer_id"]  # OneID: the same person
    slots = await tomorrow_slots(api)
    status, booking = await api.post(
        f"/api/v1/rooms/{room['room_id']}/bookings", viewer["token"],
        json={"store_id": "t1", "slot": slots[3]["start"], "service": "cake-consult"},
    )  # fmt: skip
    assert status == 201, booking
    status, task = await api.get(f"/api/v1/tasks/t_{booking['id']}", ops_token)
    assert task["guide_id"] == "g_ce"  # not g_an, the next in turn with equal loads
    assert task["customer"]["groups"] == ["g1"]  # Customer 360: the group they are in


async def test_a_group_takes_its_stores_brand_and_the_brands_staff_read_its_report(
    api: Api, ops_token: str, signer: Any, receiver: tuple[Receiver, str]
) -> None:
    _, base = receiver
    await make_store(api, ops_token, store_id="b1", brand="bakery")
    await make_store(api, ops_token, store_id="c1", brand="cafe")
    group = await put_group(api, ops_token, "gb", base, store="b1")
    assert group["brand"] == "bakery"  # the store's, not "default"
    status, problem = await api.put("/api/v1/groups/gx", ops_token, json={
        "store_id": "b1", "name": "wrong", "brand": "cafe", "secret": GROUP_SECRET,
    })  # fmt: skip
    assert status == 400 and "brand" in problem["detail"], problem
    status, report = await api.get("/api/v1/brands/cafe/groups/stats", ops_token)
    assert report["groups"] == []  # refused whole: nothing was written
    bakery_staff = signer.issue(Role.STAFF, "b1", "manager")
    cafe_staff = signer.issue(Role.STAFF, "c1", "manager")
    status, report = await api.get("/api/v1/brands/bakery/groups/stats", bakery_staff)
    assert status == 200 and [g["group_id"] for g in report["groups"]] == ["gb"]
    status, problem = await api.get("/api/v1/brands/bakery/groups/stats", cafe_staff)
    assert status == 403, problem
