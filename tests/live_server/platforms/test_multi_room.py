"""Several live rooms per brand: a group question goes to the live room of the group's
store, else to the brand's main room; each live room gets its own questions; ending one
leaves the other."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from live_server.questions.models import sign
from tests.conftest import Api, SioFactory
from tests.live_server.platforms.conftest import BRAND, comment, push


async def _group(api: Api, ops_token: str, group_id: str, store_id: str) -> dict[str, Any]:
    status, group = await api.put(
        f"/api/v1/groups/{group_id}", ops_token,
        json={"store_id": store_id, "name": group_id, "brand": BRAND},
    )  # fmt: skip
    assert status == 200, group
    return dict(group)


async def _ask(api: Api, group: dict[str, Any], text: str) -> tuple[int, Any]:
    body = orjson.dumps({"message_id": uuid.uuid4().hex, "author_id": uuid.uuid4().hex,
                         "text": text, "sent_at": int(time.time())})  # fmt: skip
    ts = str(int(time.time()))
    return await api.post(
        f"/api/v1/groups/{group['id']}/messages", data=body,
        headers={"Content-Type": "application/json", "X-Timestamp": ts,
                 "X-Signature": sign(group["secret"], ts, body)},
    )  # fmt: skip


async def test_group_questions_go_to_the_store_room_else_the_main_room(
    api: Api, ops_token: str, make_room: Any, sio_client: SioFactory
) -> None:
    main = await make_room(title="Brand main studio", brand=BRAND)
    jingan = await make_room(title="Jing'an studio", brand=BRAND, store_id="sh-jingan")
    _, main_host = await sio_client("/host", main["host_token"])
    _, jingan_host = await sio_client("/host", jingan["host_token"])
    g_jingan = await _group(api, ops_token, "g-jingan", "sh-jingan")
    g_xuhui = await _group(api, ops_token, "g-xuhui", "sh-xuhui")

    status, body = await _ask(api, g_jingan, "静安店周末几点开门？")
    assert status == 200 and body["room_id"] == jingan["room_id"], body
    status, body = await _ask(api, g_xuhui, "徐汇店可以停车吗？")
    assert status == 200 and body["room_id"] == main["room_id"], body
    await jingan_host.wait_for("question.new", where=lambda c: "静安" in c["text"])
    await main_host.wait_for("question.new", where=lambda c: "徐汇" in c["text"])
    assert not [c for c in jingan_host.of("question.new") if "徐汇" in c["text"]]
    assert not [c for c in main_host.of("question.new") if "静安" in c["text"]]

    # the main room ends: the store's studio keeps its questions, other stores get a 409
    assert (await api.post(f"/api/v1/rooms/{main['room_id']}/end", main["host_token"]))[0] == 200
    deadline = time.monotonic() + 3  # the routing cache lives 1 s
    while True:
        status, body = await _ask(api, g_xuhui, "徐汇店有会员价吗？")
        if status == 409 or time.monotonic() > deadline:
            break
    assert status == 409, body
    status, body = await _ask(api, g_jingan, "静安店有现货吗？")
    assert status == 200 and body["room_id"] == jingan["room_id"]


async def test_store_room_ends_its_group_falls_back_to_the_main_room(
    api: Api, ops_token: str, make_room: Any
) -> None:
    main = await make_room(brand=BRAND)
    jingan = await make_room(brand=BRAND, store_id="sh-jingan")
    g_jingan = await _group(api, ops_token, "g-jingan-2", "sh-jingan")
    assert (await _ask(api, g_jingan, "有无糖的吗？"))[1]["room_id"] == jingan["room_id"]
    assert (await api.post(f"/api/v1/rooms/{jingan['room_id']}/end", jingan["host_token"]))[
        0
    ] == 200
    deadline = time.monotonic() + 3
    while True:
        status, body = await _ask(api, g_jingan, "可以送货上门吗？")
        if body.get("room_id") == main["room_id"] or time.monotonic() > deadline:
            break
    assert status == 200 and body["room_id"] == main["room_id"], body


async def test_two_main_rooms_live_ending_one_leaves_the_other(
    api: Api, ops_token: str, make_room: Any
) -> None:
    first = await make_room(brand=BRAND)
    second = await make_room(brand=BRAND)
    group = await _group(api, ops_token, "g-any", "sh-xuhui")
    assert (await _ask(api, group, "生日蛋糕要提前几天订？"))[1]["room_id"] == first["room_id"]
    assert (await api.post(f"/api/v1/rooms/{first['room_id']}/end", first["host_token"]))[0] == 200
    deadline = time.monotonic() + 3
    while True:
        status, body = await _ask(api, group, "蛋糕可以写字吗？")
        if body.get("room_id") == second["room_id"] or time.monotonic() > deadline:
            break
    assert status == 200 and body["room_id"] == second["room_id"], body
    # ending the first again, or the second starting again, changes nothing for the other
    status, room = await api.get(f"/api/v1/rooms/{second['room_id']}", second["host_token"])
    assert room["status"] == "live"


async def test_each_live_room_gets_its_own_platform_comments(
    api: Api, douyin_room: Any, sio_client: SioFactory
) -> None:
    a = await douyin_room()
    b = await douyin_room(store_id="sh-jingan")
    _, host_a = await sio_client("/host", a["host_token"])
    _, host_b = await sio_client("/host", b["host_token"])
    assert (await push(api, a, "live_comment", [comment("拿铁蛋糕多少钱？")]))[0] == 200
    assert (await push(api, b, "live_comment", [comment("静安店有座位吗？")]))[0] == 200
    await host_a.wait_for("question.new", where=lambda c: "拿铁" in c["text"])
    await host_b.wait_for("question.new", where=lambda c: "静安" in c["text"])
    assert all("静安" not in c["text"] for c in host_a.of("question.new"))
    assert all("拿铁" not in c["text"] for c in host_b.of("question.new"))
