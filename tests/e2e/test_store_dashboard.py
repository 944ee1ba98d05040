"""The store dashboard in real Chromium: a booking made through the API shows within a
second, highlighted; check-in and coupon redemption work from the page."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from .conftest import ContextFactory, Steps
from .helpers import e2e_stores, store_today

pytestmark = pytest.mark.browser


async def _first_open_slot(api: Any, store: Any) -> str:
    status, slots = await api.get(f"/api/v1/stores/{store.id}/slots?date={store_today(store)}")
    assert status == 200, slots
    return str(next(s for s in slots["slots"] if s["remaining"] > 0)["start"])


async def test_dashboard_shows_booking_then_checks_in_and_redeems(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    staff_token: Any, new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    chain = e2e_stores()
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[s.model_dump(mode="json") for s in chain]
    )
    assert status == 200, body
    store = chain[0]
    room = await make_room(title="周末烘焙直播 <i>e2e</i>")
    viewer = await make_viewer(room["room_id"], external_id="+8613800138000")

    ctx = await new_context(viewport={"width": 1100, "height": 800})
    page = await ctx.new_page()
    await page.goto(f"{base_url}/store/{store.id}#token={staff_token(store.id)}")
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected")
    # The token left the address bar.
    assert "token" not in page.url
    await expect(page.locator(".empty")).to_be_visible()
    await steps.shot(page, "empty-dashboard")

    # A booking through the API appears within a second, highlighted as new.
    slot = await _first_open_slot(api, store)
    started = time.perf_counter()
    status, booking = await api.post(
        f"/api/v1/rooms/{room['room_id']}/bookings", viewer["token"],
        json={"store_id": store.id, "slot": slot, "service": "baking-class",
              "contact": "138 0013 8000"},
        headers={"Idempotency-Key": "e2e-dashboard-1"},
    )  # fmt: skip
    assert status == 201, booking
    row = page.locator(f".booking[data-booking-id='{booking['id']}']")
    await expect(row).to_be_visible(timeout=1000)
    shown_after = time.perf_counter() - started
    assert shown_after < 1.0, f"the booking took {shown_after:.3f}s to show"
    await expect(row).to_have_class("booking status-confirmed new")
    await expect(row.locator(".b-service")).to_have_text("周末烘焙课 Weekend baking class")
    await expect(row.locator(".b-context")).to_contain_text("周末烘焙直播 <i>e2e</i>")
    await expect(row.locator(".b-who")).to_contain_text("138 0013 8000")
    await steps.shot(page, "booking-arrived")

    # Check-in from the page.
    await row.locator("[data-action=arrive]").click()
    await expect(row).to_have_class("booking status-arrived new")
    await expect(row.locator("[data-action=arrive]")).to_have_count(0)
    await expect(page.locator("[data-counter=arrived] b")).to_have_text("1")
    await steps.shot(page, "checked-in")

    # A coupon claimed by the viewer is redeemed from the redeem box, once.
    expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    status, campaign = await api.post(
        f"/api/v1/rooms/{room['room_id']}/campaigns", room["host_token"],
        json={"title": "到店立减 20", "value": 20, "quantity": 10, "per_user": 1,
              "expires_at": expires},
    )  # fmt: skip
    assert status == 201, campaign
    status, dropped = await api.post(
        f"/api/v1/rooms/{room['room_id']}/campaigns/{campaign['id']}/drop", room["host_token"]
    )
    assert status == 200, dropped
    status, claim = await api.post(
        f"/api/v1/rooms/{room['room_id']}/campaigns/{campaign['id']}/claim", viewer["token"]
    )
    assert status == 201, claim

    await page.locator("#code").fill(claim["code"])
    await page.locator("#amount").fill("88")
    await page.locator("[data-action=redeem]").click()
    result = page.locator(".redeem-result")
    await expect(result).to_contain_text("核销成功")
    await expect(result).to_have_class("redeem-result ok")
    await expect(page.locator(".redeem-log li")).to_have_count(1)
    await steps.shot(page, "redeemed")

    # The same code again: refused, with the reason.
    await page.locator("#code").fill(claim["code"])
    await page.locator("[data-action=redeem]").click()
    await expect(result).to_contain_text("已核销")
    await expect(result).to_have_class("redeem-result error")
    await steps.shot(page, "redeemed-twice")


async def test_dashboard_resumes_after_losing_the_network(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    staff_token: Any, new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    """Offline, bookings keep coming; back online, the page reconnects by itself with its
    last id and shows every one of them, once."""
    chain = e2e_stores(capacity=10)
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[s.model_dump(mode="json") for s in chain]
    )
    assert status == 200, body
    store = chain[0]
    room = await make_room()
    slot = await _first_open_slot(api, store)

    async def book(n: int) -> str:
        viewer = await make_viewer(room["room_id"])
        status, booking = await api.post(
            f"/api/v1/rooms/{room['room_id']}/bookings", viewer["token"],
            json={"store_id": store.id, "slot": slot, "service": "cake-consult"},
            headers={"Idempotency-Key": f"e2e-resume-{n}"},
        )  # fmt: skip
        assert status == 201, booking
        return str(booking["id"])

    first = await book(0)
    ctx = await new_context(viewport={"width": 1000, "height": 700})
    page = await ctx.new_page()
    await page.goto(f"{base_url}/store/{store.id}#token={staff_token(store.id)}")
    await expect(page.locator(f"[data-booking-id='{first}']")).to_be_visible()

    await ctx.set_offline(True)
    await expect(page.locator(".conn")).to_have_attribute(
        "data-state", "reconnecting", timeout=15000
    )
    await steps.shot(page, "offline")
    missed = [await book(n) for n in (1, 2, 3)]

    await ctx.set_offline(False)
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected", timeout=15000)
    for booking_id in missed:
        await expect(page.locator(f"[data-booking-id='{booking_id}']")).to_have_count(1)
    await expect(page.locator(".booking")).to_have_count(4)
    await expect(page.locator("[data-counter=booked] b")).to_have_text("4")
    await steps.shot(page, "resumed")
