"""The flash-crowd routes (those declared with rate limits) are registered first
(live_server/web/api.py, Api.install); that is
only safe while no other route matches the same URLs. This checks it for every route."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestServer, make_mocked_request

from live_server.app import build_api
from tests.conftest import Api


def _pattern(path: str) -> re.Pattern[str]:
    # aiohttp's default for a {name} segment: anything but a slash (or braces).
    literal = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    return re.compile(re.sub(r"\{[^}]+\}", "[^{}/]+", literal) + "$")


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_hot_routes_overlap_no_other_route() -> None:
    endpoints = build_api().endpoints
    hot = [ep for ep in endpoints if ep.limits]
    # the five flash-crowd routes carry their limits (the claim's viewer rule in its script)
    assert {(ep.method, ep.path) for ep in hot} == {
        ("POST", "/api/v1/rooms/{room}/campaigns/{campaign}/claim"),
        ("POST", "/api/v1/rooms/{room}/bookings"),
        ("POST", "/api/v1/rooms/{room}/questions"),
        ("POST", "/api/v1/questions/{question}/vote"),
        ("POST", "/api/v1/rooms/{room}/viewers"),
    }
    for h in hot:
        for other in endpoints:
            if other.path == h.path:
                continue
            assert not _pattern(other.path).match(_sample(h.path)), (h.path, other.path)
            assert not _pattern(h.path).match(_sample(other.path)), (h.path, other.path)


def test_the_pattern_helper_sees_an_overlap() -> None:
    assert _pattern("/api/v1/stores/{store}").match(_sample("/api/v1/stores/nearest"))
    assert not _pattern("/api/v1/rooms/{room}").match(_sample("/api/v1/rooms/{room}/bookings"))


async def test_hot_urls_resolve_like_every_other_url(api: Api, server: TestServer) -> None:
    # The hot routes are found by one regex before aiohttp's walk (Api.install); the router
    # must still give the same route, the same 405 with Allow, the same 404 as aiohttp's.
    router = server.app.router
    assert "_resolve_hot_first" in router.resolve.__qualname__  # the fast path is installed
    for method, path in [(ep.method, ep.path) for ep in build_api().endpoints if ep.limits]:
        url = _sample(path)
        match = await router.resolve(make_mocked_request(method, url, app=server.app))
        assert match.route.method == method and match.route.resource.canonical == path
        assert match["room" if "{room}" in path else next(iter(match))] == "x1"
        status, body = await api.call("PATCH", url)
        assert status == 405, (path, body)
        assert method in body["detail"]
        status, body = await api.call(method, url + "/extra")
        assert status == 404, (path, body)
    # a real request on a hot route reaches its handler (its own 401, not a routing error)
    status, body = await api.post(_sample("/api/v1/rooms/{room}/campaigns/{campaign}/claim"))
    assert status == 401 and "token" in body["detail"]
