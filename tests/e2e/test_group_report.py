"""The brand's community groups report in real Chromium: two stores of one brand with a
group each, members joining (one with a platform identity who books and checks in), join
gifts issued through a real signed callback and one redeemed, a question forwarded from a
group. The page at 360 px lists the groups with their numbers, draws one SVG bar per group,
follows another join without a reload; it lays the charts side by side on a desktop and
says why it refuses a bad, expired or staff token (the server's problem detail).

Waiting is on the page (playwright's expect polls with a deadline) or on the receiver's
condition, never a sleep.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect

from live_server.core.signing import sign
from live_server.core.tokens import Role, TokenSigner
from live_server.rooms.models import sign_launch
from live_server.settings import Settings

from .conftest import ROOT, STATIC, ContextFactory, Steps
from .helpers import e2e_stores, store_today

pytestmark = pytest.mark.browser

BRAND = "e2e"
PLATFORM_SECRET = "platform-secret-for-the-report-test-0123456789"
GROUP_SECRET = "group-secret-of-the-report-test-0123456789"
NEAR, MID = "e2e-near", "e2e-mid"
# Group names are untrusted text: the page must show them as text.
GROUPS = {
    "g-near": (NEAR, "人民广场烘焙群 <b>Near</b>"),
    "g-mid": (MID, "静安烘焙群 Mid"),
}
GIFT = {"title": "入群礼 10 元 Join gift", "value": 10, "valid_days": 14}
WAIT_MS = 10_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Launch tokens (OneID) on; the outbox and the store-stream reader poll quickly."""
    return settings.with_changes(
        platform_secret=PLATFORM_SECRET,
        extra={**settings.extra, "group_retry_ms": "0", "group_poll_s": "0.1",
               "group_timer_poll_s": "0.2"},
    )  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _report_bundle() -> None:
    """report.js is built (the shared conftest checks the older pages only)."""
    if (STATIC / "report.js").is_file() and (STATIC / "report.css").is_file():
        return
    npm = shutil.which("npm")
    if npm is None or not (ROOT / "widgets" / "node_modules").is_dir():
        pytest.skip("the front end is not built (run `make frontend`)")
    subprocess.run([npm, "run", "--silent", "build"], cwd=ROOT / "widgets", check=True, timeout=120)


class GiftInbox:
    """The groups' bot: checks each notice's signature and keeps the join gifts' codes."""

    def __init__(self) -> None:
        self.codes: dict[str, list[str]] = {}
        self.changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = sign(GROUP_SECRET, request.headers["X-Timestamp"], raw)
        assert hmac.compare_digest(expected, request.headers["X-Signature"]), "bad signature"
        body = json.loads(raw)
        async with self.changed:
            if body["type"] == "join_gift":
                self.codes.setdefault(body["group_id"], []).append(body["code"])
            self.changed.notify_all()
        return web.Response(status=200)

    async def wait_codes(self, group: str, count: int) -> list[str]:
        async with self.changed:
            await asyncio.wait_for(
                self.changed.wait_for(lambda: len(self.codes.get(group, [])) >= count), 10
            )
            return self.codes[group]


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[GiftInbox, str]]:
    bot = GiftInbox()
    app = web.Application()
    app.router.add_post("/hook/{group}", bot.handle)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield bot, str(srv.make_url("")).rstrip("/")
    await srv.close()


# --- helpers ---------------------------------------------------------------------------------


def _signed(body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    ts = str(int(time.time()))
    return raw, {"Content-Type": "application/json", "X-Timestamp": ts,
                 "X-Signature": sign(GROUP_SECRET, ts, raw)}  # fmt: skip


def _launch(scope: str, open_id: str) -> str:
    return sign_launch(PLATFORM_SECRET, "douyin", open_id, scope, int(time.time()) + 600)


async def _join(api: Any, group: str, event_id: str, member: str, **extra: Any) -> None:
    raw, headers = _signed({"events": [{
        "id": event_id, "type": "member_joined", "member_id": member, "at": int(time.time()),
        **extra,
    }]})  # fmt: skip
    status, body = await api.post(f"/api/v1/groups/{group}/events", data=raw, headers=headers)
    assert status == 200 and body["results"][0]["applied"], body


async def _setup_brand(api: Any, ops_token: str, hook_base: str) -> None:
    """The e2e stores (brand e2e) and one group with a join gift at each of two of them."""
    chain = e2e_stores(capacity=10)
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[s.model_dump(mode="json") for s in chain]
    )
    assert status == 200, body
    for group, (store, name) in GROUPS.items():
        status, body = await api.put(f"/api/v1/groups/{group}", ops_token, json={
            "store_id": store, "name": name, "brand": BRAND, "secret": GROUP_SECRET,
            "callback_url": f"{hook_base}/hook/{group}", "join_gift": GIFT,
        })  # fmt: skip
        assert status == 200, body


async def _member_books_and_visits(api: Any, room_id: str, staff: str) -> None:
    """The member with a platform identity watches, books today at NEAR and checks in."""
    status, viewer = await api.post(
        f"/api/v1/rooms/{room_id}/viewers", json={"launch": _launch(room_id, "ou-lin")}
    )
    assert status == 201, viewer
    store = next(s for s in e2e_stores() if s.id == NEAR)
    status, slots = await api.get(f"/api/v1/stores/{NEAR}/slots?date={store_today(store)}")
    assert status == 200, slots
    later = datetime.now(UTC) + timedelta(minutes=30)
    slot = next(s["start"] for s in slots["slots"]
                if s["remaining"] > 0 and datetime.fromisoformat(s["start"]) >= later)  # fmt: skip
    status, booking = await api.post(
        f"/api/v1/rooms/{room_id}/bookings", viewer["token"],
        json={"store_id": NEAR, "slot": slot, "service": "cake-consult"},
        headers={"Idempotency-Key": "report-e2e-booking"},
    )  # fmt: skip
    assert status == 201, booking
    status, body = await api.post(f"/api/v1/stores/{NEAR}/bookings/{booking['id']}/arrive", staff)
    assert status == 200, body


async def _ask_in_group(api: Any, group: str, message_id: str) -> None:
    raw, headers = _signed({
        "message_id": message_id, "author_id": "wx-u-9", "author_name": "Wu",
        "text": "周末的课还有位置吗？", "sent_at": int(time.time()),
    })  # fmt: skip
    status, body = await api.post(f"/api/v1/groups/{group}/messages", data=raw, headers=headers)
    assert status == 200, body


def _row(page: Page, group: str) -> Any:
    return page.locator(f"table.groups tr[data-group='{group}']")


async def _expect_row(page: Page, group: str, **figures: int) -> None:
    row = _row(page, group)
    for key, value in figures.items():
        await expect(row.locator(f"td[data-k='{key}']")).to_have_text(str(value), timeout=WAIT_MS)


async def _open_report(new_context: ContextFactory, base_url: str, token: str, **opts: Any) -> Page:
    ctx = await new_context(**opts)
    page = await ctx.new_page()
    await page.goto(f"{base_url}/report/{BRAND}#token={token}")
    return page


# --- tests -----------------------------------------------------------------------------------


async def test_report_lists_each_group_with_charts_and_follows_new_joins(
    base_url: str, api: Any, ops_token: str, signer: TokenSigner, make_room: Any,
    inbox: tuple[GiftInbox, str], new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    bot, hook_base = inbox
    await _setup_brand(api, ops_token, hook_base)
    staff_near = signer.issue(Role.STAFF, NEAR, "staff")
    room = await make_room(title="周末烘焙直播", brand=BRAND)

    # g-near: three members (Lin with a platform identity), g-mid: one.
    await _join(api, "g-near", "e1", "wx-lin", name="Lin", launch=_launch("g-near", "ou-lin"))
    await _join(api, "g-near", "e2", "wx-wang", name="Wang")
    await _join(api, "g-near", "e3", "wx-zhao", name="Zhao")
    await _join(api, "g-mid", "e4", "wx-qian", name="Qian")
    near_codes = await bot.wait_codes("g-near", 3)
    await bot.wait_codes("g-mid", 1)
    # One gift redeemed in its store; Lin books and checks in; a question from g-near.
    status, body = await api.post(
        f"/api/v1/stores/{NEAR}/redemptions", staff_near, json={"code": near_codes[0]}
    )
    assert status == 200, body
    await _member_books_and_visits(api, room["room_id"], staff_near)
    await _ask_in_group(api, "g-near", "q-1")

    page = await _open_report(new_context, base_url, ops_token)  # 360 x 780, zh-CN
    assert "token" not in page.url  # the fragment is taken out of the address bar
    await expect(page.locator("h1")).to_have_text(f"社群报表 Group report · {BRAND}")
    # Both groups, by name (as text) and store. Bookings and visits come from the store
    # stream (read every 0.2 s): the page shows them on a later refresh.
    await expect(page.locator("table.groups tbody tr")).to_have_count(2)
    await expect(_row(page, "g-near").locator(".name")).to_have_text("人民广场烘焙群 <b>Near</b>")
    await expect(_row(page, "g-near").locator(".store")).to_have_text(NEAR)
    await expect(_row(page, "g-mid").locator(".name")).to_have_text("静安烘焙群 Mid")
    await _expect_row(
        page, "g-near", members=3, members_joined=3, questions=1, gifts_issued=3,
        gifts_redeemed=1, bookings=1, visits=1,
    )  # fmt: skip
    await _expect_row(
        page, "g-mid", members=1, members_joined=1, questions=0, gifts_issued=1,
        gifts_redeemed=0, bookings=0, visits=0,
    )  # fmt: skip
    totals = page.locator(".counters")
    for key, value in (("groups", 2), ("members_joined", 4), ("gifts_issued", 4),
                       ("gifts_redeemed", 1), ("bookings", 1), ("visits", 1),
                       ("questions", 1), ("redeem_rate", "25%")):  # fmt: skip
        await expect(totals.locator(f"[data-total='{key}'] b")).to_have_text(str(value))

    # The members-joined chart: one bar per group, longer for the bigger group.
    joined = page.locator("svg[data-chart='joined']")
    await expect(joined).to_be_visible()
    await expect(joined.locator("rect.bar")).to_have_count(2)
    near_bar = joined.locator("rect.bar[data-group='g-near']")
    mid_bar = joined.locator("rect.bar[data-group='g-mid']")
    await expect(near_bar).to_have_attribute("data-value", "3")
    await expect(mid_bar).to_have_attribute("data-value", "1")
    near_w = float(await near_bar.get_attribute("width") or 0)
    mid_w = float(await mid_bar.get_attribute("width") or 0)
    assert near_w > 2.5 * mid_w > 0, (near_w, mid_w)
    await expect(joined.locator("g.row[data-group='g-near'] text.label")).to_have_text(
        f"人民广场烘焙群 <b>Near</b> · {NEAR}"
    )
    # Paired bars: issued vs redeemed, bookings vs visits, for each group.
    gifts = page.locator("svg[data-chart='gifts']")
    await expect(gifts.locator("rect.bar")).to_have_count(4)
    await expect(
        gifts.locator("rect[data-group='g-near'][data-series='gifts_redeemed']")
    ).to_have_attribute("data-value", "1")
    visits = page.locator("svg[data-chart='visits']")
    await expect(visits.locator("rect.bar")).to_have_count(4)
    await expect(
        visits.locator("rect[data-group='g-near'][data-series='visits']")
    ).to_have_attribute("data-value", "1")
    # Readable at 360 px: nothing sticks out sideways but the table (which scrolls).
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    box = await joined.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, box
    await steps.shot(page, "report-360")

    # Two more people join g-mid: the page follows without a reload.
    await page.evaluate("window.__sameDocument = true")
    await _join(api, "g-mid", "e5", "wx-sun", name="Sun")
    await _join(api, "g-mid", "e6", "wx-li", name="Li")
    await expect(mid_bar).to_have_attribute("data-value", "3", timeout=WAIT_MS)
    await _expect_row(page, "g-mid", members=3, members_joined=3)
    await expect(totals.locator("[data-total='members_joined'] b")).to_have_text("6")
    await expect(_row(page, "g-near").locator("td[data-k='members_joined']")).to_have_text("3")
    assert await page.evaluate("window.__sameDocument === true")
    await steps.shot(page, "report-after-joins")

    # A desktop: the three charts side by side, the same figures.
    wide = await _open_report(
        new_context, base_url, ops_token, viewport={"width": 1280, "height": 900}
    )
    await expect(wide.locator(".charts")).to_have_class("charts cols-3")
    await expect(wide.locator("svg[data-chart='joined'] rect.bar")).to_have_count(2)
    await _expect_row(wide, "g-mid", members_joined=3)
    cards = wide.locator(".chart-card")
    await expect(cards).to_have_count(3)
    boxes = [await cards.nth(i).bounding_box() for i in range(3)]
    assert all(b is not None for b in boxes)
    assert len({round(b["y"]) for b in boxes if b}) == 1, boxes  # one row of charts
    assert await wide.evaluate("document.documentElement.scrollWidth") <= 1280
    await steps.shot(wide, "report-desktop")


async def test_report_says_why_a_token_is_refused(
    base_url: str, api: Any, ops_token: str, signer: TokenSigner,
    inbox: tuple[GiftInbox, str], new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    _, hook_base = inbox
    await _setup_brand(api, ops_token, hook_base)
    path = f"/api/v1/brands/{BRAND}/groups/stats"
    cases = {
        "bad": ("not-a-token", "令牌无效或已过期 Token invalid or expired"),
        "expired": (
            signer.issue(Role.OPS, "*", "ops", 60, now=time.time() - 3600),
            "令牌无效或已过期 Token invalid or expired",
        ),
        # Ops and the brand's own stores' staff: another store's staff token is refused
        # with the server's reason.
        "staff": (signer.issue(Role.STAFF, "not-of-this-brand", "staff"), "无权查看 Not allowed"),
        # A brand's own ops token is for its brand only.
        "other-brand": (signer.issue(Role.OPS, "brand:other", "ops"), "无权查看 Not allowed"),
    }
    for name, (token, prefix) in cases.items():
        status, problem = await api.get(path, token)
        assert status in (401, 403) and problem["detail"], (status, problem)
        page = await _open_report(new_context, base_url, token)
        alert = page.locator("form.signin [role=alert]")
        await expect(alert).to_have_text(f"{prefix}: {problem['detail']}")
        await expect(page.locator("form.signin input#token")).to_be_focused()
        assert "token" not in page.url
        await steps.shot(page, f"refused-{name}")
        if name == "staff":
            # Signing in again with the brand's ops token from the form opens the report.
            await page.locator("input#token").fill(signer.issue(Role.OPS, f"brand:{BRAND}", "ops"))
            await page.locator("form.signin button[type=submit]").click()
            await expect(page.locator("table.groups tbody tr")).to_have_count(2)
            await steps.shot(page, "signed-in-with-ops")
