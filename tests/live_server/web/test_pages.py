"""The browser pages: HTML with a strict CSP and no inline script, ids escaped or refused,
declared in /openapi.json like every other route."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

PAGES = {
    "/demo/room/r_demo": ("room.js", "widget.js"),
    "/embed/r_demo": ("widget.js",),
    "/host/r_demo": ("host.js",),
    "/store/sh-jingan": ("store.js",),
    "/stats/r_demo": ("stats.js",),
}


@pytest.mark.parametrize("path", sorted(PAGES))
async def test_page_is_html_with_strict_csp(base_url: str, path: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(base_url + path) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        html = await resp.text()
        csp = resp.headers["Content-Security-Policy"]
        headers = resp.headers
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    if path.startswith("/embed/"):
        assert "frame-ancestors *" in csp and "X-Frame-Options" not in headers
    else:
        assert "frame-ancestors 'none'" in csp and headers["X-Frame-Options"] == "DENY"
    # Every script is an external file: no inline code, no inline handlers.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+=", html)
    assert "<style" not in html and "style=" not in html
    for bundle in PAGES[path]:
        assert f"/static/{bundle}" in html


@pytest.mark.parametrize(
    "path", ["/demo/room/a%22b", "/host/%3Cscript%3E", "/store/x%20y", "/stats/" + "r" * 65]
)
async def test_page_refuses_a_malformed_id(api: Any, path: str) -> None:
    status, body = await api.get(path)
    assert status == 404
    assert body["type"].endswith("/page-not-found")


async def test_page_routes_are_in_openapi(api: Any) -> None:
    status, doc = await api.get("/openapi.json")
    assert status == 200
    for path in ("/demo/room/{room}", "/embed/{room}", "/host/{room}", "/store/{store}",
                 "/stats/{room}"):  # fmt: skip
        op = doc["paths"][path]["get"]
        assert op["tags"] == ["pages"] and "security" not in op
