"""The host console in real Chromium: a hostile question renders as text (no markup, no
script), keyboard shortcuts pin / answer / restore it, viewers see the pin."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from .conftest import ContextFactory, Steps

pytestmark = pytest.mark.browser

HOSTILE = (
    '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    "<b>生日蛋糕</b> 需要提前几天预约？ &amp; 可以写字吗"
)


async def test_hostile_question_renders_as_text_and_keys_work(
    base_url: str, api: Any, make_room: Any, make_viewer: Any, sio_client: Any,
    new_context: ContextFactory, steps: Steps,
) -> None:  # fmt: skip
    room = await make_room()
    room_id = room["room_id"]
    viewer = await make_viewer(room_id)
    _, live_log = await sio_client("/live", viewer["token"])

    # One question before the console opens (loaded over HTTP) ...
    status, first = await api.post(
        f"/api/v1/rooms/{room_id}/questions", viewer["token"], json={"text": "面包当天能自提吗？"}
    )
    assert status in (200, 201), first

    ctx = await new_context(viewport={"width": 1100, "height": 800})
    page = await ctx.new_page()
    await page.goto(f"{base_url}/host/{room_id}#token={room['host_token']}")
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected")
    await expect(page.locator(f"[data-question-id='{first['question_id']}']")).to_be_visible()

    # ... and the hostile one arrives live over /host.
    other = await make_viewer(room_id)
    status, hostile = await api.post(
        f"/api/v1/rooms/{room_id}/questions", other["token"], json={"text": HOSTILE}
    )
    assert status in (200, 201), hostile
    if hostile["status"] == "held":  # moderation may hold markup for review
        await page.locator("[data-view=held]").click()
    card = page.locator(f"[data-question-id='{hostile['question_id']}']")
    await expect(card).to_be_visible(timeout=3000)
    await steps.shot(page, "hostile-question")

    text = await card.locator(".q-text").text_content()
    assert text is not None and "<img src=x" in text and "<script>" in text and "<b>" in text
    assert await page.locator(".questions img, .questions script, .questions b").count() == 0
    assert await page.evaluate("window.__pwned") is None

    if hostile["status"] == "held":
        await card.locator("[data-action=approve]").click()
        await page.locator("[data-view=live]").click()
        await expect(card).to_be_visible()

    # Keyboard: select the hostile card (j/k), pin it (p), answer it (a).
    await page.locator("body").click(position={"x": 5, "y": 5})
    for _ in range(5):
        if await card.get_attribute("aria-selected") == "true":
            break
        await page.keyboard.press("j")
    else:
        for _ in range(5):
            if await card.get_attribute("aria-selected") == "true":
                break
            await page.keyboard.press("k")
    await expect(card).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("p")
    await expect(card).to_have_class("question status-pinned selected")
    [pinned] = await live_log.wait_for(
        "question.pinned", where=lambda d: d.get("id") == hostile["question_id"]
    )
    assert pinned["text"] == HOSTILE
    await steps.shot(page, "pinned")

    await page.keyboard.press("a")
    await expect(card).to_have_count(0)  # moved to the archive
    await live_log.wait_for("question.answered", where=lambda d: d["id"] == hostile["question_id"])
    await page.locator("[data-view=archive]").click()
    await expect(card).to_have_class("question status-answered selected")
    await steps.shot(page, "archive")

    await page.keyboard.press("r")
    await expect(card).to_have_count(0)  # restored to the live feed
    await page.locator("[data-view=live]").click()
    await expect(card).to_be_visible()
    await steps.shot(page, "restored")
