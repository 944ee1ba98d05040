"""The host console in real Chromium: a hostile question renders as text (no markup, no
script), keyboard shortcuts pin / answer / restore it, viewers see the pin; the host splits
a merged card and merges it back with the Split and Merge buttons."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest
from playwright.async_api import expect

from live_server.questions.dedup import default_matcher
from live_server.questions.models import sign

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


# Two community groups ask nearly the same thing: the matcher merges them into one card.
CAKE = "6寸蛋糕多少钱？"
CAKE_ZH = "请问六寸的蛋糕什么价"


async def _group_ask(api: Any, ops_token: str, group_id: str, store_id: str, text: str) -> str:
    """A group of the test brand (created) posts ``text`` signed as its bot does."""
    status, group = await api.put(
        f"/api/v1/groups/{group_id}", ops_token,
        json={"store_id": store_id, "name": f"{group_id} members", "brand": "e2e-merge"},
    )  # fmt: skip
    assert status == 200, group
    message = {
        "message_id": uuid.uuid4().hex, "author_id": f"{group_id}-u1",
        "author_name": "member", "text": text, "sent_at": int(time.time()),
    }  # fmt: skip
    body = orjson.dumps(message)
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json", "X-Timestamp": ts,
        "X-Signature": sign(group["secret"], ts, body),
    }  # fmt: skip
    status, asked = await api.post(
        f"/api/v1/groups/{group_id}/messages", data=body, headers=headers
    )
    assert status == 200, asked
    return str(asked["question_id"])


async def test_host_splits_a_merged_card_and_merges_it_back(
    base_url: str, api: Any, ops_token: str, make_room: Any, new_context: ContextFactory,
    steps: Steps,
) -> None:  # fmt: skip
    room = await make_room(title="Merge corrections", brand="e2e-merge")
    room_id = room["room_id"]
    first = await _group_ask(api, ops_token, "e2e-g0", "sh-jingan", CAKE)
    assert await _group_ask(api, ops_token, "e2e-g1", "hz-wulin", CAKE_ZH) == first

    ctx = await new_context()  # phone-sized
    page = await ctx.new_page()
    await page.goto(f"{base_url}/host/{room_id}#token={room['host_token']}")
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected")
    cards = page.locator(".questions .question")
    await expect(cards).to_have_count(1)
    card = page.locator(f"[data-question-id='{first}']")
    await expect(card.locator(".q-meta")).to_contain_text("2 人 / 2 个群")
    # one card only: nothing to merge it with
    await expect(card.locator("[data-action=merge]")).to_have_count(0)
    await steps.shot(page, "merged-card")

    # Split: the most recent asker (the second group) becomes a card of its own.
    split = card.locator("[data-action=split]")
    label = "拆分：最近一位提问者成为新问题 Split the most recent asker off into a new question"
    label += f": {CAKE}"
    await expect(split).to_have_attribute("aria-label", label)
    await split.click()
    await expect(cards).to_have_count(2)
    await expect(page.locator(".message")).to_contain_text(f"已拆分 Split: {CAKE_ZH}")
    await expect(card.locator(".q-meta")).to_contain_text("1 人 / 1 个群")
    await expect(card.locator("[data-action=split]")).to_have_count(0)  # one asker left
    other = cards.filter(has_text=CAKE_ZH)
    await expect(other).to_have_count(1)
    await expect(other.locator(".q-meta")).to_contain_text("1 人 / 1 个群")
    other_id = await other.get_attribute("data-question-id")
    assert other_id and other_id != first
    await expect(page.locator("[data-view=live]")).to_contain_text("(2)")
    await steps.shot(page, "split")

    # Merge: the host picks the split-off card, then the card it joins; Esc cancels first.
    await other.locator("[data-action=merge]").click()
    await expect(other).to_have_class("question status-new selected merging")
    await expect(page.locator(".message")).to_contain_text("选择要并入的问题")
    await page.keyboard.press("Escape")
    await expect(page.locator("[data-action=merge-into]")).to_have_count(0)
    await other.locator("[data-action=merge]").click()
    target = card.locator("[data-action=merge-into]")
    await expect(target).to_be_focused()
    await expect(other.locator("[data-action=merge-into]")).to_have_count(0)
    # a question arriving live re-renders the list: the offered target keeps the focus
    await _group_ask(api, ops_token, "e2e-g2", "sh-jingan", "可以开发票吗")
    await expect(cards).to_have_count(3)
    await expect(target).to_be_focused()
    await steps.shot(page, "choose-target")
    await target.click()
    await expect(cards).to_have_count(2)
    await expect(other).to_have_count(0)  # status merged: gone from the list
    await expect(card.locator(".q-meta")).to_contain_text("2 人 / 2 个群")
    await expect(page.locator(".message")).to_contain_text(f"已合并 Merged into: {CAKE}")
    await expect(page.locator("[data-view=live]")).to_contain_text("(2)")
    await steps.shot(page, "merged-back")


async def test_host_accepts_or_declines_a_merge_suggestion(
    base_url: str, api: Any, make_room: Any, make_viewer: Any, new_context: ContextFactory,
    steps: Steps,
) -> None:  # fmt: skip
    """A question close to a card but not close enough to merge by itself arrives with a
    suggestion; one click merges it, "Not the same" hides the hint."""
    matcher = default_matcher()  # the pairs below must sit in the suggestion band
    for a, b in (("口红会沾杯吗", "口红喝水会掉吗"), ("蛋糕要冷藏吗", "蛋糕放车里可以吗")):
        ra, rb = matcher.read(a), matcher.read(b)
        score = matcher.score(ra, rb)
        assert matcher.apart(ra, rb) is None and matcher.suggest <= score < matcher.threshold, (
            "retrained score: pick another pair in the suggestion band for this test",
            a,
            b,
            score,
        )
    room = await make_room(title="Merge suggestions")
    room_id = room["room_id"]
    ctx = await new_context()  # phone-sized
    page = await ctx.new_page()
    await page.goto(f"{base_url}/host/{room_id}#token={room['host_token']}")
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected")

    async def ask(text: str) -> str:
        viewer = await make_viewer(room_id)
        status, body = await api.post(
            f"/api/v1/rooms/{room_id}/questions", viewer["token"], json={"text": text}
        )
        assert status in (200, 201), body
        return str(body["question_id"])

    first = await ask("口红会沾杯吗")
    close = await ask("口红喝水会掉吗")
    assert close != first, "the matcher is expected to suggest, not merge, this pair"
    cards = page.locator(".questions .question")
    await expect(cards).to_have_count(2)
    hint = page.locator(f"[data-question-id='{close}'] .q-suggest")
    await expect(hint).to_contain_text("可能与「口红会沾杯吗」相同")
    await expect(hint).to_have_attribute("data-similar-to", first)
    await expect(page.locator(f"[data-question-id='{first}'] .q-suggest")).to_have_count(0)
    await steps.shot(page, "suggestion")
    await hint.locator("[data-action=merge-suggested]").click()
    await expect(cards).to_have_count(1)
    await expect(page.locator(f"[data-question-id='{first}'] .q-meta")).to_contain_text("2 人")
    await expect(page.locator(".message")).to_contain_text("已合并 Merged into: 口红会沾杯吗")

    # another close one: the host says they differ, the hint goes, both cards stay
    other = await ask("蛋糕要冷藏吗")
    again = await ask("蛋糕放车里可以吗")
    assert again != other
    hint = page.locator(f"[data-question-id='{again}'] .q-suggest")
    await expect(hint).to_have_attribute("data-similar-to", other)
    await hint.locator("[data-action=not-same]").click()
    await expect(hint).to_have_count(0)
    await expect(cards).to_have_count(3)
    await steps.shot(page, "not-the-same")
