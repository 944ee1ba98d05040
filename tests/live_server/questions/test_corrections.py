"""Host corrections of merging: split askers off a card, merge a card into another; atomic,
safe under concurrency, followed by every worker, counted in /metrics."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis as sync_redis
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.core import keys
from live_server.core.tokens import Role, TokenSigner
from live_server.settings import Settings
from tests.conftest import Api

from .conftest import group_message, post_signed

# The matcher merges the last two into the first (CAKE_SELL reads closer to CAKE) ...
CAKE = "6寸蛋糕多少钱？"
CAKE_ZH = "请问六寸的蛋糕什么价"
CAKE_SELL = "6寸的蛋糕卖多少钱"
# ... and keeps these apart (another kind of answer): the host merges them.
SHELF = "保质期几天"
SAME_DAY = "当天要吃完吗"


async def _group_ask(api: Api, group: dict[str, Any], text: str, author: str) -> dict[str, Any]:
    status, body = await post_signed(api, group, group_message(text, author=author))
    assert status == 200, body
    return dict(body)


async def _viewer_ask(api: Api, room_id: str, viewer: dict[str, Any], text: str) -> dict[str, Any]:
    status, body = await api.post(
        f"/api/v1/rooms/{room_id}/questions", viewer["token"], json={"text": text}
    )
    assert status == 200, body
    return dict(body)


async def _listing(api: Api, room: dict[str, Any], query: str = "") -> dict[str, dict[str, Any]]:
    status, body = await api.get(
        f"/api/v1/rooms/{room['room_id']}/questions{query}", room["host_token"]
    )
    assert status == 200, body
    return {q["id"]: q for q in body["questions"]}


async def _counter(api: Api, family: str, label: str) -> dict[str, float]:
    """One counter family of /metrics, by its one label's value."""
    status, text = await api.get("/metrics")
    assert status == 200
    found = re.findall(
        rf'^{family}\{{{label}="(\w+)"\}} (\S+)$',
        text.decode() if isinstance(text, bytes) else str(text), re.MULTILINE,
    )  # fmt: skip
    return {value: float(count) for value, count in found}


async def _corrections(api: Api) -> dict[str, float]:
    return await _counter(api, "live_question_corrections_total", "action")


@pytest.fixture
async def worker2(settings: Settings, api: Api) -> AsyncIterator[Api]:
    """A second app instance on the same Redis, as a second worker process."""
    other = TestServer(create_app(settings), host="127.0.0.1")
    await other.start_server()
    yield Api(str(other.make_url("")).rstrip("/"), api.session)
    await other.close()


def _sources(card: dict[str, Any]) -> dict[str, int]:
    return {s["source"]: s["askers"] for s in card["sources"]}


async def test_split_moves_askers_with_their_own_question(
    api: Api, live_room: dict[str, Any], make_group: Any, make_viewer: Any, sio_client: Any,
    clean_redis: sync_redis.Redis,
) -> None:  # fmt: skip
    room_id, host = live_room["room_id"], live_room["host_token"]
    g0, g1 = await make_group("g0", "sh-jingan"), await make_group("g1", "hz-wulin")
    viewer = await make_viewer(room_id)
    _, host_log = await sio_client("/host", host)
    a = (await _group_ask(api, g0, CAKE, "a"))["question_id"]
    assert (await _group_ask(api, g1, CAKE_ZH, "b"))["question_id"] == a
    assert (await _viewer_ask(api, room_id, viewer, CAKE_SELL))["question_id"] == a
    await api.post(f"/api/v1/questions/{a}/vote", viewer["token"])

    status, askers = await api.get(f"/api/v1/questions/{a}/askers", host)
    assert status == 200, askers
    assert [(x["id"], x["text"], x["group_id"], x["store_id"]) for x in askers["askers"]] == [
        ("g:g0:a", CAKE, "g0", "sh-jingan"),
        ("g:g1:b", CAKE_ZH, "g1", "hz-wulin"),
        (f"v:{viewer['viewer_id']}", CAKE_SELL, None, None),
    ]

    # no body: the most recent asker to join leaves, with what they asked
    status, split = await api.post(f"/api/v1/questions/{a}/split", host)
    assert status == 200, split
    original, new = split["question"], split["new_question"]
    assert original["id"] == a and original["askers"] == 2 and original["groups"] == 2
    assert original["votes"] == 1 and original["status"] == "new"
    assert new["text"] == CAKE_SELL and new["askers"] == 1 and new["groups"] == 0
    assert new["status"] == "new" and new["votes"] == 0 and new["store_ids"] == []
    # where the askers came from is recounted on both cards
    assert _sources(original) == {"group": 2} and _sources(new) == {"viewer": 1}
    await host_log.wait_for("question.updated", where=lambda e: e["id"] == a and e["askers"] == 2)
    (event,) = await host_log.wait_for("question.new", where=lambda e: e["id"] == new["id"])
    assert event["text"] == CAKE_SELL and event["askers"] == 1

    # named askers: they take their group and store with them; the card is recounted
    status, split = await api.post(
        f"/api/v1/questions/{a}/split", host, json={"askers": ["g:g1:b"]}
    )
    assert status == 200, split
    original, other = split["question"], split["new_question"]
    assert original["askers"] == 1 and original["group_ids"] == ["g0"]
    assert original["store_ids"] == ["sh-jingan"]
    assert other["text"] == CAKE_ZH and other["group_ids"] == ["g1"]
    assert other["store_ids"] == ["hz-wulin"] and other["askers"] == 1
    assert _sources(original) == {"group": 1} and _sources(other) == {"group": 1}
    await host_log.wait_for("question.new", where=lambda e: e["id"] == other["id"])

    cards = await _listing(api, live_room)
    assert {qid: (c["askers"], c["groups"], c["text"]) for qid, c in cards.items()} == {
        a: (1, 1, CAKE), new["id"]: (1, 0, CAKE_SELL), other["id"]: (1, 1, CAKE_ZH),
    }  # fmt: skip
    stats = clean_redis.hgetall(keys.room_stats(room_id))
    assert stats[b"total:question_cards"] == b"3" and stats[b"total:questions"] == b"3"
    # the split cards are in the room's index: every worker matches against them
    assert clean_redis.llen(keys.question_index(room_id)) == 3
    assert int(clean_redis.get(keys.question_split_mark(room_id)) or 0) == 3

    # a question worded like a split-off one joins it, not the card it left
    again = await _viewer_ask(api, room_id, await make_viewer(room_id), CAKE_SELL)
    assert again["question_id"] == new["id"] and again["merged"] is True
    assert await _corrections(api) == {"split": 2.0}


async def test_split_refusals(
    api: Api, live_room: dict[str, Any], make_group: Any, make_viewer: Any
) -> None:
    room_id, host = live_room["room_id"], live_room["host_token"]
    g0 = await make_group("g0", "sh-jingan")
    alone = (await _group_ask(api, g0, SHELF, "a"))["question_id"]
    status, body = await api.post(f"/api/v1/questions/{alone}/split", host)
    assert status == 409 and body["type"].endswith("question-correction"), body
    status, body = await api.post(
        f"/api/v1/questions/{alone}/split", host, json={"askers": ["g:g0:a"]}
    )
    assert status == 409, body  # nothing would stay
    await _group_ask(api, g0, SHELF, "b")
    status, body = await api.post(
        f"/api/v1/questions/{alone}/split", host, json={"askers": ["g:g0:nobody"]}
    )
    assert status == 409 and "g:g0:nobody" in body["detail"], body
    for bad in ({"askers": []}, {"askers": ["g:g0:b"], "also": 1}, {"askers": "g:g0:b"}):
        status, body = await api.post(f"/api/v1/questions/{alone}/split", host, json=bad)
        assert status == 400, (bad, body)
    status, _ = await api.post(f"/api/v1/questions/q.{room_id}.999/split", host)
    assert status == 404
    assert (await _listing(api, live_room))[alone]["askers"] == 2  # nothing changed
    assert await _corrections(api) == {}


async def test_merge_unions_counts_hides_the_card_and_redirects_new_questions(
    api: Api, live_room: dict[str, Any], make_group: Any, make_viewer: Any, sio_client: Any,
    clean_redis: sync_redis.Redis,
) -> None:  # fmt: skip
    room_id, host = live_room["room_id"], live_room["host_token"]
    g0, g1 = await make_group("g0", "sh-jingan"), await make_group("g1", "hz-wulin")
    v1, v2, v3 = [await make_viewer(room_id) for _ in range(3)]
    _, host_log = await sio_client("/host", host)
    a = (await _group_ask(api, g0, SHELF, "a"))["question_id"]
    assert (await _viewer_ask(api, room_id, v1, SHELF))["question_id"] == a
    b = (await _group_ask(api, g1, SAME_DAY, "b"))["question_id"]
    assert b != a, "the matcher is expected to miss this pair"
    assert (await _viewer_ask(api, room_id, v1, SAME_DAY))["question_id"] == b  # asked both
    for viewer, qid in ((v2, a), (v2, b), (v3, b)):
        status, _ = await api.post(f"/api/v1/questions/{qid}/vote", viewer["token"])
        assert status == 200

    status, merged = await api.post(f"/api/v1/questions/{b}/merge", host, json={"into": a})
    assert status == 200, merged
    card, into = merged["question"], merged["into"]
    assert card["id"] == b and card["status"] == "merged" and card["merged_into"] == a
    assert into["id"] == a and into["status"] == "new" and into["merged_into"] is None
    assert (into["askers"], into["groups"], into["votes"]) == (3, 2, 2)  # v1 and v2 once
    assert into["group_ids"] == ["g0", "g1"] and into["store_ids"] == ["hz-wulin", "sh-jingan"]
    assert _sources(into) == {"group": 2, "viewer": 1}  # v1 asked both: counted once
    await host_log.wait_for("question.updated", where=lambda e: e["id"] == a and e["askers"] == 3)
    await host_log.wait_for(
        "question.updated", where=lambda e: e["id"] == b and e["status"] == "merged"
    )

    # the list leaves the merged card out unless asked for
    assert list(await _listing(api, live_room)) == [a]
    assert list(await _listing(api, live_room, "?status=merged")) == [b]
    status, askers = await api.get(f"/api/v1/questions/{a}/askers", host)
    assert [x["text"] for x in askers["askers"]] == [SHELF, SHELF, SAME_DAY]

    # repeating the merge changes nothing; the merged card takes no votes or actions
    status, again = await api.post(f"/api/v1/questions/{b}/merge", host, json={"into": a})
    assert status == 200 and again["into"]["askers"] == 3
    status, _ = await api.post(f"/api/v1/questions/{b}/vote", (await make_viewer(room_id))["token"])
    assert status == 409
    for action in ("pin", "answer", "restore"):
        status, _ = await api.post(f"/api/v1/questions/{b}/{action}", host)
        assert status == 409, action

    # later questions that would have joined the merged card join its target
    later = await _group_ask(api, g0, SAME_DAY, "c")
    assert later["question_id"] == a and later["merged"] is True and later["askers"] == 4
    stats = clean_redis.hgetall(keys.room_stats(room_id))
    assert stats[b"total:question_cards"] == b"1"

    # merging into a card merged meanwhile goes where that one went
    c = (await _group_ask(api, g1, CAKE, "d"))["question_id"]
    status, chained = await api.post(f"/api/v1/questions/{c}/merge", host, json={"into": b})
    assert status == 200 and chained["into"]["id"] == a and chained["question"]["merged_into"] == a
    assert chained["into"]["askers"] == 5
    # the host's retry of that merge (a timeout, say) is the same no-op as any repeat
    status, retried = await api.post(f"/api/v1/questions/{c}/merge", host, json={"into": b})
    assert status == 200 and retried["into"]["id"] == a and retried["into"]["askers"] == 5
    assert await _corrections(api) == {"merge": 2.0}


async def test_merge_refusals(
    api: Api, live_room: dict[str, Any], make_room: Any, make_group: Any, make_viewer: Any,
    ops_token: str,
) -> None:  # fmt: skip
    room_id, host = live_room["room_id"], live_room["host_token"]
    g0 = await make_group("g0", "sh-jingan")
    a = (await _group_ask(api, g0, SHELF, "a"))["question_id"]
    b = (await _group_ask(api, g0, SAME_DAY, "b"))["question_id"]
    status, body = await api.post(f"/api/v1/questions/{a}/merge", host, json={"into": a})
    assert status == 409 and body["type"].endswith("question-correction"), body
    await api.post(f"/api/v1/questions/{b}/answer", host)
    for src, dst in ((a, b), (b, a)):
        status, body = await api.post(f"/api/v1/questions/{src}/merge", host, json={"into": dst})
        assert status == 409 and "answered" in body["detail"], body
    await api.post(f"/api/v1/questions/{b}/restore", host)
    await api.post(f"/api/v1/questions/{b}/dismiss", host)
    status, body = await api.post(f"/api/v1/questions/{a}/merge", host, json={"into": b})
    assert status == 409 and "dismissed" in body["detail"], body
    for into in (f"q.{room_id}.999", "nope"):
        status, _ = await api.post(f"/api/v1/questions/{a}/merge", host, json={"into": into})
        assert status == 404, into
    for bad in ({}, {"into": a, "also": 1}, {"into": ""}):
        status, _ = await api.post(f"/api/v1/questions/{a}/merge", host, json=bad)
        assert status == 400, bad

    other = await make_room(title="Another live", brand="other-brand")
    viewer = await make_viewer(other["room_id"])
    elsewhere = (await _viewer_ask(api, other["room_id"], viewer, "有停车位吗"))["question_id"]
    status, _ = await api.post(f"/api/v1/questions/{a}/merge", host, json={"into": elsewhere})
    assert status == 403  # the host of this room cannot touch the other room's card
    status, body = await api.post(
        f"/api/v1/questions/{a}/merge", ops_token, json={"into": elsewhere}
    )
    assert status == 409 and "same room" in body["detail"], body
    assert (await _listing(api, live_room))[a]["status"] == "new"
    assert await _corrections(api) == {}


async def test_who_may_correct(
    api: Api, live_room: dict[str, Any], make_room: Any, make_group: Any, make_viewer: Any
) -> None:
    g0 = await make_group("g0", "sh-jingan")
    a = (await _group_ask(api, g0, SHELF, "a"))["question_id"]
    await _group_ask(api, g0, SHELF, "b")
    b = (await _group_ask(api, g0, SAME_DAY, "c"))["question_id"]
    other_host = (await make_room(title="Another room"))["host_token"]
    forged = TokenSigner("a-forged-secret-that-is-not-the-servers-0123456789").issue(
        Role.HOST, live_room["room_id"], "host"
    )
    viewer = (await make_viewer(live_room["room_id"]))["token"]
    calls: list[tuple[str, str, Any]] = [
        ("POST", f"/api/v1/questions/{a}/split", None),
        ("POST", f"/api/v1/questions/{a}/merge", {"into": b}),
        ("GET", f"/api/v1/questions/{a}/askers", None),
    ]
    for method, path, body in calls:
        status, problem = await api.call(method, path, other_host, json=body)
        assert status == 403 and problem["type"].endswith("question-other-room"), path
        status, _ = await api.call(method, path, viewer, json=body)
        assert status == 403, path
        status, _ = await api.call(method, path, forged, json=body)
        assert status == 401, path
        status, _ = await api.call(method, path, None, json=body)
        assert status == 401, path
    cards = await _listing(api, live_room)
    assert (cards[a]["askers"], cards[a]["status"], cards[b]["status"]) == (2, "new", "new")
    assert await _corrections(api) == {}


async def test_pinned_card_passes_the_pin_to_its_target(
    api: Api, live_room: dict[str, Any], make_group: Any, make_viewer: Any, sio_client: Any,
    clean_redis: sync_redis.Redis,
) -> None:  # fmt: skip
    room_id, host = live_room["room_id"], live_room["host_token"]
    g0 = await make_group("g0", "sh-jingan")
    _, live_log = await sio_client("/live", (await make_viewer(room_id))["token"])
    a = (await _group_ask(api, g0, SHELF, "a"))["question_id"]
    b = (await _group_ask(api, g0, SAME_DAY, "b"))["question_id"]
    await api.post(f"/api/v1/questions/{b}/pin", host)
    status, merged = await api.post(f"/api/v1/questions/{b}/merge", host, json={"into": a})
    assert status == 200 and merged["into"]["status"] == "pinned"
    assert clean_redis.hget(keys.room(room_id), "pinned") == a.encode()
    await live_log.wait_for("question.pinned", where=lambda e: e["id"] == a)


async def test_concurrent_corrections_stay_consistent(
    api: Api, live_room: dict[str, Any], make_group: Any
) -> None:
    host = live_room["host_token"]
    g0, g1 = await make_group("g0", "sh-jingan"), await make_group("g1", "hz-wulin")
    a = (await _group_ask(api, g0, SHELF, "a"))["question_id"]
    await _group_ask(api, g1, SHELF, "b")
    b = (await _group_ask(api, g1, SAME_DAY, "b"))["question_id"]  # b asked both
    await _group_ask(api, g0, SAME_DAY, "c")
    c = (await _group_ask(api, g0, CAKE, "d"))["question_id"]

    def merge(src: str, dst: str) -> Any:
        return api.post(f"/api/v1/questions/{src}/merge", host, json={"into": dst})

    # two hosts merge the same card at once: both succeed (the second is a no-op)
    results = await asyncio.gather(merge(b, a), merge(b, a))
    assert [status for status, _ in results] == [200, 200], results
    card = (await _listing(api, live_room))[a]
    assert (card["askers"], card["groups"]) == (3, 2)  # g:g1:b counted once
    assert await _corrections(api) == {"merge": 1.0}

    # opposite merges at once: one wins, the other is refused; nobody is lost
    results = await asyncio.gather(merge(c, a), merge(a, c))
    assert sorted(status for status, _ in results) == [200, 409], results
    live = await _listing(api, live_room)
    assert len(live) == 1
    (survivor,) = live.values()
    assert survivor["askers"] == 4 and survivor["groups"] == 2

    # two hosts split the same card at once: each takes a different asker
    results = await asyncio.gather(*[
        api.post(f"/api/v1/questions/{survivor['id']}/split", host) for _ in range(2)
    ])  # fmt: skip
    assert [status for status, _ in results] == [200, 200], results
    new_ids = {body["new_question"]["id"] for _, body in results}
    assert len(new_ids) == 2
    live = await _listing(api, live_room)
    assert sum(q["askers"] for q in live.values()) == 4 and len(live) == 3
    # the same named asker split twice at once: moved once
    asker = (await api.get(f"/api/v1/questions/{survivor['id']}/askers", host))[1]["askers"][-1]
    results = await asyncio.gather(*[
        api.post(f"/api/v1/questions/{survivor['id']}/split", host, json={"askers": [asker["id"]]})
        for _ in range(2)
    ])  # fmt: skip
    assert sorted(status for status, _ in results) == [200, 409], results
    live = await _listing(api, live_room)
    assert sum(q["askers"] for q in live.values()) == 4 and len(live) == 4
    assert await _corrections(api) == {"merge": 2.0, "split": 3.0}


async def test_other_workers_follow_corrections(
    api: Api, worker2: Api, live_room: dict[str, Any], make_group: Any
) -> None:
    host = live_room["host_token"]
    g0 = await make_group("g0", "sh-jingan")
    a = (await _group_ask(api, g0, SHELF, "a"))["question_id"]
    b = (await _group_ask(api, g0, SAME_DAY, "b"))["question_id"]
    # worker 2 knows both cards (its index is loaded by its first question)
    assert (await _group_ask(worker2, g0, SAME_DAY, "c"))["question_id"] == b

    status, _ = await api.post(f"/api/v1/questions/{b}/merge", host, json={"into": a})
    assert status == 200
    later = await _group_ask(worker2, g0, SAME_DAY, "d")
    assert later["question_id"] == a and later["askers"] == 4

    # a split on worker 1: worker 2 matches against the split card before merging
    c = (await _group_ask(api, g0, CAKE, "e"))["question_id"]
    await _group_ask(worker2, g0, CAKE_ZH, "f")
    await _group_ask(worker2, g0, CAKE_SELL, "g")
    status, split = await api.post(f"/api/v1/questions/{c}/split", host)
    assert status == 200 and split["new_question"]["text"] == CAKE_SELL
    again = await _group_ask(worker2, g0, CAKE_SELL, "h")
    assert again["question_id"] == split["new_question"]["id"], again


async def test_cards_older_than_asker_records_split_too(
    api: Api, live_room: dict[str, Any], make_group: Any, clean_redis: sync_redis.Redis
) -> None:
    """Askers without a record (cards written before them): the card's text, the group
    read from the asker id, and the original keeps its stores (theirs is unknown)."""
    room_id, host = live_room["room_id"], live_room["host_token"]
    g0, g1 = await make_group("g0", "sh-jingan"), await make_group("g1", "hz-wulin")
    a = (await _group_ask(api, g0, SHELF, "a"))["question_id"]
    await _group_ask(api, g1, SHELF, "b")
    clean_redis.delete(keys.question_asked(room_id, int(a.rsplit(".", 1)[1])))
    status, askers = await api.get(f"/api/v1/questions/{a}/askers", host)
    assert [(x["id"], x["text"]) for x in askers["askers"]] == [("g:g0:a", None), ("g:g1:b", None)]

    status, split = await api.post(f"/api/v1/questions/{a}/split", host)
    assert status == 200, split
    original, new = split["question"], split["new_question"]
    assert (new["text"], new["askers"], new["group_ids"], new["store_ids"]) == (
        SHELF, 1, ["g1"], [],
    )  # fmt: skip
    assert (original["askers"], original["group_ids"]) == (1, ["g0"])
    assert original["store_ids"] == ["hz-wulin", "sh-jingan"]  # unknown: kept


async def _suggestions(api: Api) -> dict[str, float]:
    return await _counter(api, "live_question_suggestions_total", "outcome")


async def test_a_close_question_comes_with_a_merge_suggestion_the_host_accepts(
    api: Api, live_room: dict[str, Any], make_viewer: Any, sio_client: Any
) -> None:
    """Close but not sure: the new card names the card it came close to (``similar_to``);
    the host merges with one call, and /metrics counts suggestions made and accepted."""
    room_id, host = live_room["room_id"], live_room["host_token"]
    v1, v2 = [await make_viewer(room_id) for _ in range(2)]
    _, host_log = await sio_client("/host", host)
    a = (await _viewer_ask(api, room_id, v1, "口红会沾杯吗"))["question_id"]
    b = (await _viewer_ask(api, room_id, v2, "口红喝水会掉吗"))["question_id"]
    assert b != a, "the matcher is expected not to merge this pair by itself"
    created = await host_log.wait_for("question.new", where=lambda e: e["id"] == b)
    assert created[-1]["similar_to"] == a
    unrelated = (await _viewer_ask(api, room_id, v2, "几点关门"))["question_id"]
    cards = await _listing(api, live_room)
    assert cards[b]["similar_to"] == a
    assert cards[a]["similar_to"] is None and cards[unrelated]["similar_to"] is None
    assert await _suggestions(api) == {"made": 1.0}

    status, merged = await api.post(f"/api/v1/questions/{b}/merge", host, json={"into": a})
    assert status == 200, merged
    assert merged["into"]["askers"] == 2 and merged["question"]["merged_into"] == a
    assert await _suggestions(api) == {"made": 1.0, "accepted": 1.0}
    # the host merging against the suggestion is a correction, not an accepted suggestion
    status, _ = await api.post(f"/api/v1/questions/{unrelated}/merge", host, json={"into": a})
    assert status == 200
    assert await _suggestions(api) == {"made": 1.0, "accepted": 1.0}
