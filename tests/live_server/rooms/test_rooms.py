from __future__ import annotations

from typing import Any

from tests.conftest import Api


async def test_room_lifecycle(api: Api, make_room: Any) -> None:
    room = await make_room(live=False)
    rid, host = room["room_id"], room["host_token"]
    status, body = await api.get(f"/api/v1/rooms/{rid}", host)
    assert status == 200 and body["status"] == "scheduled"
    assert (await api.post(f"/api/v1/rooms/{rid}/start", host))[1]["status"] == "live"
    assert (await api.post(f"/api/v1/rooms/{rid}/end", host))[1]["status"] == "ended"
    status, body = await api.post(f"/api/v1/rooms/{rid}/start", host)
    assert status == 409 and "ended" in body["detail"]


async def test_host_of_another_room_is_refused(api: Api, make_room: Any) -> None:
    a, b = await make_room(live=False), await make_room(live=False)
    status, _ = await api.post(f"/api/v1/rooms/{a['room_id']}/start", b["host_token"])
    assert status == 403


async def test_same_external_id_same_viewer_across_rooms(make_room: Any, make_viewer: Any) -> None:
    a, b = await make_room(), await make_room()
    v1 = await make_viewer(a["room_id"], external_id="tel:+8613800000000")
    v2 = await make_viewer(b["room_id"], external_id="tel:+8613800000000")
    v3 = await make_viewer(b["room_id"], external_id="tel:+8613900000000")
    anon1, anon2 = await make_viewer(a["room_id"]), await make_viewer(a["room_id"])
    assert v1["viewer_id"] == v2["viewer_id"] != v3["viewer_id"]
    assert anon1["viewer_id"] != anon2["viewer_id"]


async def test_viewer_for_unknown_room_is_404(api: Api) -> None:
    status, body = await api.post("/api/v1/rooms/r_nope/viewers", json={})
    assert status == 404 and body["title"] == "Room not found"


async def test_external_ids_need_the_platform_signature_when_configured(
    settings: Any, make_room: Any
) -> None:
    import hashlib
    import hmac

    import aiohttp
    from aiohttp.test_utils import TestServer

    from live_server.app import create_app

    platform = "platform-integration-secret-0123456789abcdef"
    server = TestServer(
        create_app(settings.with_changes(platform_secret=platform)), host="127.0.0.1"
    )
    await server.start_server()
    try:
        room = await make_room()
        url = str(server.make_url(f"/api/v1/rooms/{room['room_id']}/viewers"))
        phone = "tel:+8613800000000"
        good = hmac.new(platform.encode(), phone.encode(), hashlib.sha256).hexdigest()
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json={"external_id": phone, "external_id_sig": good}) as r:
                first = await r.json()
                assert r.status == 201 and first["verified"] is True
            async with http.post(url, json={"external_id": phone, "external_id_sig": good}) as r:
                assert (await r.json())["viewer_id"] == first["viewer_id"]
            for forged in (
                {"external_id": phone},
                {"external_id": phone, "external_id_sig": "00" * 32},
            ):
                async with http.post(url, json=forged) as r:
                    body = await r.json(content_type=None)
                    assert r.status == 403 and "external_id_sig" in body["detail"]
            async with http.post(url, json={}) as r:  # anonymous viewers stay possible
                assert r.status == 201 and (await r.json())["verified"] is False
    finally:
        await server.close()
