"""Launch identities: the platform opens /embed/{room}?launch=<token>; the widget trades
it for the viewer of that platform identity (OneID across rooms), verified."""

from __future__ import annotations

import time
from typing import Any

from live_server.rooms.models import sign_launch
from tests.conftest import Api
from tests.live_server.platforms.conftest import PLATFORM_SECRET


def launch_for(room_id: str, open_id: str = "open_abc", *, exp: int | None = None,
               secret: str = PLATFORM_SECRET, platform: str = "douyin") -> str:  # fmt: skip
    return sign_launch(secret, platform, open_id, room_id, exp or int(time.time()) + 600)


async def test_launch_token_gives_the_same_verified_viewer_across_rooms(
    api: Api, make_room: Any
) -> None:
    a, b = await make_room(), await make_room()
    status, first = await api.post(
        f"/api/v1/rooms/{a['room_id']}/viewers", json={"launch": launch_for(a["room_id"])}
    )
    assert status == 201 and first["verified"] is True, first
    status, second = await api.post(
        f"/api/v1/rooms/{b['room_id']}/viewers", json={"launch": launch_for(b["room_id"])}
    )
    assert status == 201 and second["viewer_id"] == first["viewer_id"]
    status, other = await api.post(
        f"/api/v1/rooms/{b['room_id']}/viewers",
        json={"launch": launch_for(b["room_id"], "open_xyz")},
    )
    assert status == 201 and other["viewer_id"] != first["viewer_id"]
    # same open id on another platform: another person
    status, wx = await api.post(
        f"/api/v1/rooms/{b['room_id']}/viewers",
        json={"launch": launch_for(b["room_id"], platform="wechat")},
    )
    assert status == 201 and wx["viewer_id"] != first["viewer_id"]
    # the token is a verified viewer: a campaign that needs verified viewers lets it claim
    status, _ = await api.get(f"/api/v1/rooms/{a['room_id']}", first["token"])
    assert status == 200


async def test_verified_launch_viewer_claims_a_verified_only_coupon(
    api: Api, make_room: Any
) -> None:
    room = await make_room()
    rid, host = room["room_id"], room["host_token"]
    path = f"/api/v1/rooms/{rid}/campaigns"
    status, campaign = await api.post(path, host, json={
        "title": "verified only", "value": 5, "quantity": 5, "per_user": 1,
        "expires_at": int(time.time()) + 3600, "identity": "verified",
    })  # fmt: skip
    assert status == 201, campaign
    assert (await api.post(f"{path}/{campaign['id']}/drop", host))[0] == 200
    _, launched = await api.post(f"/api/v1/rooms/{rid}/viewers", json={"launch": launch_for(rid)})
    _, anonymous = await api.post(f"/api/v1/rooms/{rid}/viewers", json={})
    assert (await api.post(f"{path}/{campaign['id']}/claim", launched["token"]))[0] == 201
    assert (await api.post(f"{path}/{campaign['id']}/claim", anonymous["token"]))[0] == 403


async def test_refused_launch_tokens(api: Api, make_room: Any) -> None:
    a, b = await make_room(), await make_room()
    rid = a["room_id"]
    good = launch_for(rid)
    first, mac = good.split(".")
    cases = {
        "expired": launch_for(rid, exp=int(time.time()) - 1),
        "another room": launch_for(b["room_id"]),
        "forged": launch_for(rid, secret="not-the-platform-secret-0123456789"),
        "tampered": first[:-2] + "xx." + mac,
        "no mac": first,
        "garbage": "not a token at all",
    }
    for why, token in cases.items():
        status, problem = await api.post(f"/api/v1/rooms/{rid}/viewers", json={"launch": token})
        assert status == 403, (why, problem)
        assert problem["title"] == "Launch token refused", why


async def test_launch_tokens_need_the_platform_secret(settings: Any, make_room: Any) -> None:
    import aiohttp
    from aiohttp.test_utils import TestServer

    from live_server.app import create_app

    server = TestServer(create_app(settings.with_changes(platform_secret="")), host="127.0.0.1")
    await server.start_server()
    try:
        room = await make_room()
        url = str(server.make_url(f"/api/v1/rooms/{room['room_id']}/viewers"))
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={"launch": launch_for(room["room_id"])}) as r:
                body = await r.json(content_type=None)
                assert r.status == 403 and "LIVE_PLATFORM_SECRET" in body["detail"]
    finally:
        await server.close()
