"""The demo room page fits its viewport: nothing sticks out sideways on a 360 px phone, on a
tablet, or on a desktop (a grid or a form row too wide once clipped the widget's buttons)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from .conftest import ContextFactory

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [360, 920, 1280])
async def test_room_page_has_no_sideways_overflow(
    width: int, base_url: str, make_room: Any, new_context: ContextFactory
) -> None:
    room = await make_room()
    page = await (await new_context(viewport={"width": width, "height": 700})).new_page()
    await page.goto(f"{base_url}/demo/room/{room['room_id']}")
    await expect(page.locator(".lc-book")).to_be_enabled(timeout=5000)
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width}px wide in a {width}px viewport"
    ask = page.locator(".lc-ask button, .lc button:has-text('发送')").first
    if await ask.count():
        box = await ask.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
