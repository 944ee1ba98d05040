"""The booking widget in real Chromium: book with a granted location and see the booking
on the store channel; the refused-location path (city picker); a full slot shown as full.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.async_api import Page, expect

from .conftest import ContextFactory, Steps
from .helpers import HERE, e2e_stores, store_today

pytestmark = pytest.mark.browser


async def _put_stores(api: Any, ops_token: str, capacity: int = 4) -> list[Any]:
    chain = e2e_stores(capacity)
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[s.model_dump(mode="json") for s in chain]
    )
    assert status == 200, body
    return chain


async def _open_room(page: Page, base_url: str, room_id: str) -> None:
    await page.goto(f"{base_url}/demo/room/{room_id}")
    # The launcher is enabled once the widget knows the room is live.
    await expect(page.locator(".lc-book")).to_be_enabled(timeout=5000)


async def test_book_with_granted_location_reaches_store_channel(
    base_url: str, api: Any, ops_token: str, make_room: Any, staff_token: Any,
    sio_client: Any, new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    await _put_stores(api, ops_token)
    room = await make_room()
    _, store_log = await sio_client("/store", staff_token("e2e-near"))

    ctx = await new_context(geolocation=HERE, permissions=["geolocation"])
    page = await ctx.new_page()
    await _open_room(page, base_url, room["room_id"])
    await steps.shot(page, "room")

    await page.locator(".lc-book").click()
    stores = page.locator(".lc-store")
    await expect(stores.first).to_be_visible(timeout=5000)
    # Nearest first, with its distance; the store's name is text, markup and all.
    await expect(stores.first).to_have_attribute("data-store-id", "e2e-near")
    await expect(stores.first.locator(".lc-store-name")).to_have_text("测试店 人民广场 <b>Near</b>")
    await expect(stores.first.locator(".lc-store-dist")).to_contain_text("米")
    await steps.shot(page, "nearest-stores")

    await stores.first.click()
    open_slot = page.locator(".lc-slot:not(.lc-full)").first
    await expect(open_slot).to_be_visible(timeout=5000)
    slot_start = await open_slot.get_attribute("data-slot")
    await steps.shot(page, "slots")

    await open_slot.click()
    await expect(page.locator("#lc-service")).to_be_focused()
    await page.locator("#lc-service").select_option("baking-class")
    await page.locator("#lc-phone").fill("13800138000")
    await steps.shot(page, "details")
    await page.locator("[data-k=confirm]").click()

    card = page.locator(".lc-confirmation")
    await expect(card).to_be_visible(timeout=5000)
    booking_id = await card.get_attribute("data-booking-id")
    assert booking_id
    await expect(card.locator(".lc-booking-id code")).to_have_text(booking_id)
    await steps.shot(page, "confirmation")

    def is_ours(event: dict[str, Any]) -> bool:
        booking = event.get("booking") if isinstance(event.get("booking"), dict) else event
        return booking_id in (event.get("booking_id"), booking.get("booking_id"), booking.get("id"))

    [event] = await store_log.wait_for("booking.created", where=is_ours, timeout=5)
    assert event["id"]  # its stream id
    booking = event.get("booking") if isinstance(event.get("booking"), dict) else event
    assert booking["slot"] == slot_start
    assert booking["service"] == "baking-class"


async def test_refused_location_offers_the_city_picker(
    base_url: str, api: Any, ops_token: str, make_room: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    await _put_stores(api, ops_token)
    room = await make_room()
    ctx = await new_context(permissions=[])  # no geolocation grant: the browser refuses
    page = await ctx.new_page()
    await _open_room(page, base_url, room["room_id"])

    await page.locator(".lc-book").click()
    city = page.locator("#lc-city")
    await expect(city).to_be_visible(timeout=5000)
    await expect(city).to_be_focused()
    await expect(page.locator(".lc-picker .lc-note")).to_contain_text("未获得定位权限")
    await steps.shot(page, "picker")

    # Keyboard only: pick the city and submit.
    await city.select_option(label="上海")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    stores = page.locator(".lc-store")
    await expect(stores.first).to_be_visible(timeout=5000)
    assert await stores.count() == 3
    await steps.shot(page, "city-stores")

    # English toggle keeps the step and translates it.
    await page.locator(".lc-lang").click()
    await expect(page.locator(".lc-step-title")).to_have_text("Stores near you")
    await expect(page.locator(".lc-lang")).to_be_focused()
    await steps.shot(page, "english")

    # The ask box: the question reaches the room (and the text stays in English UI).
    await page.locator("#lc-question").fill("Can I book a baking class for two?")
    await page.locator("[data-k=ask]").click()
    await expect(page.locator("#lc-ask-msg")).to_have_text("Sent. The host will answer soon.")
    await steps.shot(page, "question-sent")


async def test_full_slot_is_shown_as_full(
    base_url: str, api: Any, ops_token: str, make_room: Any, make_viewer: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    chain = await _put_stores(api, ops_token, capacity=1)
    store = chain[0]
    room = await make_room()
    status, slots = await api.get(f"/api/v1/stores/{store.id}/slots?date={store_today(store)}")
    assert status == 200, slots
    first_open = next(s for s in slots["slots"] if s["remaining"] > 0)
    viewer = await make_viewer(room["room_id"])
    status, booking = await api.post(
        f"/api/v1/rooms/{room['room_id']}/bookings", viewer["token"],
        json={"store_id": store.id, "slot": first_open["start"], "service": "cake-consult"},
        headers={"Idempotency-Key": "e2e-full-slot"},
    )  # fmt: skip
    assert status == 201, booking

    ctx = await new_context(geolocation=HERE, permissions=["geolocation"])
    page = await ctx.new_page()
    await _open_room(page, base_url, room["room_id"])
    await page.locator(".lc-book").click()
    await page.locator(f".lc-store[data-store-id='{store.id}']").click()
    full = page.locator(f".lc-slot[data-slot='{first_open['start']}']")
    await expect(full).to_be_visible(timeout=5000)
    await expect(full).to_have_class("lc-slot lc-full")
    await expect(full).to_be_disabled()
    await expect(full.locator(".lc-slot-left")).to_have_text("已满")
    await expect(full).to_have_attribute("aria-label", f"{first_open['start'][11:16]}，已约满")
    await steps.shot(page, "full-slot")


async def test_a_scheduled_broadcast_takes_pre_bookings_in_the_widget(
    base_url: str, api: Any, ops_token: str, make_room: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    """Before the broadcast (its preview went out to the groups), the widget says so and
    books; the booking is a pre-booking."""
    await _put_stores(api, ops_token)
    room = await make_room(live=False, scheduled_at=int(time.time()) + 2 * 24 * 3600)
    ctx = await new_context(geolocation=HERE, permissions=["geolocation"])
    page = await ctx.new_page()
    await _open_room(page, base_url, room["room_id"])
    await expect(page.locator(".lc-note")).to_contain_text("提前预约")
    await page.locator(".lc-book").click()
    await page.locator(".lc-store").first.click()
    await page.locator(".lc-slot:not(.lc-full)").first.click()
    await page.locator("#lc-phone").fill("13800138000")
    await page.locator("[data-k=confirm]").click()
    card = page.locator(".lc-confirmation")
    await expect(card).to_be_visible(timeout=5000)
    await steps.shot(page, "pre-booked")
    booking_id = await card.get_attribute("data-booking-id")
    status, booking = await api.get(f"/api/v1/bookings/{booking_id}", ops_token)
    assert status == 200 and booking["source"] == "preview", booking
