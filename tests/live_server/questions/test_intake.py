"""Group-bot intake (signed), viewer questions, moderation, dedup into cards, funnel."""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources
from typing import Any

import redis as sync_redis

from live_server.core import keys
from tests.conftest import Api

from .conftest import BRAND, group_message, post_signed


async def test_signed_message_becomes_a_card_on_the_host_channel(
    api: Api, live_room: dict[str, Any], make_group: Any, sio_client: Any,
    clean_redis: sync_redis.Redis,
) -> None:  # fmt: skip
    group = await make_group("g-jingan", "sh-jingan")
    _, host_log = await sio_client("/host", live_room["host_token"])
    status, body = await post_signed(api, group, group_message("月饼礼盒多少钱？"))
    assert status == 200, body
    assert body["room_id"] == live_room["room_id"] and body["status"] == "new"
    assert body["merged"] is False and body["duplicate"] is False and body["askers"] == 1
    (event,) = await host_log.wait_for("question.new")
    assert event["id"] == body["question_id"] and event["text"] == "月饼礼盒多少钱？"
    assert event["group_ids"] == ["g-jingan"] and event["store_ids"] == ["sh-jingan"]
    assert isinstance(event["ts"], int)
    assert event["id"].startswith(f"q.{live_room['room_id']}.")
    stats = clean_redis.hgetall(keys.room_stats(live_room["room_id"]))
    assert stats[b"total:questions"] == b"1" and stats[b"sh-jingan:questions"] == b"1"


async def test_replayed_message_id_is_accepted_once(
    api: Api, live_room: dict[str, Any], make_group: Any, clean_redis: sync_redis.Redis
) -> None:
    group = await make_group("g-jingan")
    message = group_message("蛋糕可以定制吗", message_id="m-42")
    first = await post_signed(api, group, message)
    again = await post_signed(api, group, message)
    assert first[0] == again[0] == 200
    assert again[1]["duplicate"] is True and again[1]["question_id"] == first[1]["question_id"]
    assert again[1]["askers"] == 1
    assert clean_redis.hget(keys.room_stats(live_room["room_id"]), "total:questions") == b"1"


async def test_bad_signatures_are_refused_and_change_nothing(
    api: Api, live_room: dict[str, Any], make_group: Any, clean_redis: sync_redis.Redis
) -> None:
    group = await make_group("g-jingan")
    msg = group_message("可以预约吗")
    cases = [
        await post_signed(api, group, msg, secret="not-the-group-secret-at-all"),
        await post_signed(api, group, msg, timestamp=int(time.time()) - 301),
        await post_signed(api, group, msg, timestamp=int(time.time()) + 400),
        await api.post(f"/api/v1/groups/{group['id']}/messages", json=msg),
    ]
    for status, body in cases:
        assert status == 401, body
        assert body["type"].endswith("signature-invalid")
    status, body = await post_signed(api, {**group, "id": "g-nope"}, msg)
    assert status == 404
    status, body = await post_signed(api, group, {**msg, "text": ""})
    assert status == 400
    assert not clean_redis.exists(keys.question_timeline(live_room["room_id"]))


async def test_no_live_room_for_the_brand_is_a_clear_409(
    api: Api, make_room: Any, make_group: Any
) -> None:
    await make_room(brand="maixiang", live=False)
    group = await make_group("g-jingan")
    status, body = await post_signed(api, group, group_message("几点开门"))
    assert status == 409 and body["type"].endswith("no-live-room")
    assert "maixiang" in body["detail"]


def bakery_lexicon() -> dict[str, Any]:
    lexicon = resources.files("live_server.questions").joinpath("lexicons/bakery-demo.json")
    loaded: dict[str, Any] = json.loads(lexicon.read_text(encoding="utf-8"))
    return loaded


async def test_near_duplicates_merge_across_groups_and_look_alikes_do_not(
    api: Api, live_room: dict[str, Any], make_group: Any, sio_client: Any, ops_token: str
) -> None:
    # the bakery's own words (6寸 / six inch, 蛋糕 / cake), as a brand uploads them
    status, body = await api.put(f"/api/v1/brands/{BRAND}/lexicon", ops_token, bakery_lexicon())
    assert status == 200, body
    g1 = await make_group("g-jingan", "sh-jingan")
    g2 = await make_group("g-wulin", "hz-wulin")
    _, host_log = await sio_client("/host", live_room["host_token"])
    _, first = await post_signed(api, g1, group_message("6寸蛋糕多少钱？", author="a"))
    _, same = await post_signed(api, g2, group_message("请问六寸的蛋糕什么价", author="b"))
    _, same_author = await post_signed(api, g2, group_message("6寸蛋糕价格", author="b"))
    _, other = await post_signed(api, g1, group_message("8寸蛋糕多少钱？", author="c"))
    _, english = await post_signed(
        api, g1, group_message("How much is the 6 inch cake?", author="d")
    )
    assert same["merged"] and same["question_id"] == first["question_id"] and same["askers"] == 2
    assert same_author["question_id"] == first["question_id"] and same_author["askers"] == 2
    assert other["question_id"] != first["question_id"] and not other["merged"]
    assert english["question_id"] == first["question_id"] and english["askers"] == 3
    status, listing = await api.get(
        f"/api/v1/rooms/{live_room['room_id']}/questions?sort=top", live_room["host_token"]
    )
    assert status == 200
    top = listing["questions"][0]
    assert top["id"] == first["question_id"] and top["askers"] == 3 and top["groups"] == 2
    assert top["group_ids"] == ["g-jingan", "g-wulin"] and top["store_ids"] == [
        "hz-wulin",
        "sh-jingan",
    ]
    assert top["text"] == "6寸蛋糕多少钱？"
    await host_log.wait_for("question.updated", where=lambda e: e["askers"] == 3)


async def test_concurrent_duplicates_from_two_workers_make_one_card(
    api: Api, live_room: dict[str, Any], make_group: Any, settings: Any
) -> None:
    """Two app instances (as two worker processes) on one Redis: one card, every asker counted."""
    from aiohttp.test_utils import TestServer

    from live_server.app import create_app
    from tests.conftest import Api as Client

    group = await make_group("g-jingan")
    other = TestServer(create_app(settings), host="127.0.0.1")
    await other.start_server()
    try:
        api2 = Client(str(other.make_url("")).rstrip("/"), api.session)
        texts = ["月饼礼盒多少钱", "月饼礼盒什么价格", "月饼礼盒多少钱一盒", "月饼礼盒价格是多少"]
        results = await asyncio.gather(*[
            post_signed(api if i % 2 else api2, group, group_message(texts[i % 4], author=f"u{i}"))
            for i in range(24)
        ])  # fmt: skip
        assert all(status == 200 for status, _ in results), results
        ids = {body["question_id"] for _, body in results}
        assert len(ids) == 1, ids
        _status, listing = await api.get(
            f"/api/v1/rooms/{live_room['room_id']}/questions", live_room["host_token"]
        )
        assert [q["askers"] for q in listing["questions"]] == [24]
    finally:
        await other.close()


async def test_moderation_limits_blocklist_spam_and_rate(
    api: Api, live_room: dict[str, Any], make_group: Any, make_viewer: Any
) -> None:
    group = await make_group("g-jingan")
    status, body = await post_signed(api, group, group_message("长" * 301))
    assert status == 422 and "at most 300" in body["detail"]
    status, body = await post_signed(api, group, group_message("x"))
    assert status == 422
    status, body = await post_signed(api, group, group_message("你们都是 傻 瓜 吗"))
    assert status == 422 and body["type"].endswith("question-rejected")
    status, spam = await post_signed(
        api, group, group_message("加微信 领优惠 http://spam.example.cn", "s1")
    )
    assert status == 200 and spam["status"] == "held"
    status, again = await post_signed(api, group, group_message("买买买买买买买买买买买买", "s2"))
    assert again["status"] == "held"
    room, host = live_room["room_id"], live_room["host_token"]
    _, held = await api.get(f"/api/v1/rooms/{room}/questions?status=held", host)
    assert {q["id"] for q in held["questions"]} == {spam["question_id"], again["question_id"]}
    assert held["questions"][0]["held_reason"]
    status, card = await api.post(f"/api/v1/questions/{spam['question_id']}/approve", host)
    assert status == 200 and card["status"] == "new"
    status, card = await api.post(f"/api/v1/questions/{again['question_id']}/dismiss", host)
    assert status == 200 and card["status"] == "dismissed"

    # per-author rate limit (5 per minute in these tests), with Retry-After
    for i in range(5):
        status, _ = await post_signed(
            api, group, group_message(f"第{i}个问题 about topic {i}", "fast")
        )
        assert status == 200
    status, body = await post_signed(api, group, group_message("one more question please", "fast"))
    assert status == 429 and body["type"].endswith("question-rate-limited")
    viewer = await make_viewer(room)
    for i in range(5):
        status, _ = await api.post(
            f"/api/v1/rooms/{room}/questions", viewer["token"], json={"text": f"q{i} 问题"}
        )
        assert status == 200
    async with api.session.post(
        f"{api.base}/api/v1/rooms/{room}/questions", json={"text": "还有问题"},
        headers={"Authorization": f"Bearer {viewer['token']}"},
    ) as resp:  # fmt: skip
        assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60


async def test_viewer_questions_and_room_lifecycle(
    api: Api, make_room: Any, make_viewer: Any
) -> None:
    room = await make_room(live=False)
    viewer = await make_viewer(room["room_id"])
    path = f"/api/v1/rooms/{room['room_id']}/questions"
    status, body = await api.post(path, viewer["token"], json={"text": "可以预约吗"})
    assert status == 409 and body["title"] == "Room is not live"
    await api.post(f"/api/v1/rooms/{room['room_id']}/start", room["host_token"])
    status, body = await api.post(path, viewer["token"], json={"text": "可以预约吗"})
    assert status == 200 and body["status"] == "new"
    other = await make_room()
    status, _ = await api.post(
        f"/api/v1/rooms/{other['room_id']}/questions", viewer["token"], json={"text": "hi there"}
    )
    assert status == 403
    await api.post(f"/api/v1/rooms/{room['room_id']}/end", room["host_token"])
    status, body = await api.post(path, viewer["token"], json={"text": "还能预约吗"})
    assert status == 410
    status, _ = await api.get(path, viewer["token"])
    assert status == 403


async def test_a_brand_lexicon_changes_merging_at_once(
    api: Api, live_room: dict[str, Any], make_group: Any, ops_token: str
) -> None:
    """Without the brand's words, a question naming its product in another language is its
    own card; once the brand uploads them, the next one joins the card."""
    group = await make_group("g-jingan", "sh-jingan")
    _, first = await post_signed(api, group, group_message("小棕瓶多少钱", author="a"))
    _, before = await post_signed(
        api, group, group_message("advanced night repair多少钱", author="b")
    )
    assert before["question_id"] != first["question_id"]
    lexicon = {"synonyms": [["小棕瓶", "特润修护精华", "advanced night repair"]]}
    status, body = await api.put(f"/api/v1/brands/{BRAND}/lexicon", ops_token, lexicon)
    assert status == 200 and body["synonyms"][0] == [
        "小棕瓶",
        "特润修护精华",
        "advanced night repair",
    ]
    status, read_back = await api.get(f"/api/v1/brands/{BRAND}/lexicon", ops_token)
    assert status == 200 and read_back == body
    _, after = await post_signed(
        api, group, group_message("Advanced Night Repair多少钱", author="c")
    )
    assert after["merged"] and after["question_id"] == first["question_id"]


async def test_lexicon_is_checked_and_needs_ops(
    api: Api, live_room: dict[str, Any], ops_token: str
) -> None:
    url = f"/api/v1/brands/{BRAND}/lexicon"
    kept = {"synonyms": [["粉底", "foundation"]], "products": ["小棕瓶"], "antonyms": []}
    status, _ = await api.put(url, ops_token, kept)
    assert status == 200
    for bad in ({"synonyms": [["only one"]]}, {"synonyms": "粉底"}, {"products": [1]},
                {"antonyms": [["a", "b", "c"]]}, {"unknown": []},
                {"synonyms": [["口红", "  "]]}, {"synonyms": [["口红", "？？"]]},
                {"synonyms": [["口红", "唇膏", "口紅"]]}, {"products": ["X5", "x5"]}):  # fmt: skip
        status, body = await api.put(url, ops_token, bad)
        assert status == 400 and body["title"], (bad, body)
    # no body at all: a PUT would have replaced the brand's lexicon with nothing
    for headers in ({"Content-Type": "application/json"}, {}):
        status, body = await api.put(url, ops_token, data=b"", headers=headers)
        assert status == 400 and "body" in body["detail"], body
    status, _ = await api.put(url, live_room["host_token"], {"synonyms": []})
    assert status == 403
    status, body = await api.put(f"/api/v1/brands/{'b' * 101}/lexicon", ops_token, kept)
    assert status == 400 and "brand" in body["detail"]
    status, body = await api.get(url, ops_token)
    assert status == 200 and body == kept


async def test_signature_is_checked_before_the_body(
    api: Api, live_room: dict[str, Any], make_group: Any
) -> None:
    """An unsigned or forged caller learns nothing of the body's fields: 401, not 400, and
    nothing is stored; a signed but malformed body gets the field errors."""
    group = await make_group("g-jingan", "sh-jingan")
    url = f"/api/v1/groups/{group['id']}/messages"
    malformed = b'{"text": 42}'
    for headers in (
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", "X-Timestamp": str(int(time.time())),
         "X-Signature": "sha256=" + "0" * 64},
    ):  # fmt: skip
        status, problem = await api.post(url, data=malformed, headers=headers)
        assert status == 401 and "errors" not in problem, problem
    status, problem = await post_signed(api, group, {"text": 42})
    assert status == 400 and problem["errors"], problem
    status, listing = await api.get(
        f"/api/v1/rooms/{live_room['room_id']}/questions", live_room["host_token"]
    )
    assert status == 200 and listing["questions"] == []
