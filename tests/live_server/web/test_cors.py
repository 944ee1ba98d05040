"""CORS of /api/: the widget calls the API from a shop's own pages with a bearer token, so a
browser first sends a preflight, then reads the answer (and our headers) only if allowed."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.settings import Settings

SHOP = "https://shop.example"
CLAIM = "/api/v1/rooms/r_x/campaigns/cp_22222/claim"


def preflight(method: str, headers: str = "authorization,content-type") -> dict[str, str]:
    return {
        "Origin": SHOP,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_preflight_and_actual_request_from_any_origin(
    api: Any, make_room: Callable[..., Awaitable[dict[str, Any]]], make_viewer: Any
) -> None:
    s = api.session
    async with s.options(
        api.base + CLAIM, headers=preflight("POST", "authorization,idempotency-key")
    ) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == SHOP
        assert r.headers["Access-Control-Allow-Methods"] == "POST"
        assert r.headers["Access-Control-Allow-Headers"] == "authorization,idempotency-key"
        assert r.headers["Access-Control-Max-Age"] == "600"
        assert "Origin" in r.headers.getall("Vary")
    # a method the route does not have: refused, with the ones it has
    async with s.options(api.base + CLAIM, headers=preflight("DELETE")) as r:
        body = await r.json(content_type=None)
        assert r.status == 403 and "POST" in body["detail"]
        assert "Access-Control-Allow-Origin" not in r.headers
    async with s.options(api.base + "/api/v1/nothing/here", headers=preflight("GET")) as r:
        assert r.status == 404
    # the actual request: the page may read the answer, errors included, and our headers
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    url = f"{api.base}/api/v1/rooms/{room['room_id']}/campaigns"
    async with s.get(
        url, headers={"Origin": SHOP, "Authorization": f"Bearer {viewer['token']}"}
    ) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == SHOP
        assert "X-Request-Id" in r.headers["Access-Control-Expose-Headers"].split(",")
    async with s.post(api.base + CLAIM, headers={"Origin": SHOP}) as r:
        assert r.status == 401  # no token: the page can still read why
        assert r.headers["Access-Control-Allow-Origin"] == SHOP
    # no Origin (not a browser), or not an /api/ route: no CORS headers
    async with s.get(url, headers={"Authorization": f"Bearer {viewer['token']}"}) as r:
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
    async with s.get(api.base + "/healthz", headers={"Origin": SHOP}) as r:
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


@pytest.fixture
async def strict_base(settings: Settings) -> AsyncIterator[str]:
    strict = dataclasses.replace(settings, cors_origins=(SHOP,))
    srv = TestServer(create_app(strict), host="127.0.0.1")
    await srv.start_server()
    yield str(srv.make_url("")).rstrip("/")
    await srv.close()


async def test_only_the_configured_origins(strict_base: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.options(strict_base + CLAIM, headers=preflight("POST")) as r:
            assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == SHOP
        other = {**preflight("POST"), "Origin": "https://evil.example"}
        async with s.options(strict_base + CLAIM, headers=other) as r:
            body = await r.json(content_type=None)
            assert r.status == 403 and "evil.example" in body["detail"]
            assert "Access-Control-Allow-Origin" not in r.headers
        async with s.post(strict_base + CLAIM, headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 401 and "Access-Control-Allow-Origin" not in r.headers
