"""Authorization matrix: every route x every role. Enumerates the app's router, so a new
route without a rule (roles, or a place on the public list) fails this test."""

from __future__ import annotations

import re
from typing import Any

import pytest

from live_server.core.tokens import Role, TokenSigner
from live_server.web.api import API, Endpoint
from tests.conftest import Api

# Routes anyone may call, each with the reason it is safe.
PUBLIC = {
    ("GET", "/healthz"): "liveness probe",
    ("GET", "/readyz"): "readiness probe",
    ("GET", "/metrics"): "Prometheus scrape; bind to a private network in production",
    ("GET", "/openapi.json"): "the public contract",
    ("GET", "/asyncapi.json"): "the public contract of the Socket.IO events",
    ("GET", "/docs"): "the public contract, rendered",
    (
        "POST",
        "/api/v1/rooms/{room}/viewers",
    ): "joining a room is open; the token returned is scoped to it",
    ("GET", "/api/v1/stores/{store}"): "store directory",
    ("GET", "/api/v1/stores/nearest"): "store directory",
    ("GET", "/api/v1/stores/{store}/slots"): "open slots are public",
    ("POST", "/api/v1/groups/{group}/messages"): "authenticated by the group's HMAC signature",
    ("POST", "/api/v1/platforms/douyin/push"): "authenticated by Douyin's push signature",
    (
        "POST",
        "/api/v1/rooms/{room}/platform-events",
    ): "authenticated by the room's bridge HMAC signature",
}
PUBLIC_PATTERNS = [
    re.compile(r"^GET /(demo|host|store|stats|embed)/"),  # pages: HTML shells, data needs a token
    re.compile(r"^GET /api/v1/coupons/.+/qr\.svg$"),  # QR of a code: the code is the bearer
    re.compile(r"^GET /api/v1/codes/"),
    re.compile(r"^GET /static/"),
]


def endpoints(server: Any) -> list[Endpoint]:
    return list(server.app[API].endpoints)


def is_public(ep: Endpoint) -> bool:
    key = f"{ep.method} {ep.path}"
    return (ep.method, ep.path) in PUBLIC or any(p.search(key) for p in PUBLIC_PATTERNS)


async def test_every_route_has_a_rule(server: Any) -> None:
    missing = [
        f"{ep.method} {ep.path}"
        for ep in endpoints(server)
        if ep.roles is None and not is_public(ep)
    ]
    assert not missing, f"routes without roles and not on the public list: {missing}"


def fill(path: str) -> str:
    values = {"room": "r_mine", "store": "sh-jingan", "group": "g-jingan"}
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "x_" + m.group(1)), path)


def tokens(signer: TokenSigner) -> dict[str, str]:
    return {
        "viewer": signer.issue(Role.VIEWER, "r_mine", "v_me"),
        "viewer-other-room": signer.issue(Role.VIEWER, "r_other", "v_other"),
        "host": signer.issue(Role.HOST, "r_mine", "host"),
        "host-other-room": signer.issue(Role.HOST, "r_other", "host"),
        "staff": signer.issue(Role.STAFF, "sh-jingan", "staff"),
        "staff-other-store": signer.issue(Role.STAFF, "hz-wulin", "staff"),
    }


def expected_denied(ep: Endpoint, who: str) -> bool:
    assert ep.roles is not None
    role = Role(who.split("-")[0])
    if role not in ep.roles:
        return True
    other = who.endswith("other-room") or who.endswith("other-store")
    return other and ep.scope is not None


async def test_matrix(api: Api, server: Any, signer: TokenSigner, ops_token: str) -> None:
    toks = tokens(signer)
    failures = []
    for ep in endpoints(server):
        if ep.roles is None:
            continue
        path = fill(ep.path)
        status, _ = await api.call(ep.method, path, None, json={})
        if status != 401:
            failures.append(f"{ep.method} {ep.path} without a token -> {status}, want 401")
        for who, token in toks.items():
            status, body = await api.call(ep.method, path, token, json={})
            denied = status in (401, 403)
            if expected_denied(ep, who) and not denied:
                failures.append(f"{ep.method} {ep.path} as {who} -> {status}, want 403")
            if not expected_denied(ep, who) and status == 401:
                failures.append(f"{ep.method} {ep.path} as {who} -> 401: {body}")
        status, body = await api.call(ep.method, path, ops_token, json={})
        if status in (401, 403):
            failures.append(f"{ep.method} {ep.path} as ops -> {status}: {body}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("bad", ["Basic abc", "Bearer", "Bearer lc1.x.y", "Token abc"])
async def test_malformed_authorization_headers(api: Api, bad: str) -> None:
    status, body = await api.call(
        "POST", "/api/v1/rooms", None, json={"title": "x"}, headers={"Authorization": bad}
    )
    assert status == 401 and body["status"] == 401
