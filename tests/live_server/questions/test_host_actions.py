"""Host actions (pin, answer, dismiss, restore), events to viewers and host, votes, ranking."""

from __future__ import annotations

from typing import Any

import redis as sync_redis

from live_server.core import keys
from tests.conftest import Api

from .conftest import group_message, post_signed


async def _ask(api: Api, room: dict[str, Any], viewer: dict[str, Any], text: str) -> str:
    status, body = await api.post(
        f"/api/v1/rooms/{room['room_id']}/questions", viewer["token"], json={"text": text}
    )
    assert status == 200, body
    return str(body["question_id"])


async def test_pin_answer_dismiss_restore_with_events(
    api: Api, live_room: dict[str, Any], make_viewer: Any, sio_client: Any,
    clean_redis: sync_redis.Redis,
) -> None:  # fmt: skip
    room_id, host = live_room["room_id"], live_room["host_token"]
    viewer = await make_viewer(room_id)
    _, live_log = await sio_client("/live", viewer["token"])
    _, host_log = await sio_client("/host", host)
    a = await _ask(api, live_room, viewer, "欧包是当天现烤的吗")
    b = await _ask(api, live_room, viewer, "Do you deliver to Hangzhou?")

    status, card = await api.post(f"/api/v1/questions/{a}/pin", host)
    assert status == 200 and card["status"] == "pinned"
    (pinned,) = await live_log.wait_for("question.pinned")
    assert pinned["id"] == a and pinned["text"] == "欧包是当天现烤的吗" and "ts" in pinned
    assert "group_ids" not in pinned
    assert clean_redis.hget(keys.room(room_id), "pinned") == a.encode()
    _, late_log = await sio_client("/live", (await make_viewer(room_id))["token"])
    (state,) = await late_log.wait_for("room.state")
    assert state["pinned"]["id"] == a and state["pinned"]["text"] == "欧包是当天现烤的吗"

    status, card = await api.post(f"/api/v1/questions/{b}/pin", host)
    assert status == 200 and card["status"] == "pinned"
    assert clean_redis.hget(keys.room(room_id), "pinned") == b.encode()
    await host_log.wait_for(
        "question.updated", where=lambda e: e["id"] == a and e["status"] == "new"
    )
    status, again = await api.post(f"/api/v1/questions/{b}/pin", host)
    assert status == 200 and again["status"] == "pinned"  # idempotent

    status, card = await api.post(f"/api/v1/questions/{b}/answer", host)
    assert status == 200 and card["status"] == "answered"
    (answered,) = await live_log.wait_for("question.answered")
    assert answered["id"] == b
    assert clean_redis.hget(keys.room(room_id), "pinned") is None
    _, archive = await api.get(f"/api/v1/rooms/{room_id}/questions?status=answered", host)
    assert [q["id"] for q in archive["questions"]] == [b]
    status, card = await api.post(f"/api/v1/questions/{b}/restore", host)
    assert status == 200 and card["status"] == "new"

    status, card = await api.post(f"/api/v1/questions/{a}/dismiss", host)
    assert status == 200 and card["status"] == "dismissed"
    status, body = await api.post(f"/api/v1/questions/{a}/pin", host)
    assert status == 409 and "dismissed" in body["detail"]
    status, body = await api.post(f"/api/v1/questions/{a}/approve", host)
    assert status == 409  # only held questions are approved
    _, listing = await api.get(f"/api/v1/rooms/{room_id}/questions?status=new,pinned", host)
    assert [q["id"] for q in listing["questions"]] == [b]
    # an empty filter is no filter; a wrong status is named with the allowed ones
    _, everything = await api.get(f"/api/v1/rooms/{room_id}/questions?status=&sort=new", host)
    assert {q["id"] for q in everything["questions"]} == {a, b}
    status, body = await api.get(f"/api/v1/rooms/{room_id}/questions?status=open", host)
    assert status == 400 and "'new', 'held'" in body["detail"], body


async def test_who_may_act_on_a_question(
    api: Api, live_room: dict[str, Any], make_room: Any, make_viewer: Any
) -> None:
    viewer = await make_viewer(live_room["room_id"])
    qid = await _ask(api, live_room, viewer, "可以开发票吗")
    other = await make_room()
    status, body = await api.post(f"/api/v1/questions/{qid}/pin", other["host_token"])
    assert status == 403 and body["type"].endswith("question-other-room")
    status, _ = await api.post(f"/api/v1/questions/{qid}/pin", viewer["token"])
    assert status == 403
    status, _ = await api.post(f"/api/v1/questions/{qid}/pin")
    assert status == 401
    for bad in ("nope", "q.", f"q.{live_room['room_id']}.999", "q.r_x.abc"):
        status, _ = await api.post(f"/api/v1/questions/{bad}/pin", live_room["host_token"])
        assert status in (403, 404), bad
    status, _ = await api.post(
        f"/api/v1/questions/q.{live_room['room_id']}.999/pin", live_room["host_token"]
    )
    assert status == 404
    status, card = await api.get(f"/api/v1/questions/{qid}", live_room["host_token"])
    assert status == 200 and card["id"] == qid


async def test_votes_one_per_viewer_and_ranking(
    api: Api, live_room: dict[str, Any], make_viewer: Any, make_group: Any, sio_client: Any
) -> None:
    room_id, host = live_room["room_id"], live_room["host_token"]
    viewers = [await make_viewer(room_id) for _ in range(4)]
    _, host_log = await sio_client("/host", host)
    popular = await _ask(api, live_room, viewers[0], "烘焙课多少钱")
    quiet = await _ask(api, live_room, viewers[0], "可以带宠物进店吗")
    for v in viewers:
        status, body = await api.post(f"/api/v1/questions/{popular}/vote", v["token"])
        assert status == 200 and body["counted"] is True
    status, body = await api.post(f"/api/v1/questions/{popular}/vote", viewers[0]["token"])
    assert status == 200 and body["counted"] is False and body["votes"] == 4
    await host_log.wait_for(
        "question.updated", where=lambda e: e["id"] == popular and e["votes"] == 4
    )
    _, top = await api.get(f"/api/v1/rooms/{room_id}/questions?sort=top", host)
    assert [q["id"] for q in top["questions"]] == [popular, quiet]
    assert top["questions"][0]["score"] > top["questions"][1]["score"]
    _, new = await api.get(f"/api/v1/rooms/{room_id}/questions?sort=new", host)
    assert [q["id"] for q in new["questions"]] == [quiet, popular]

    # group diversity: members of three groups outrank votes from fresh viewer ids
    groups = [
        await make_group(f"g{i}", store)
        for i, store in enumerate(["sh-jingan", "hz-wulin", "sz-guanqian"])
    ]
    for i, g in enumerate(groups):
        status, body = await post_signed(
            api, g, group_message("可以带宠物进店吗？", author=f"m{i}")
        )
        assert body["question_id"] == quiet
    _, top = await api.get(f"/api/v1/rooms/{room_id}/questions?sort=top", host)
    assert [q["id"] for q in top["questions"]] == [quiet, popular]
    _, by_store = await api.get(f"/api/v1/rooms/{room_id}/questions?store=hz-wulin", host)
    assert [q["id"] for q in by_store["questions"]] == [quiet]
    _, by_group = await api.get(f"/api/v1/rooms/{room_id}/questions?group=g0", host)
    assert [q["id"] for q in by_group["questions"]] == [quiet]
    status, _ = await api.get(f"/api/v1/rooms/{room_id}/questions?sort=best", host)
    assert status == 400

    # dismissed questions take no votes
    await api.post(f"/api/v1/questions/{popular}/dismiss", host)
    late = await make_viewer(room_id)
    status, body = await api.post(f"/api/v1/questions/{popular}/vote", late["token"])
    assert status == 409


async def test_vote_stuffing_from_one_address_is_capped(
    api: Api, live_room: dict[str, Any], make_viewer: Any
) -> None:
    viewer = await make_viewer(live_room["room_id"])
    qid = await _ask(api, live_room, viewer, "月饼能放几天")
    counted = 0
    for _ in range(22):  # fresh anonymous viewer ids, one address (cap 20 per card)
        v = await make_viewer(live_room["room_id"])
        status, _body = await api.post(f"/api/v1/questions/{qid}/vote", v["token"])
        if status == 200:
            counted += 1
        else:
            assert status == 429
    assert counted == 20
