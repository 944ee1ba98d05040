"""Store guides: each booking becomes a named guide's task, made in the booking's own step,
moved by the guide, by the manager and by time, tracked to the visit, credited 70/30.

Real server, real Redis, real Socket.IO clients; timers are fired by calling the timer
pass with a chosen clock (the background pass polls once a minute here, so it never races
the test)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis as sync_redis
from aiohttp.test_utils import TestServer

from live_server.core import keys
from live_server.core.util import now_ms
from live_server.guides.models import notice_for
from live_server.guides.store import GuideStore
from live_server.guides.timers import TaskTimers
from live_server.guides.wiring import TIMERS
from live_server.settings import Settings
from live_server.store_streams.events import decode_entry
from live_server.store_streams.notices import StoreNotices
from live_server.store_streams.store import StreamStore
from tests.conftest import Api, SioFactory
from tests.live_server.bookings.booking_helpers import make_store, tomorrow_slots

ROSTER = [
    {"id": "g_an", "name": "安 An", "phone": "13800000001", "active": True},
    {"id": "g_bo", "name": "博 Bo", "active": True},
    {"id": "g_ce", "name": "策 Ce", "active": True},
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_changes(
        task_accept_s=300, task_remind_s=1800, task_no_show_grace_s=900, task_timer_poll_s=60
    )


@pytest.fixture
async def shop(api: Api, ops_token: str) -> dict[str, Any]:
    """Store t1 (capacity 5) with three guides and their tokens, and a manager token."""
    await make_store(api, ops_token, capacity=5)
    status, body = await api.put("/api/v1/stores/t1/guides", ops_token, json=ROSTER)
    assert status == 200, body
    tokens = {}
    for g in ROSTER:
        status, tok = await api.post(
            "/api/v1/stores/t1/staff-tokens", ops_token, json={"guide_id": g["id"]}
        )
        assert status == 201 and tok["role"] == "guide" and tok["guide_id"] == g["id"], tok
        tokens[g["id"]] = tok["token"]
    status, manager = await api.post("/api/v1/stores/t1/staff-tokens", ops_token)
    assert status == 201 and manager["role"] == "manager", manager
    return {"guides": tokens, "manager": manager["token"]}


Book = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def book(api: Api, make_room: Any, make_viewer: Any) -> Book:
    state: dict[str, Any] = {}

    async def do(slot_index: int = 3, viewer: dict[str, Any] | None = None) -> dict[str, Any]:
        if "room" not in state:
            state["room"] = await make_room()
            state["slots"] = await tomorrow_slots(api)
        room_id = state["room"]["room_id"]
        viewer = viewer or await make_viewer(room_id)
        status, booking = await api.post(
            f"/api/v1/rooms/{room_id}/bookings", viewer["token"],
            json={"store_id": "t1", "slot": state["slots"][slot_index]["start"],
                  "service": "cake-consult"},
        )  # fmt: skip
        assert status == 201, booking
        return {**booking, "viewer": viewer, "room": state["room"]}

    return do


async def task_of(api: Api, token: str, booking_id: str) -> dict[str, Any]:
    status, task = await api.get(f"/api/v1/tasks/t_{booking_id}", token)
    assert status == 200, task
    return dict(task)


async def test_each_booking_is_a_task_of_the_least_loaded_guide_in_turn(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book, clean_redis: sync_redis.Redis
) -> None:
    bookings = [await book(i) for i in (3, 4, 5, 6)]
    tasks = [await task_of(api, ops_token, b["id"]) for b in bookings]
    # equal loads: in turn by id; the fourth goes round again
    assert [t["guide_id"] for t in tasks] == ["g_an", "g_bo", "g_ce", "g_an"]
    first = tasks[0]
    assert first["status"] == "assigned" and first["booking_id"] == bookings[0]["id"]
    assert first["due_at"] == bookings[0]["slot"] and first["guide_name"] == "安 An"
    assert 0 < first["priority"] <= 100
    assert first["customer"]["viewer_id"] == bookings[0]["viewer_id"]
    assert first["customer"]["rooms_watched"] == [bookings[0]["room_id"]]
    assert any("Test room" in p for p in first["info"]["talking_points"])
    # one task per booking, made in the booking's own step: the stream has them in pairs
    entries = [decode_entry(i, f) for i, f in clean_redis.xrange(keys.store_stream("t1"))]
    assert [e["type"] for e in entries] == ["booking.created", "task.assigned"] * 4
    # the roster shows the load
    status, roster = await api.get("/api/v1/stores/t1/guides", shop["manager"])
    assert status == 200
    assert {g["id"]: g["open_tasks"] for g in roster["guides"]} == {
        "g_an": 2, "g_bo": 1, "g_ce": 1,
    }  # fmt: skip


async def test_a_guide_lists_and_sees_only_its_own_tasks(
    api: Api, shop: dict[str, Any], book: Book, sio_client: SioFactory
) -> None:
    _, an_log = await sio_client("/store", shop["guides"]["g_an"])
    _, manager_log = await sio_client("/store", shop["manager"])
    await an_log.wait_for("store.synced")
    await manager_log.wait_for("store.synced")
    b1, b2 = await book(3), await book(4)
    [assigned] = await an_log.wait_for("task.assigned")
    assert assigned["booking_id"] == b1["id"] and assigned["guide_id"] == "g_an"
    assert assigned["customer"]["viewer_id"] == b1["viewer_id"] and assigned["id"]
    await manager_log.wait_for("task.assigned", count=2)
    await manager_log.wait_for("booking.created", count=2)
    # the guide's list: its own task only, even when it asks for another guide's
    status, mine = await api.get("/api/v1/stores/t1/tasks", shop["guides"]["g_an"])
    assert status == 200 and [t["booking_id"] for t in mine["tasks"]] == [b1["id"]]
    day = b1["slot"][:10]
    status, _ = await api.get("/api/v1/stores/t1/tasks?guide=g_bo", shop["guides"]["g_an"])
    assert status == 403
    status, theirs = await api.get(f"/api/v1/tasks/t_{b2['id']}", shop["guides"]["g_an"])
    assert status == 403 and theirs["type"].endswith("task-forbidden")
    status, all_tasks = await api.get(f"/api/v1/stores/t1/tasks?date={day}", shop["manager"])
    assert status == 200 and len(all_tasks["tasks"]) == 2
    status, filtered = await api.get(
        f"/api/v1/stores/t1/tasks?date={day}&guide=g_bo&status=assigned", shop["manager"]
    )
    assert [t["booking_id"] for t in filtered["tasks"]] == [b2["id"]]
    # the guide's socket never got the other guide's task, nor booking entries
    assert all(n not in ("booking.created",) for n, _ in an_log.events)
    assert len(an_log.of("task.assigned")) == 1


async def test_two_guides_accepting_at_once_one_wins(
    api: Api, shop: dict[str, Any], book: Book, ops_token: str
) -> None:
    booking = await book(3)
    path = f"/api/v1/tasks/t_{booking['id']}/accept"
    results = await asyncio.gather(
        api.post(path, shop["guides"]["g_an"]), api.post(path, shop["guides"]["g_bo"])
    )
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 409], results
    winner = next(b for s, b in results if s == 200)
    loser = next(b for s, b in results if s == 409)
    assert winner["status"] == "accepted" and "accepted by guide" in loser["detail"]
    # the load followed the task: the winner has it, nobody else
    status, roster = await api.get("/api/v1/stores/t1/guides", ops_token)
    loads = {g["id"]: g["open_tasks"] for g in roster["guides"]}
    assert loads[winner["guide_id"]] == 1 and sum(loads.values()) == 1
    # accepting again is idempotent for the winner
    status, again = await api.post(path, shop["guides"][winner["guide_id"]])
    assert status == 200 and again["status"] == "accepted"


async def test_another_stores_guide_and_a_manager_accepting_are_refused(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book
) -> None:
    await make_store(api, ops_token, store_id="t2")
    status, _ = await api.put("/api/v1/stores/t2/guides", ops_token, json=[ROSTER[0]])
    status, other = await api.post(
        "/api/v1/stores/t2/staff-tokens", ops_token, json={"guide_id": "g_an"}
    )
    booking = await book(3)
    before = await task_of(api, ops_token, booking["id"])
    for action in ("accept", "contact", "no-show", "reassign"):
        status, body = await api.post(f"/api/v1/tasks/t_{booking['id']}/{action}", other["token"])
        assert status == 403, (action, body)
    status, body = await api.post(f"/api/v1/tasks/t_{booking['id']}/accept", shop["manager"])
    assert status == 403
    # a guide cannot reassign, nor set the roster, nor issue tokens
    status, _ = await api.post(f"/api/v1/tasks/t_{booking['id']}/reassign", shop["guides"]["g_an"])
    assert status == 403
    status, _ = await api.put("/api/v1/stores/t1/guides", shop["guides"]["g_an"], json=ROSTER)
    assert status == 403
    status, _ = await api.post(
        "/api/v1/stores/t1/staff-tokens", shop["guides"]["g_an"], json={"guide_id": "g_bo"}
    )
    assert status == 403
    assert await task_of(api, ops_token, booking["id"]) == before


async def test_bad_input_is_refused_and_changes_nothing(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book
) -> None:
    for bad in (
        [{"id": "g an", "name": "x"}],
        [{"id": "g1"}],
        {"id": "g1", "name": "x"},
        [{"id": "g1", "name": "x", "active": 1}],
        [{"id": "g1", "name": "x"}] * 2,
    ):
        status, body = await api.put("/api/v1/stores/t1/guides", ops_token, json=bad)
        assert status in (400, 422) and body["type"], (bad, body)
    status, _ = await api.post(
        "/api/v1/stores/t1/staff-tokens", ops_token, json={"guide_id": "nobody"}
    )
    assert status == 404
    status, _ = await api.post("/api/v1/tasks/t_nonsense/accept", ops_token)
    assert status == 404
    status, _ = await api.post("/api/v1/tasks/t_b_t1_0123456789/accept", ops_token)
    assert status == 404
    status, roster = await api.get("/api/v1/stores/t1/guides", ops_token)
    assert [g["id"] for g in roster["guides"]] == ["g_an", "g_bo", "g_ce"]


async def test_contact_arrive_and_the_next_booking_goes_to_the_guide_who_served_them(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book, clean_redis: sync_redis.Redis
) -> None:
    first = await book(3)
    guide = (await task_of(api, ops_token, first["id"]))["guide_id"]
    token = shop["guides"][guide]
    for action, status_after in (("accept", "accepted"), ("contact", "contacted")):
        status, task = await api.post(f"/api/v1/tasks/t_{first['id']}/{action}", token)
        assert status == 200 and task["status"] == status_after, task
    status, body = await api.post(f"/api/v1/stores/t1/bookings/{first['id']}/arrive", token)
    assert status == 200, body
    task = await task_of(api, ops_token, first["id"])
    assert task["status"] == "arrived"
    assert task["customer"]["visits_total"] == 1
    # load the serving guide up, then the same customer books again: it still goes to them
    others = [await book(i) for i in (4, 5, 6, 7)]
    assert others
    again = await book(8, viewer=first["viewer"])
    assert (await task_of(api, ops_token, again["id"]))["guide_id"] == guide
    # a done task cannot be moved back
    status, body = await api.post(f"/api/v1/tasks/t_{first['id']}/contact", token)
    assert status == 409 and "arrived" in body["detail"]


async def test_cancelling_the_booking_cancels_its_task(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book
) -> None:
    booking = await book(3)
    status, _ = await api.delete(f"/api/v1/bookings/{booking['id']}", booking["viewer"]["token"])
    assert status == 200
    task = await task_of(api, ops_token, booking["id"])
    assert task["status"] == "cancelled"
    status, roster = await api.get("/api/v1/stores/t1/guides", ops_token)
    assert sum(g["open_tasks"] for g in roster["guides"]) == 0


async def test_manager_reassigns_and_the_new_guide_is_told(
    api: Api, shop: dict[str, Any], book: Book, sio_client: SioFactory
) -> None:
    booking = await book(3)  # g_an's
    _, an_log = await sio_client("/store", shop["guides"]["g_an"], last_id="0")
    _, ce_log = await sio_client("/store", shop["guides"]["g_ce"], last_id="0")
    await an_log.wait_for("task.assigned")
    status, task = await api.post(
        f"/api/v1/tasks/t_{booking['id']}/reassign", shop["manager"], json={"guide_id": "g_ce"}
    )
    assert status == 200 and task["guide_id"] == "g_ce" and task["status"] == "assigned"
    [moved] = await ce_log.wait_for("task.assigned")
    assert moved["previous_guide_id"] == "g_an" and moved["reason"] == "manager"
    # the guide it was taken from hears it too (its list drops it)
    await an_log.wait_for("task.assigned", count=2)
    status, body = await api.post(
        f"/api/v1/tasks/t_{booking['id']}/reassign", shop["manager"], json={"guide_id": "g_zz"}
    )
    assert status == 404 and body["type"].endswith("/guide-not-found"), body  # a typo


async def test_unaccepted_task_moves_to_another_guide_once_across_nodes(
    api: Api, shop: dict[str, Any], book: Book, server: TestServer, clean_redis: sync_redis.Redis,
    redis_url: str, settings: Settings,
) -> None:  # fmt: skip
    booking = await book(3)
    app_timers = server.app[TIMERS]
    # a second node's timer pass, on its own connection
    from live_server.core.redis_conn import connect_redis

    other_redis = connect_redis(settings)
    try:
        other = TaskTimers(GuideStore(other_redis), app_timers.stores, app_timers.times)
        later = now_ms() + 301_000
        results = await asyncio.gather(app_timers.run_once(later), other.run_once(later))
    finally:
        await other_redis.aclose()
    kinds = sorted(o.kind for r in results for _, o in r)
    assert kinds.count("reassigned") == 1 and kinds.count("gone") <= 1, kinds
    task = await task_of(api, shop["manager"], booking["id"])
    assert task["guide_id"] == "g_bo" and task["reassigned"] == 1 and task["status"] == "assigned"
    entries = [decode_entry(i, f) for i, f in clean_redis.xrange(keys.store_stream("t1"))]
    moves = [e for e in entries if e["type"] == "task.assigned" and e.get("reason")]
    assert len(moves) == 1 and moves[0]["reason"] == "not_accepted"


async def test_reminder_before_the_slot_and_no_show_after_it(
    api: Api, shop: dict[str, Any], book: Book, server: TestServer, ops_token: str,
    clean_redis: sync_redis.Redis,
) -> None:  # fmt: skip
    booking = await book(3)
    status, _ = await api.post(f"/api/v1/tasks/t_{booking['id']}/accept", shop["guides"]["g_an"])
    timers = server.app[TIMERS]
    slot_ms = int(datetime.fromisoformat(booking["slot"]).timestamp() * 1000)
    reminded = await timers.run_once(slot_ms - 1_799_000)
    assert [o.kind for _, o in reminded] == ["reminded"]
    assert (await timers.run_once(slot_ms - 1_799_000)) == []  # fired once
    # the guide cannot mark a no-show before the slot
    status, body = await api.post(
        f"/api/v1/tasks/t_{booking['id']}/no-show", shop["guides"]["g_an"]
    )
    assert status == 409 and "not started" in body["detail"]
    end_ms = int(datetime.fromisoformat(booking["slot_end"]).timestamp() * 1000)
    fired = await timers.run_once(end_ms + 900_001)
    assert [o.kind for _, o in fired] == ["no_show"]
    task = await task_of(api, ops_token, booking["id"])
    assert task["status"] == "no_show" and task["customer"]["no_shows_total"] == 1
    status, b = await api.get(f"/api/v1/bookings/{booking['id']}", ops_token)
    assert b["status"] == "no_show"
    status, stats = await api.get(f"/api/v1/rooms/{booking['room_id']}/stats", ops_token)
    [row] = stats["guides"]
    assert (row["guide_id"], row["tasks"], row["accepted"], row["no_shows"]) == ("g_an", 1, 1, 1)
    types = [decode_entry(i, f)["type"] for i, f in clean_redis.xrange(keys.store_stream("t1"))]
    assert types.count("task.reminder") == 1
    status, metrics = await api.get("/metrics")
    text = metrics.decode()
    assert 'live_task_timers_total{outcome="reminded"} 1.0' in text
    assert 'live_task_timers_total{outcome="no_show"} 1.0' in text


async def test_orders_are_credited_70_30_once_and_show_on_stats_and_leaderboard(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book
) -> None:
    booking = await book(3)
    guide = (await task_of(api, ops_token, booking["id"]))["guide_id"]
    token = shop["guides"][guide]
    await api.post(f"/api/v1/tasks/t_{booking['id']}/accept", token)
    await api.post(f"/api/v1/stores/t1/bookings/{booking['id']}/arrive", token)
    order = {"order_id": "pos-1", "amount": 200, "booking_id": booking["id"]}
    status, first = await api.post("/api/v1/stores/t1/orders", token, json=order)
    assert status == 201, first
    assert (first["store_credit"], first["live_credit"]) == (140.0, 60.0)
    assert first["guide_id"] == guide and first["room_id"] == booking["room_id"]
    status, again = await api.post("/api/v1/stores/t1/orders", shop["manager"], json=order)
    assert status == 200 and again["first"] is False and again["store_credit"] == 140.0
    status, _ = await api.post("/api/v1/stores/t1/orders", token, json={**order, "amount": 201})
    assert status == 409
    # the booking names its customer: a sale for someone else on it is refused
    mixed = {**order, "order_id": "pos-2", "viewer_id": "v_someone_else"}
    status, problem = await api.post("/api/v1/stores/t1/orders", token, json=mixed)
    assert status == 400 and problem["type"].endswith("/order-booking"), problem
    assert first["viewer_id"] == booking["viewer_id"]
    # another store's booking: refused
    await make_store(api, ops_token, store_id="t2")
    status, _ = await api.post(
        "/api/v1/stores/t2/orders", ops_token,
        json={"order_id": "pos-9", "amount": 5, "booking_id": booking["id"]},
    )  # fmt: skip
    assert status == 403
    for bad in ({"order_id": "x", "amount": "200"}, {"order_id": "x", "amount": -1},
                {"order_id": "x y", "amount": 1}, {"amount": 1},
                {"order_id": "x", "amount": 100.005}):  # fmt: skip
        status, _ = await api.post("/api/v1/stores/t1/orders", token, json=bad)
        assert status in (400, 422), bad
    status, stats = await api.get(f"/api/v1/rooms/{booking['room_id']}/stats", ops_token)
    [row] = stats["guides"]
    assert (row["guide_id"], row["store_id"], row["arrivals"], row["orders"]) == (
        guide, "t1", 1, 1,
    )  # fmt: skip
    assert (row["amount"], row["credit"]) == (200.0, 140.0)
    status, board = await api.get("/api/v1/brands/default/leaderboard", shop["manager"])
    assert status == 200, board
    top = board["guides"][0]
    assert (top["guide_id"], top["credit"], top["arrivals"]) == (guide, 140.0, 1)
    assert board["stores"][0]["store_id"] == "t1" and board["live_team_credit"] == 60.0
    status, _ = await api.get("/api/v1/brands/other/leaderboard", shop["manager"])
    assert status == 403
    status, problem = await api.get("/api/v1/brands/no-such-brand/leaderboard", ops_token)
    assert status == 404 and "no-such-brand" in problem["detail"], problem


async def test_store_notices_are_signed_retried_and_dead_lettered(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book, clean_redis: sync_redis.Redis,
    settings: Settings, tmp_path: Path,
) -> None:  # fmt: skip
    from aiohttp import web

    from live_server.core.redis_conn import connect_redis
    from live_server.core.signing import sign

    received: list[tuple[dict[str, str], bytes]] = []
    fail = {"on": False}

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=500 if fail["on"] else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    url = str(receiver.make_url("/hook"))
    status, body = await api.put("/api/v1/stores/t1/webhook", shop["manager"], json={"url": url})
    assert status == 200 and len(body["secret"]) >= 32
    secret = body["secret"]
    redis = connect_redis(settings)
    notices = StoreNotices(
        redis, StreamStore(redis), notice_for, retry_after_ms=0, max_deliveries=2
    )
    notices.start()
    try:
        await book(3)
        await notices.run_once()
        assert len(received) == 1
        headers, raw = received[0]
        assert headers["X-Signature"] == sign(secret, headers["X-Timestamp"], raw)
        assert b'"type":"task.new"' in raw
        fail["on"] = True
        await book(4)
        for _ in range(4):
            await notices.run_once()
        status, state = await api.get("/api/v1/stores/t1/webhook", shop["manager"])
        assert status == 200 and state["secret"] is None
        assert len(state["dead_letters"]) == 1 and state["pending"] == 0, state
        assert len(received) >= 3  # the first, then the second tried more than once
        # the manager stops the notices: nothing more is sent; a guide's token may not
        assert (await api.delete("/api/v1/stores/t1/webhook", shop["guides"]["g_an"]))[0] == 403
        assert (await api.delete("/api/v1/stores/t1/webhook", shop["manager"]))[0] == 204
        assert (await api.get("/api/v1/stores/t1/webhook", shop["manager"]))[0] == 404
        assert (await api.delete("/api/v1/stores/t1/webhook", shop["manager"]))[0] == 404
        fail["on"] = False
        before = len(received)
        await book(5)
        await notices.run_once()
        assert len(received) == before
    finally:
        await notices.stop()
        await redis.aclose()
        await receiver.close()


async def test_talking_points_never_welcome_a_returning_customer_as_new(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book
) -> None:
    """The points say only what is known: a customer who booked before is not "first
    booking" (the points were once packed for an unknown customer and said so to all)."""
    first = await book(3)
    again = await book(5, viewer=first["viewer"])
    task = await task_of(api, ops_token, again["id"])
    assert task["customer"]["viewer_id"] == first["viewer_id"]
    assert not any("first booking" in p for p in task["info"]["talking_points"])
    assert any("Test room" in p for p in task["info"]["talking_points"])


async def test_a_guide_set_inactive_or_removed_can_no_longer_act(
    api: Api, ops_token: str, shop: dict[str, Any], book: Book
) -> None:
    """Inactive or off the roster, a guide's token no longer lists tasks (with customers'
    phone numbers), checks a visitor in or records a sale; the others' tokens still do."""
    booking = await book(3)  # g_an's
    an, bo = shop["guides"]["g_an"], shop["guides"]["g_bo"]
    arrive = f"/api/v1/stores/t1/bookings/{booking['id']}/arrive"
    order = {"order_id": "o-1", "amount": 99, "booking_id": booking["id"]}
    roster = [{**ROSTER[0], "active": False}, ROSTER[2]]  # g_an inactive, g_bo removed
    status, _ = await api.put("/api/v1/stores/t1/guides", ops_token, json=roster)
    assert status == 200
    for token, who in ((an, "g_an"), (bo, "g_bo")):
        for method, url, body in (("GET", "/api/v1/stores/t1/tasks", None),
                                  ("POST", arrive, None),
                                  ("POST", "/api/v1/stores/t1/orders", order)):  # fmt: skip
            status, problem = await api.call(method, url, token, json=body)
            assert status == 403 and who in problem["detail"], (who, url, problem)
    status, _ = await api.get("/api/v1/stores/t1/tasks", shop["guides"]["g_ce"])
    assert status == 200
    status, problem = await api.post(  # on the roster but inactive: no task for them
        f"/api/v1/tasks/t_{booking['id']}/reassign", shop["manager"], json={"guide_id": "g_an"}
    )
    assert status == 403 and "not an active guide" in problem["detail"], problem
    status, arrived = await api.post(arrive, shop["manager"])
    assert status == 200, arrived


async def test_a_store_managers_leaderboard_today_is_the_stores_own_day(
    api: Api, ops_token: str
) -> None:
    """Counters are kept by each store's local day; a manager's "today" is their store's
    (14:00 in Kiritimati and 14:00 in Pago Pago are always on different dates)."""
    for store_id, zone in (("kir", "Pacific/Kiritimati"), ("ppg", "Pacific/Pago_Pago")):
        await make_store(api, ops_token, store_id=store_id, timezone=zone)
        status, manager = await api.post(f"/api/v1/stores/{store_id}/staff-tokens", ops_token)
        assert status == 201, manager
        status, board = await api.get("/api/v1/brands/default/leaderboard", manager["token"])
        assert status == 200, board
        assert board["to"] == datetime.now(ZoneInfo(zone)).date().isoformat(), (zone, board)
