"""The booking widget opened by a live platform with a launch token, in real Chromium:
/embed/{room}?launch=<token> books as the viewer of that platform identity (OneID), with
no external id typed anywhere; the same identity in another room is the same viewer."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.async_api import expect

from live_server.rooms.models import sign_launch
from live_server.settings import Settings

from .conftest import ContextFactory, Steps
from .helpers import HERE, e2e_stores

pytestmark = pytest.mark.browser

PLATFORM_SECRET = "platform-launch-secret-for-the-browser-0123456789"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_changes(platform_secret=PLATFORM_SECRET)


async def test_widget_books_with_a_launch_token(
    base_url: str, api: Any, ops_token: str, make_room: Any, staff_token: Any,
    sio_client: Any, new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    chain = e2e_stores(4)
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[s.model_dump(mode="json") for s in chain]
    )
    assert status == 200, body
    room, other_room = await make_room(), await make_room()
    _, store_log = await sio_client("/store", staff_token("e2e-near"))
    exp = int(time.time()) + 600
    launch = sign_launch(PLATFORM_SECRET, "douyin", "open_e2e_buyer", room["room_id"], exp)

    ctx = await new_context(geolocation=HERE, permissions=["geolocation"])
    page = await ctx.new_page()
    viewers: list[dict[str, Any]] = []

    async def on_response(response: Any) -> None:
        if response.url.endswith("/viewers") and response.request.method == "POST":
            viewers.append({"status": response.status, "body": await response.json(),
                            "sent": response.request.post_data_json})  # fmt: skip

    page.on("response", on_response)
    await page.goto(f"{base_url}/embed/{room['room_id']}?launch={launch}")
    await expect(page.locator(".lc-book")).to_be_enabled(timeout=5000)
    await page.locator(".lc-book").click()
    stores = page.locator(".lc-store")
    await expect(stores.first).to_be_visible(timeout=5000)
    await stores.first.click()
    open_slot = page.locator(".lc-slot:not(.lc-full)").first
    await expect(open_slot).to_be_visible(timeout=5000)
    await open_slot.click()
    await page.locator("#lc-service").select_option("baking-class")
    await page.locator("#lc-phone").fill("13800138000")
    await page.locator("[data-k=confirm]").click()
    card = page.locator(".lc-confirmation")
    await expect(card).to_be_visible(timeout=5000)
    booking_id = await card.get_attribute("data-booking-id")
    await steps.shot(page, "booked-with-launch")

    # The widget passed the launch token on by itself, and got a verified viewer.
    assert viewers and viewers[0]["sent"] == {"launch": launch}, viewers
    assert viewers[0]["status"] == 201 and viewers[0]["body"]["verified"] is True
    viewer_id = viewers[0]["body"]["viewer_id"]

    def is_ours(event: dict[str, Any]) -> bool:
        booking = event.get("booking") if isinstance(event.get("booking"), dict) else event
        return booking_id in (event.get("booking_id"), booking.get("booking_id"), booking.get("id"))

    [event] = await store_log.wait_for("booking.created", where=is_ours, timeout=5)
    booking = event.get("booking") if isinstance(event.get("booking"), dict) else event
    assert booking["viewer_id"] == viewer_id

    # OneID: the same platform open id launched into another room is the same viewer.
    other = sign_launch(PLATFORM_SECRET, "douyin", "open_e2e_buyer", other_room["room_id"], exp)
    status, again = await api.post(
        f"/api/v1/rooms/{other_room['room_id']}/viewers", json={"launch": other}
    )
    assert status == 201 and again["viewer_id"] == viewer_id
