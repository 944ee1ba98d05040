"""Douyin's live-room data push: signature (good, bad, stale, replayed), duplicates,
each message type's effect, bindings that never show their secret."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import orjson

from live_server.platforms.models import douyin_signature
from tests.conftest import Api, SioFactory
from tests.live_server.platforms.conftest import (
    BRAND,
    DOUYIN_SECRET,
    BoundRoom,
    comment,
    douyin_headers,
    gift,
    like,
    push,
    stats,
)


def test_signature_matches_douyins_documented_example() -> None:
    """The example in Douyin's data-push docs (signature section)."""
    headers = {"x-nonce-str": "123456", "x-timestamp": "456789", "x-roomid": "268",
               "x-msg-type": "user_group"}  # fmt: skip
    assert douyin_signature(headers, "abc123你好".encode(), "123abc") == "GAkalGmhzqlUGQO/TgvMug=="


async def test_binding_never_returns_the_secret(api: Api, douyin_room: BoundRoom) -> None:
    room = await douyin_room()
    status, body = await api.get(f"/api/v1/rooms/{room['room_id']}/platforms", room["host_token"])
    assert status == 200 and body["platforms"][0]["platform_room_id"] == room["platform_room_id"]
    assert DOUYIN_SECRET not in orjson.dumps(body).decode() and "secret" not in body["platforms"][0]
    status, body = await api.put(
        f"/api/v1/rooms/{room['room_id']}/platforms/kuaishou", room["host_token"],
        json={"platform_room_id": "1", "secret": DOUYIN_SECRET},
    )  # fmt: skip
    assert status == 400 and body["status"] == 400


async def test_host_of_another_room_cannot_bind(
    api: Api, douyin_room: BoundRoom, make_room: Any
) -> None:
    room, other = await douyin_room(), await make_room()
    status, _ = await api.put(
        f"/api/v1/rooms/{room['room_id']}/platforms/douyin", other["host_token"],
        json={"platform_room_id": "42", "secret": DOUYIN_SECRET},
    )  # fmt: skip
    assert status == 403


async def test_another_brands_host_cannot_take_over_a_bound_platform_room(
    api: Api, douyin_room: BoundRoom, make_room: Any
) -> None:
    """A platform room feeds one room: the brand's next room may take it over, another
    brand's host may not (it would silence the brand's live feed and read its pushes)."""
    room = await douyin_room()
    body = {"platform_room_id": room["platform_room_id"], "secret": "attacker-secret-1234567890"}
    rival = await make_room(brand="another-brand")
    url = f"/api/v1/rooms/{rival['room_id']}/platforms/douyin"
    status, problem = await api.put(url, rival["host_token"], json=body)
    assert status == 409 and problem["type"].endswith("/platform-room-taken"), problem
    assert (await push(api, room, "live_like", [like(2)]))[0] == 200  # still the brand's
    successor = await make_room(brand=BRAND)
    url = f"/api/v1/rooms/{successor['room_id']}/platforms/douyin"
    status, _ = await api.put(url, successor["host_token"], json={**body, "secret": DOUYIN_SECRET})
    assert status == 200


async def test_question_comment_becomes_a_card_chatter_is_counted(
    api: Api, douyin_room: BoundRoom, sio_client: SioFactory
) -> None:
    room = await douyin_room()
    _, host = await sio_client("/host", room["host_token"])
    status, body = await push(api, room, "live_comment", [
        comment("6寸的草莓蛋糕今天还能预订吗？"), comment("666"), comment("来了"),
        comment("主播好"),
    ])  # fmt: skip
    assert status == 200, body
    assert {k: body[k] for k in ("accepted", "duplicates", "questions")} == {
        "accepted": 4, "duplicates": 0, "questions": 1,
    }  # fmt: skip
    card = (await host.wait_for("question.new"))[0]
    assert body["cards"] == [{"question_id": card["id"], "askers": 1}]
    assert card["text"].startswith("6寸的草莓蛋糕")
    assert card["sources"] == [{"source": "live_comment", "platform": "douyin", "askers": 1}]
    counters = await stats(api, room)
    assert counters["live_comments"] == 1 and counters["live_chatter"] == 3
    status, listed = await api.get(f"/api/v1/rooms/{room['room_id']}/questions", room["host_token"])
    assert [q["text"] for q in listed["questions"]] == [card["text"]]


async def test_similar_comments_merge_into_one_card(
    api: Api, douyin_room: BoundRoom, sio_client: SioFactory
) -> None:
    room = await douyin_room()
    _, host = await sio_client("/host", room["host_token"])
    await push(api, room, "live_comment", [comment("静安店几点开门？")])
    first = (await host.wait_for("question.new"))[0]
    await push(api, room, "live_comment", [comment("静安店几点开门呀？")])
    merged = await host.wait_for("question.updated", where=lambda c: c["id"] == first["id"])
    assert merged[-1]["askers"] == 2


async def test_bad_signature_is_401_and_changes_nothing(api: Api, douyin_room: BoundRoom) -> None:
    room = await douyin_room()
    before = await stats(api, room)
    body = orjson.dumps([like(10)])
    headers = douyin_headers(room["platform_room_id"], "live_like", body, secret="wrong" * 8)
    status, problem = await api.post("/api/v1/platforms/douyin/push", data=body, headers=headers)
    assert status == 401 and problem["title"] == "Platform signature invalid"
    # a body changed after signing
    headers = douyin_headers(room["platform_room_id"], "live_like", body)
    status, _ = await api.post(
        "/api/v1/platforms/douyin/push", data=orjson.dumps([like(99)]), headers=headers
    )
    assert status == 401
    # no signature at all
    headers.pop("x-signature")
    status, _ = await api.post("/api/v1/platforms/douyin/push", data=body, headers=headers)
    assert status == 401
    assert await stats(api, room) == before


async def test_stale_timestamp_is_401(api: Api, douyin_room: BoundRoom) -> None:
    room = await douyin_room()
    six_minutes_ago = int((time.time() - 360) * 1000)
    status, _ = await push(api, room, "live_like", [like(5)], timestamp_ms=six_minutes_ago)
    assert status == 401
    in_the_future = int((time.time() + 360) * 1000)
    status, _ = await push(api, room, "live_like", [like(5)], timestamp_ms=in_the_future)
    assert status == 401
    four_minutes_ago = int((time.time() - 240) * 1000)
    status, _ = await push(api, room, "live_like", [like(5)], timestamp_ms=four_minutes_ago)
    assert status == 200
    assert (await stats(api, room))["likes"] == 5


async def test_replayed_push_and_repeated_messages_count_once(
    api: Api, douyin_room: BoundRoom
) -> None:
    room = await douyin_room()
    messages = [like(3, msg_id="m1"), like(4, msg_id="m2")]
    body = orjson.dumps(messages)
    headers = douyin_headers(room["platform_room_id"], "live_like", body)
    first = await api.post("/api/v1/platforms/douyin/push", data=body, headers=headers)
    replay = await api.post("/api/v1/platforms/douyin/push", data=body, headers=headers)
    assert first[1]["accepted"] == 2
    assert replay[1] == {**first[1], "accepted": 0, "duplicates": 2}
    # the platform repeats one message inside a later push, and inside the same push
    status, body2 = await push(
        api, room, "live_like", [like(4, msg_id="m2"), like(5, msg_id="m3"), like(5, msg_id="m3")]
    )
    assert status == 200 and body2["accepted"] == 1 and body2["duplicates"] == 2
    assert (await stats(api, room))["likes"] == 3 + 4 + 5


async def test_unknown_platform_room_is_404(api: Api, douyin_room: BoundRoom) -> None:
    room = await douyin_room()
    status, problem = await push(api, {**room, "platform_room_id": "123"}, "live_like", [like(1)])
    assert status == 404 and problem["title"] == "Platform room not bound"
    status, _ = await api.delete(
        f"/api/v1/rooms/{room['room_id']}/platforms/douyin", room["host_token"]
    )
    assert status == 204
    status, _ = await push(api, room, "live_like", [like(1)])
    assert status == 404


async def test_malformed_push_is_400_and_changes_nothing(api: Api, douyin_room: BoundRoom) -> None:
    room = await douyin_room()
    for msg_type, payload in (
        ("live_like", b'{"not": "a list"}'),
        ("live_like", b'[{"like_num": 3}]'),  # no msg_id
        ("live_unknown", orjson.dumps([like(3)])),
        ("live_like", orjson.dumps([like(2**62)])),  # would overflow the room's counter
        ("live_like", json.dumps([like(3), {**like(1), "like_num": 10**30}]).encode()),
    ):
        headers = douyin_headers(room["platform_room_id"], msg_type, payload)
        status, problem = await api.post(
            "/api/v1/platforms/douyin/push", data=payload, headers=headers
        )
        assert status == 400, problem
        assert problem["status"] == 400
    assert (await stats(api, room))["likes"] == 0


async def test_likes_gifts_fansclub_become_counters_and_engagement(
    api: Api, douyin_room: BoundRoom, sio_client: SioFactory
) -> None:
    room = await douyin_room()
    _, host = await sio_client("/host", room["host_token"])
    assert (await push(api, room, "live_like", [like(12), like(30)]))[0] == 200
    assert (await push(api, room, "live_gift", [gift(2, 20), gift(1, 520)]))[0] == 200
    fan = {**like(0), "fansclub_reason_type": 1, "fansclub_level": 1}
    assert (await push(api, room, "live_fansclub", [fan]))[0] == 200
    counters = await stats(api, room)
    assert counters["likes"] == 42 and counters["gifts"] == 3 and counters["gift_value"] == 540
    assert counters["fansclub_joins"] == 1
    seen = await host.wait_for(
        "room.engagement", where=lambda e: e["likes"] == 42 and e["fansclub_joins"] == 1,
        timeout=5,
    )  # fmt: skip
    assert seen[-1]["gift_value"] == 540 and seen[-1]["room_id"] == room["room_id"]


async def test_engagement_is_sent_at_most_once_a_second(
    api: Api, douyin_room: BoundRoom, sio_client: SioFactory
) -> None:
    room = await douyin_room()
    _, host = await sio_client("/host", room["host_token"])
    deadline = time.monotonic() + 2.6
    sent = 0
    while time.monotonic() < deadline:  # a like storm: many pushes for 2.6 s
        assert (await push(api, room, "live_like", [like(1) for _ in range(20)]))[0] == 200
        sent += 20
    events = await host.wait_for("room.engagement", where=lambda e: e["likes"] == sent, timeout=5)
    stamps = [e["ts"] for e in host.of("room.engagement")]
    assert len(events) >= 1 and len(stamps) <= 5
    assert all(b - a >= 950 for a, b in itertools.pairwise(stamps)), stamps
