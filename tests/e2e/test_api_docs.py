"""The readable contract in a real browser: /docs renders the OpenAPI document with the
bundled Swagger UI (no CDN), under the page's own Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ContextFactory, Steps

pytestmark = pytest.mark.browser


async def test_docs_page_renders_every_tag_and_a_route(
    base_url: str, new_context: ContextFactory, steps: Steps
) -> None:
    ctx = await new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda req: outside.append(req.url) if not req.url.startswith(base_url) else None,
    )
    await page.goto(f"{base_url}/docs")
    # Swagger UI draws one block per tag, one row per operation
    await page.wait_for_selector(".opblock-tag", timeout=15_000)
    tags: list[Any] = await page.locator(".opblock-tag").all_inner_texts()
    names = " ".join(tags).lower()
    for tag in ("bookings", "coupons", "guides", "stores"):
        assert tag in names, tags
    # tags open as lists: the guides' accept route is a row; opening it shows its responses
    row = page.locator(".opblock-summary", has_text="/api/v1/tasks/{task}/accept")
    await row.first.wait_for(timeout=5_000)
    await row.first.click()
    await page.locator(".responses-table").first.wait_for(timeout=5_000)
    assert "409" in await page.locator(".responses-table").first.inner_text()
    await steps.shot(page, "docs")
    assert outside == [], outside  # every asset is served by the server itself
