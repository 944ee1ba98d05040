"""The flash-crowd routes are registered first (live_server/api.py, Api.install); that is
only safe while no other route matches the same URLs. This checks it for every route."""

from __future__ import annotations

import re

from live_server import limits
from live_server.app import build_api


def _pattern(path: str) -> re.Pattern[str]:
    # aiohttp's default for a {name} segment: anything but a slash (or braces).
    literal = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
    return re.compile(re.sub(r"\{[^}]+\}", "[^{}/]+", literal) + "$")


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_hot_routes_overlap_no_other_route() -> None:
    endpoints = build_api().endpoints
    hot = [ep for ep in endpoints if (ep.method, ep.path) in limits.RULES]
    assert {(ep.method, ep.path) for ep in hot} == set(limits.RULES)  # every rule has its route
    for h in hot:
        for other in endpoints:
            if other.path == h.path:
                continue
            assert not _pattern(other.path).match(_sample(h.path)), (h.path, other.path)
            assert not _pattern(h.path).match(_sample(other.path)), (h.path, other.path)


def test_the_pattern_helper_sees_an_overlap() -> None:
    assert _pattern("/api/v1/stores/{store}").match(_sample("/api/v1/stores/nearest"))
    assert not _pattern("/api/v1/rooms/{room}").match(_sample("/api/v1/rooms/{room}/bookings"))
