"""A coupon drop claimed in the widget shows on the booking's confirmation card (code and
QR); the stats page draws the funnel of that room and exports it as CSV."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from .conftest import ContextFactory, Steps
from .helpers import HERE, e2e_stores

pytestmark = pytest.mark.browser


async def test_claim_in_widget_then_book_and_read_the_funnel(
    base_url: str, api: Any, ops_token: str, make_room: Any,
    new_context: ContextFactory, steps: Steps, tmp_path: Path,
) -> None:  # fmt: skip
    chain = e2e_stores()
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[s.model_dump(mode="json") for s in chain]
    )
    assert status == 200, body
    for store in chain:  # each store's one guide: the booking becomes her task
        status, body = await api.put(
            f"/api/v1/stores/{store.id}/guides", ops_token, json=[{"id": "g1", "name": "李娜"}]
        )
        assert status == 200, body
    room = await make_room()
    room_id, host = room["room_id"], room["host_token"]

    ctx = await new_context(geolocation=HERE, permissions=["geolocation"])
    page = await ctx.new_page()
    await page.goto(f"{base_url}/demo/room/{room_id}")
    await expect(page.locator(".lc-book")).to_be_enabled(timeout=5000)

    # The host drops coupons while the viewer watches: the drop appears live.
    expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    status, campaign = await api.post(
        f"/api/v1/rooms/{room_id}/campaigns", host,
        json={"title": "新品试吃券", "value": 15, "quantity": 5, "per_user": 1,
              "expires_at": expires},
    )  # fmt: skip
    assert status == 201, campaign
    status, _ = await api.post(f"/api/v1/rooms/{room_id}/campaigns/{campaign['id']}/drop", host)
    assert status == 200
    drop = page.locator(f".lc-drop[data-campaign-id='{campaign['id']}']")
    await expect(drop).to_be_visible(timeout=3000)
    await expect(drop.locator(".lc-drop-value")).to_have_text("立减 ¥15")
    await steps.shot(page, "coupon-drop")

    await drop.locator(".lc-claim").click()
    ticket = drop.locator(".lc-ticket")
    await expect(ticket).to_be_visible(timeout=3000)
    code = await ticket.get_attribute("data-code")
    assert code
    qr = ticket.locator("img.lc-qr")
    await expect(qr).to_be_visible()
    # The QR image really loaded (same-origin SVG, allowed by the page's CSP).
    await qr.evaluate("img => img.complete || new Promise(ok => img.addEventListener('load', ok))")
    assert await qr.evaluate("img => img.naturalWidth") > 0
    await steps.shot(page, "coupon-claimed")

    # Book: the confirmation card carries the held coupon, code and QR.
    await page.locator(".lc-book").click()
    await page.locator(".lc-store").first.click()
    await page.locator(".lc-slot:not(.lc-full)").first.click()
    await page.locator("[data-k=confirm]").click()
    card = page.locator(".lc-confirmation")
    await expect(card).to_be_visible(timeout=5000)
    await expect(card.locator(".lc-ticket .lc-code")).to_have_text(code)
    await expect(card.locator(".lc-ticket img.lc-qr")).to_be_visible()
    await steps.shot(page, "confirmation-with-coupon")

    # The stats page: the tap, the booking and the claim are in the funnel.
    stats = await ctx.new_page()
    await stats.set_viewport_size({"width": 1000, "height": 900})
    await stats.goto(f"{base_url}/stats/{room_id}#token={host}")
    funnel = stats.locator("svg.funnel")
    await expect(funnel).to_be_visible(timeout=5000)
    label = re.compile(r"点击预约 Booking taps 1, 预约 Bookings 1\b")
    await expect(funnel).to_have_attribute("aria-label", label)
    await expect(stats.locator("table tbody tr")).not_to_have_count(0)
    # the guide whose task the booking became has her row
    guides = stats.locator("[data-section=guides] tbody tr")
    await expect(guides).to_have_count(1)
    await expect(guides.first.locator("th")).to_contain_text("李娜")
    await steps.shot(stats, "stats")

    async with stats.expect_download() as download_info:
        await stats.locator("[data-action=csv]").click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".csv")
    target = tmp_path / "funnel.csv"
    await download.save_as(target)
    csv_text = target.read_text(encoding="utf-8")
    assert "total" in csv_text and "bookings" in csv_text
