"""Guides' pages in real Chromium: a booking made in the widget shows on the assigned
guide's phone page within a second; left unaccepted it moves to the other guide's page;
accepted, checked in and sold, it shows on the brand's leaderboard with the 70/30 credit;
the manager reassigns from the store dashboard; a guide's page resumes after losing the
network."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from playwright.async_api import Page, expect

from live_server.settings import Settings

from ..conftest import TEST_SECRET
from .conftest import ROOT, STATIC, ContextFactory, Steps
from .helpers import HERE, e2e_stores, store_today

pytestmark = pytest.mark.browser

STORE = "e2e-near"  # the nearest store to HERE: the widget's first choice
GUIDES = [
    {"id": "g_li", "name": "李娜 <b>Li</b>", "active": True},
    {"id": "g_wang", "name": "王芳 Wang", "active": True},
]
ACCEPTED = re.compile(r"\bstatus-accepted\b")


def classes(*names: str) -> re.Pattern[str]:
    """Has every class named (a card may also carry new / reminder)."""
    return re.compile("".join(rf"(?=.*\b{re.escape(n)}\b)" for n in names))


FAST_TIMERS = {"LIVE_TASK_ACCEPT_S": "2", "LIVE_TASK_TIMER_POLL_S": "0.2"}


# --- fixtures: the server with the guides' pages, timers per test ----------------------------


@pytest.fixture
def task_env() -> dict[str, str]:
    """Extra environment of the server (a test parametrizes it for fast task timers)."""
    return {}


@pytest.fixture
def settings(
    tmp_path: Path, redis_url: str, clean_redis: sync_redis.Redis, redis_cluster: bool,
    task_env: dict[str, str],
) -> Settings:  # fmt: skip
    return Settings.from_env(
        task_env,
        data_dir=tmp_path,
        redis_url=redis_url,
        secret=TEST_SECRET,
        access_log=False,
        redis_cluster=redis_cluster or None,
        rate_limit_exempt=("127.0.0.1",),
    )


@pytest.fixture(scope="module", autouse=True)
def _guide_bundles() -> None:
    """guide.js and leaderboard.js are built (the shared conftest checks the older pages)."""
    if all((STATIC / f"{name}.js").is_file() for name in ("guide", "leaderboard")):
        return
    npm = shutil.which("npm")
    if npm is None or not (ROOT / "widgets" / "node_modules").is_dir():
        pytest.skip("the front end is not built (run `make frontend`)")
    subprocess.run([npm, "run", "--silent", "build"], cwd=ROOT / "widgets", check=True, timeout=120)


# --- helpers ---------------------------------------------------------------------------------


async def _store_with_guides(api: Any, ops_token: str) -> dict[str, str]:
    """The e2e stores, two guides at STORE; returns guide id -> guide token (and 'manager')."""
    chain = e2e_stores(capacity=10)
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[s.model_dump(mode="json") for s in chain]
    )
    assert status == 200, body
    status, body = await api.put(f"/api/v1/stores/{STORE}/guides", ops_token, json=GUIDES)
    assert status == 200, body
    tokens = {}
    for guide in GUIDES:
        status, body = await api.post(
            f"/api/v1/stores/{STORE}/staff-tokens", ops_token, json={"guide_id": guide["id"]}
        )
        assert status == 201, body
        tokens[guide["id"]] = body["token"]
    status, body = await api.post(f"/api/v1/stores/{STORE}/staff-tokens", ops_token, json={})
    assert status == 201, body
    tokens["manager"] = body["token"]
    return tokens


async def _open_slot(api: Any, days: int = 0) -> str:
    """An open slot today (or ``days`` later) that starts in an hour or more (a no-show is
    refused before it)."""
    store = next(s for s in e2e_stores() if s.id == STORE)
    day = date.fromisoformat(store_today(store)) + timedelta(days=days)
    status, slots = await api.get(f"/api/v1/stores/{STORE}/slots?date={day.isoformat()}")
    assert status == 200, slots
    later = datetime.now(UTC) + timedelta(hours=1)
    return str(
        next(
            s for s in slots["slots"]
            if s["remaining"] > 0 and datetime.fromisoformat(s["start"]) >= later
        )["start"]
    )  # fmt: skip


async def _book(
    api: Any, make_viewer: Any, room_id: str, key: str, days: int = 0
) -> dict[str, Any]:
    viewer = await make_viewer(room_id)
    status, booking = await api.post(
        f"/api/v1/rooms/{room_id}/bookings", viewer["token"],
        json={"store_id": STORE, "slot": await _open_slot(api, days), "service": "cake-consult"},
        headers={"Idempotency-Key": key},
    )  # fmt: skip
    assert status == 201, booking
    return dict(booking)


async def _task(api: Any, ops_token: str, booking_id: str) -> dict[str, Any]:
    status, task = await api.get(f"/api/v1/tasks/t_{booking_id}", ops_token)
    assert status == 200, task
    return dict(task)


async def _guide_page(new_context: ContextFactory, base_url: str, token: str) -> tuple[Any, Page]:
    ctx = await new_context()  # 360 x 780, zh-CN
    page = await ctx.new_page()
    await page.goto(f"{base_url}/guide/{STORE}#token={token}")
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected")
    assert "token" not in page.url
    return ctx, page


def _other(guide_id: str) -> str:
    return next(g["id"] for g in GUIDES if g["id"] != guide_id)


# --- tests -----------------------------------------------------------------------------------


async def test_widget_booking_shows_on_the_assigned_guides_phone_within_a_second(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    tokens = await _store_with_guides(api, ops_token)
    room = await make_room(title="周末烘焙直播 <i>e2e</i>")
    # One guide already holds an accepted task: the next one goes to the other (fewest open).
    earlier = await _book(api, make_viewer, room["room_id"], "e2e-guides-earlier")
    busy = (await _task(api, ops_token, earlier["id"]))["guide_id"]
    status, body = await api.post(f"/api/v1/tasks/t_{earlier['id']}/accept", tokens[busy])
    assert status == 200, body
    free = _other(busy)

    _, busy_page = await _guide_page(new_context, base_url, tokens[busy])
    _, free_page = await _guide_page(new_context, base_url, tokens[free])
    await expect(busy_page.locator(f".task[data-booking-id='{earlier['id']}']")).to_have_class(
        ACCEPTED
    )
    await expect(free_page.locator(".tasks .none")).to_be_visible()
    await steps.shot(free_page, "free-guide-empty")

    widget_ctx = await new_context(geolocation=HERE, permissions=["geolocation"])
    widget = await widget_ctx.new_page()
    await widget.goto(f"{base_url}/demo/room/{room['room_id']}")
    await expect(widget.locator(".lc-book")).to_be_enabled(timeout=5000)
    await widget.locator(".lc-book").click()
    await expect(widget.locator(".lc-store").first).to_have_attribute("data-store-id", STORE)
    await widget.locator(".lc-store").first.click()
    await widget.locator(".lc-slot:not(.lc-full)").first.click()
    await widget.locator("#lc-service").select_option("baking-class")
    await widget.locator("#lc-phone").fill("13800138000")

    started = time.perf_counter()
    await widget.locator("[data-k=confirm]").click()
    card = free_page.locator(".task.status-assigned")
    await expect(card).to_be_visible(timeout=1000)
    shown_after = time.perf_counter() - started
    assert shown_after < 1.0, f"the task took {shown_after:.3f}s to reach the guide's page"
    await expect(card).to_have_class(classes("task", "status-assigned", "new"))

    confirmation = widget.locator(".lc-confirmation")
    await expect(confirmation).to_be_visible()
    booking_id = await confirmation.get_attribute("data-booking-id")
    assert booking_id and await card.get_attribute("data-booking-id") == booking_id
    assert (await _task(api, ops_token, booking_id))["guide_id"] == free
    # Only the assigned guide has it.
    await expect(busy_page.locator(f".task[data-booking-id='{booking_id}']")).to_have_count(0)

    # The customer card: new customer, what they watched and booked, what to say, the phone.
    await expect(card.locator(".t-service")).to_have_text("周末烘焙课 Weekend baking class")
    customer = card.locator(".customer")
    await expect(customer.locator(".badge.first")).to_have_text("新客 New")
    await expect(customer.locator(".c-what")).to_contain_text("周末烘焙直播 <i>e2e</i>")
    await expect(customer.locator(".c-points li").first).to_contain_text("周末烘焙直播")
    await expect(customer.locator(".c-phone")).to_have_text("☎ 13800138000")
    await expect(card.locator("[data-action=accept]")).to_be_enabled()
    await expect(free_page.locator("[data-counter=assigned] b")).to_have_text("1")
    await steps.shot(free_page, "task-arrived-on-guide-phone")
    await steps.shot(widget, "widget-confirmation")


@pytest.mark.parametrize("task_env", [FAST_TIMERS])
async def test_unaccepted_task_moves_to_the_other_guides_page(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    """LIVE_TASK_ACCEPT_S=2: nobody accepts, the task leaves the first guide's page and
    shows on the other's, who accepts it there (then it stays)."""
    tokens = await _store_with_guides(api, ops_token)
    room = await make_room()
    _, li_page = await _guide_page(new_context, base_url, tokens["g_li"])
    _, wang_page = await _guide_page(new_context, base_url, tokens["g_wang"])
    pages = {"g_li": li_page, "g_wang": wang_page}

    booking = await _book(api, make_viewer, room["room_id"], "e2e-guides-move")
    first = (await _task(api, ops_token, booking["id"]))["guide_id"]
    second = _other(first)
    selector = f".task[data-booking-id='{booking['id']}']"
    await expect(pages[first].locator(selector)).to_be_visible(timeout=1000)
    await expect(pages[first].locator(f"{selector} .accept-by")).to_be_visible()
    await steps.shot(pages[first], "assigned-to-first")

    # Not accepted within 2 s: it moves (timers polled every 0.2 s).
    moved = pages[second].locator(selector)
    await expect(moved).to_be_visible(timeout=5000)
    await expect(pages[first].locator(selector)).to_have_count(0)
    await expect(pages[first].locator(".notice")).to_contain_text("任务已转给")
    await expect(moved.locator(".t-flags")).to_contain_text("转派 Reassigned")
    await steps.shot(pages[second], "moved-to-second")

    await moved.locator("[data-action=accept]").click()
    await expect(moved).to_have_class(ACCEPTED)
    task = await _task(api, ops_token, booking["id"])
    assert (task["guide_id"], task["status"]) == (second, "accepted")
    assert task["reassigned"] >= 1
    await steps.shot(pages[second], "accepted-by-second")


async def test_accept_arrive_and_order_show_on_the_leaderboard_with_the_70_30_credit(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    tokens = await _store_with_guides(api, ops_token)
    room = await make_room()
    booking = await _book(api, make_viewer, room["room_id"], "e2e-guides-credit")
    guide = (await _task(api, ops_token, booking["id"]))["guide_id"]
    _, page = await _guide_page(new_context, base_url, tokens[guide])

    card = page.locator(f".task[data-booking-id='{booking['id']}']")
    await expect(card).to_be_visible()
    await card.locator("[data-action=accept]").click()
    await expect(card).to_have_class(ACCEPTED)
    # Refusals carry the server's reason: accepting twice is fine (idempotent), a no-show
    # before the visit is not.
    await card.locator("[data-action=no-show]").click()
    await expect(card.locator(".t-error")).to_contain_text("the visit has not started yet")
    await expect(page.locator(".notice")).to_have_attribute("role", "alert")
    await steps.shot(page, "refused-no-show")
    await card.locator("[data-action=arrive]").click()
    done = page.locator(f".done .task[data-booking-id='{booking['id']}']")
    await expect(done).to_have_class(classes("task", "status-arrived"))
    await expect(page.locator("[data-counter=arrived] b")).to_have_text("1")
    await expect(page.locator(".tasks .none")).to_be_visible()
    await steps.shot(page, "arrived")

    # The page asks for the browser's today; the e2e stores' today is UTC's (it is noon there).
    board_ctx = await new_context(viewport={"width": 1000, "height": 800}, timezone_id="UTC")
    board = await board_ctx.new_page()
    await board.goto(f"{base_url}/leaderboard/e2e#token={tokens['manager']}")
    row = board.locator(f"table.guides tr[data-guide-id='{guide}']")
    await expect(row.locator("[data-k=arrivals]")).to_have_text("1", timeout=5000)
    await expect(row.locator("[data-k=accepted]")).to_have_text("1")
    await expect(row.locator("[data-k=credit]")).to_have_text("¥0.00")
    await steps.shot(board, "leaderboard-before-sale")

    # The sale at the till: the open page shows it on its next refresh (every 2 s).
    status, order = await api.post(
        f"/api/v1/stores/{STORE}/orders", tokens["manager"],
        json={"order_id": "pos-e2e-1", "amount": 200, "booking_id": booking["id"]},
    )  # fmt: skip
    assert status == 201, order
    assert (order["store_credit"], order["live_credit"]) == (140.0, 60.0)
    await expect(row.locator("[data-k=credit]")).to_have_text("¥140.00", timeout=5000)
    await expect(row.locator("[data-k=live]")).to_have_text("¥60.00")
    await expect(row.locator("[data-k=orders]")).to_have_text("1")
    await expect(row.locator("[data-k=amount]")).to_have_text("¥200.00")
    await expect(row.locator("td.rank")).to_have_text("1")
    name = GUIDES[0]["name"] if guide == "g_li" else GUIDES[1]["name"]
    await expect(row.locator(".name")).to_have_text(name)  # markup in a name stays text
    await expect(board.locator("[data-counter=live-credit] b")).to_have_text("¥60.00")
    store_row = board.locator(f"table.stores tr[data-store-id='{STORE}']")
    await expect(store_row.locator("[data-k=credit]")).to_have_text("¥140.00")
    await expect(board.locator(".split")).to_contain_text("门店 70% / 直播 30%")
    await steps.shot(board, "leaderboard-70-30")

    # At 360 px the page still works (the tables scroll sideways).
    await board.set_viewport_size({"width": 360, "height": 780})
    await expect(row.locator("[data-k=credit]")).to_have_text("¥140.00")
    await steps.shot(board, "leaderboard-360")


async def test_a_visitor_checked_in_early_for_tomorrow_counts_as_arrived_today(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    new_context: ContextFactory,
) -> None:  # fmt: skip
    """A customer booked for tomorrow walks in today: the guide checks them in and the
    card moves to today's done list (it once vanished from both lists)."""
    tokens = await _store_with_guides(api, ops_token)
    room = await make_room()
    booking = await _book(api, make_viewer, room["room_id"], "e2e-guides-early", days=1)
    guide = (await _task(api, ops_token, booking["id"]))["guide_id"]
    _, page = await _guide_page(new_context, base_url, tokens[guide])
    card = page.locator(f".task[data-booking-id='{booking['id']}']")
    await card.locator("[data-action=accept]").click()
    await expect(card).to_have_class(ACCEPTED)
    await card.locator("[data-action=arrive]").click()
    done = page.locator(f".done .task[data-booking-id='{booking['id']}']")
    await expect(done).to_have_class(classes("task", "status-arrived"))
    await expect(page.locator("[data-counter=arrived] b")).to_have_text("1")


async def test_manager_reassigns_from_the_dashboard_and_the_guides_pages_follow(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    tokens = await _store_with_guides(api, ops_token)
    room = await make_room()
    booking = await _book(api, make_viewer, room["room_id"], "e2e-guides-reassign")
    first = (await _task(api, ops_token, booking["id"]))["guide_id"]
    second = _other(first)
    _, second_page = await _guide_page(new_context, base_url, tokens[second])

    ctx = await new_context(viewport={"width": 1100, "height": 900})
    dash = await ctx.new_page()
    await dash.goto(f"{base_url}/store/{STORE}#token={tokens['manager']}")
    await expect(dash.locator(".conn")).to_have_attribute("data-state", "connected")
    column = dash.locator(f".guide-col[data-guide-id='{first}']")
    row = column.locator(f".gtask[data-task-id='t_{booking['id']}']")
    await expect(row).to_be_visible()
    await expect(dash.locator(f".guide-col[data-guide-id='{second}'] .g-none")).to_be_visible()
    await steps.shot(dash, "tasks-by-guide")

    await row.locator("[data-role=reassign-to]").select_option(second)
    await row.locator("[data-action=reassign]").click()
    task_id = f"t_{booking['id']}"
    moved = dash.locator(f".guide-col[data-guide-id='{second}'] .gtask[data-task-id='{task_id}']")
    await expect(moved).to_be_visible()
    await expect(column.locator(".gtask")).to_have_count(0)
    await expect(second_page.locator(f".task[data-booking-id='{booking['id']}']")).to_be_visible()
    await steps.shot(dash, "reassigned")

    # The guide accepts on the phone: the dashboard follows live.
    await second_page.locator("[data-action=accept]").click()
    await expect(moved).to_have_class(classes("gtask", "status-accepted"))
    # Reassigning to the guide who already has it is refused, with the reason shown.
    only_second = [{**g, "active": g["id"] == second} for g in GUIDES]
    status, body = await api.put(f"/api/v1/stores/{STORE}/guides", ops_token, json=only_second)
    assert status == 200, body
    await moved.locator("[data-action=reassign]").click()
    await expect(moved.locator(".error")).to_contain_text("改派失败")
    await steps.shot(dash, "reassign-refused")


async def test_guide_page_resumes_after_losing_the_network(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    """Offline, tasks keep coming; back online, the page reconnects with its last id and
    shows each of them once."""
    tokens = await _store_with_guides(api, ops_token)
    status, body = await api.put(f"/api/v1/stores/{STORE}/guides", ops_token, json=GUIDES[:1])
    assert status == 200, body  # one guide: every task is g_li's
    room = await make_room()
    first = await _book(api, make_viewer, room["room_id"], "e2e-guides-resume-0")
    ctx, page = await _guide_page(new_context, base_url, tokens["g_li"])
    await expect(page.locator(f".task[data-booking-id='{first['id']}']")).to_be_visible()

    await ctx.set_offline(True)
    await expect(page.locator(".conn")).to_have_attribute(
        "data-state", "reconnecting", timeout=15000
    )
    missed = [await _book(api, make_viewer, room["room_id"], f"e2e-guides-resume-{n}")
              for n in (1, 2)]  # fmt: skip
    await steps.shot(page, "offline")

    await ctx.set_offline(False)
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected", timeout=15000)
    for booking in missed:
        await expect(page.locator(f".task[data-booking-id='{booking['id']}']")).to_have_count(1)
    await expect(page.locator(".tasks:not(.done) .task")).to_have_count(3)
    await expect(page.locator("[data-counter=open] b")).to_have_text("3")
    await steps.shot(page, "resumed")
