"""Authorization matrix: every route x every role x own brand and another brand.

Enumerates the app's router, so a new route without a rule (roles, or a place on the public
list) fails this test. Brands are tenants: a world of two brands (the demo bakery chain
``maixiang`` and a ``rival`` with one store next door) with a real room, campaign, code,
booking, task, question and group of the first; every route is called on those with the
tokens of both brands, and a brand-scoped ops token (``brand:<B>``) beside the platform
admin (scope ``*``)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from live_server.cli import main as cli
from live_server.core.tokens import BRAND_SCOPE, Role, TokenSigner
from live_server.demo import BRAND, demo_stores
from live_server.stores.models import Store
from live_server.web.api import API, Endpoint
from tests.conftest import TEST_SECRET, Api, SioFactory

RIVAL = "rival"
RIVAL_STORE = "rv-jingan"

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
    ("GET", "/api/v1/stores/nearest"): "store directory (a room's context: its brand's only)",
    ("GET", "/api/v1/stores/{store}/slots"): "open slots are public",
    ("POST", "/api/v1/groups/{group}/messages"): "authenticated by the group's HMAC signature",
    ("POST", "/api/v1/groups/{group}/events"): "authenticated by the group's HMAC signature",
    ("POST", "/api/v1/platforms/douyin/push"): "authenticated by Douyin's push signature",
    (
        "POST",
        "/api/v1/rooms/{room}/platform-events",
    ): "authenticated by the room's bridge HMAC signature",
}
PUBLIC_PATTERNS = [
    # pages: HTML shells, data needs a token
    re.compile(r"^GET /(demo|host|store|stats|embed|guide|leaderboard|report)/"),
    re.compile(r"^GET /api/v1/coupons/.+/qr\.svg$"),  # QR of a code: the code is the bearer
    re.compile(r"^GET /api/v1/codes/"),
    re.compile(r"^GET /static/"),
]
# Routes that name no thing of a brand in their path: a brand's ops token is checked on
# what their body names (tests below).
BODY_BRANDED = {
    ("POST", "/api/v1/rooms"),
    ("PUT", "/api/v1/stores"),
    ("POST", "/api/v1/revocations"),
}
# Routes whose thing's room or store is checked by the service, after the body is read: a
# token of another brand with an invalid body learns the (public) schema's field errors.
SERVICE_CHECKED = {("POST", "/api/v1/questions/{question}/merge")}
# Last: they take the world's things away from the routes after them.
LAST = [("POST", "/api/v1/rooms/{room}/end"), ("DELETE", "/api/v1/stores/{store}")]


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


def rival_store() -> Store:
    """A store of another brand, next door to the demo chain's sh-jingan."""
    jingan = next(s for s in demo_stores() if s.id == "sh-jingan")
    return jingan.model_copy(
        update={
            "id": RIVAL_STORE,
            "name": "Rival Jing'an",
            "brand": RIVAL,
            "lat": jingan.lat + 0.001,
        }
    )


async def tomorrow_slot(api: Api, store_id: str) -> str:
    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date()
    status, body = await api.get(f"/api/v1/stores/{store_id}/slots?date={day.isoformat()}")
    assert status == 200 and body["slots"], body
    return str(body["slots"][2]["start"])


@pytest.fixture
async def world(
    api: Api, ops_token: str, stores: list[Store], make_room: Any, make_viewer: Any
) -> dict[str, Any]:
    """Two brands; a room of each; a group, campaign, code, booking, task and question of
    the first brand's room and store."""
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[rival_store().model_dump(mode="json")]
    )
    assert status == 200, body
    mine = await make_room(brand=BRAND)
    other = await make_room(brand=RIVAL)
    viewer = await make_viewer(mine["room_id"])
    other_viewer = await make_viewer(other["room_id"])
    status, group = await api.put(
        "/api/v1/groups/g-jingan", ops_token,
        json={"store_id": "sh-jingan", "name": "静安寺店 会员群", "brand": BRAND},
    )  # fmt: skip
    assert status == 200, group
    base = f"/api/v1/rooms/{mine['room_id']}/campaigns"
    status, campaign = await api.post(base, mine["host_token"], json={
        "title": "10 off", "value": 10, "quantity": 50, "per_user": 1,
        "expires_at": int(time.time()) + 3600,
    })  # fmt: skip
    assert status == 201, campaign
    status, body = await api.post(f"{base}/{campaign['id']}/drop", mine["host_token"])
    assert status == 200, body
    status, claimed = await api.post(f"{base}/{campaign['id']}/claim", viewer["token"])
    assert status == 201, claimed
    status, booking = await api.post(
        f"/api/v1/rooms/{mine['room_id']}/bookings", viewer["token"],
        json={"store_id": "sh-jingan", "slot": await tomorrow_slot(api, "sh-jingan"),
              "service": "cake-consult"},
    )  # fmt: skip
    assert status == 201, booking
    status, question = await api.post(
        f"/api/v1/rooms/{mine['room_id']}/questions", viewer["token"],
        json={"text": "Is the matcha cake gluten free?"},
    )  # fmt: skip
    assert status in (200, 201), question
    return {
        "room": mine, "other_room": other, "viewer": viewer, "other_viewer": other_viewer,
        "campaign": campaign, "code": claimed["code"], "booking": booking,
        "question": question["question_id"],
    }  # fmt: skip


def tokens(signer: TokenSigner, world: dict[str, Any]) -> dict[str, str]:
    """Each role of the first brand (own) and of the rival brand (other)."""
    return {
        "viewer-own": world["viewer"]["token"],
        "viewer-other": world["other_viewer"]["token"],
        "host-own": world["room"]["host_token"],
        "host-other": world["other_room"]["host_token"],
        "staff-own": signer.issue(Role.STAFF, "sh-jingan", "staff"),
        "staff-other": signer.issue(Role.STAFF, RIVAL_STORE, "staff"),
        "ops-own": signer.issue(Role.OPS, BRAND_SCOPE + BRAND, "ops"),
        "ops-other": signer.issue(Role.OPS, BRAND_SCOPE + RIVAL, "ops"),
        "ops-platform": signer.issue(Role.OPS, "*", "ops"),
    }


def fill(path: str, world: dict[str, Any]) -> str:
    values = {
        "room": world["room"]["room_id"], "store": "sh-jingan", "group": "g-jingan",
        "campaign": world["campaign"]["id"], "code": world["code"],
        "booking": world["booking"]["id"], "task": "t_" + world["booking"]["id"],
        "question": world["question"], "brand": BRAND, "platform": "generic",
    }  # fmt: skip
    return re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: values.get(m.group(1), "x_" + m.group(1)), path)


def ordered(eps: list[Endpoint]) -> list[Endpoint]:
    return sorted(
        eps,
        key=lambda ep: LAST.index((ep.method, ep.path)) + 1 if (ep.method, ep.path) in LAST else 0,
    )


def expectation(ep: Endpoint, who: str) -> str:
    """``denied`` (401/403), ``refused`` (401/403/404: another brand never gets in, and a
    404 hides whether the thing exists), ``brand`` (exactly 403: the brand check before
    the handler), ``allowed`` (neither 401 nor 403), or ``any`` (covered elsewhere)."""
    assert ep.roles is not None
    kind, brand = who.split("-")
    role = Role(kind)
    if role is Role.OPS:
        if brand != "other":
            return "allowed"
        return "any" if (ep.method, ep.path) in BODY_BRANDED else "brand"
    if role not in ep.roles:
        return "denied"
    if brand == "other":
        return "refused-or-400" if (ep.method, ep.path) in SERVICE_CHECKED else "refused"
    return "any-but-401"  # the service may still refuse (a guide is not the manager)


async def test_matrix(api: Api, server: Any, signer: TokenSigner, world: dict[str, Any]) -> None:
    toks = tokens(signer, world)
    # the other brand first on each route: whatever they are refused must change nothing
    order = sorted(toks, key=lambda who: (not who.endswith("other"), who))
    failures = []
    for ep in ordered(endpoints(server)):
        if ep.roles is None:
            continue
        path = fill(ep.path, world)
        status, _ = await api.call(ep.method, path, None, json={})
        if status != 401:
            failures.append(f"{ep.method} {ep.path} without a token -> {status}, want 401")
        for who in order:
            want = expectation(ep, who)
            status, body = await api.call(ep.method, path, toks[who], json={})
            ok = {
                "denied": status in (401, 403),
                "refused": status in (401, 403, 404),
                "refused-or-400": status in (400, 401, 403, 404),
                "brand": status == 403,
                "allowed": status not in (401, 403),
                "any-but-401": status != 401,
                "any": True,
            }[want]
            if not ok:
                failures.append(f"{ep.method} {ep.path} as {who} -> {status} ({want}): {body}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("bad", ["Basic abc", "Bearer", "Bearer lc1.x.y", "Token abc"])
async def test_malformed_authorization_headers(api: Api, bad: str) -> None:
    status, body = await api.call(
        "POST", "/api/v1/rooms", None, json={"title": "x"}, headers={"Authorization": bad}
    )
    assert status == 401 and body["status"] == 401


# --- what a brand's ops token names in a body -------------------------------------------


async def test_brand_ops_creates_and_writes_its_own_brand_only(
    api: Api, signer: TokenSigner, world: dict[str, Any], ops_token: str
) -> None:
    rival_ops = signer.issue(Role.OPS, BRAND_SCOPE + RIVAL, "ops")
    status, body = await api.post("/api/v1/rooms", rival_ops, json={"title": "x", "brand": BRAND})
    assert status == 403, body
    status, room = await api.post("/api/v1/rooms", rival_ops, json={"title": "ours"})
    assert status == 201, room
    status, body = await api.get(f"/api/v1/rooms/{room['room_id']}", room["host_token"])
    assert body["brand"] == RIVAL  # a brand's ops token creates rooms of its brand
    status, body = await api.post(
        "/api/v1/rooms", rival_ops, json={"title": "x", "brand": RIVAL, "store_id": "sh-jingan"}
    )
    assert status == 403, body  # a studio room in another brand's store
    # stores: neither another brand's new store nor taking one over
    jingan = next(s for s in demo_stores() if s.id == "sh-jingan").model_dump(mode="json")
    for bad in ({**jingan, "brand": RIVAL, "name": "taken"}, {**jingan, "id": "new-1"}):
        status, body = await api.put("/api/v1/stores", rival_ops, json=[bad])
        assert status == 403, body
    status, store = await api.get("/api/v1/stores/sh-jingan")
    assert store["brand"] == BRAND and store["name"] == jingan["name"]
    status, body = await api.get("/api/v1/stores/new-1")
    assert status == 404
    rival = rival_store().model_dump(mode="json")
    status, body = await api.put("/api/v1/stores", rival_ops, json=[{**rival, "name": "renamed"}])
    assert status == 200, body
    # groups: of its brand, at its stores
    for group_id, spec in (
        ("g-jingan", {"store_id": RIVAL_STORE, "name": "x", "brand": RIVAL}),
        ("g-new", {"store_id": "sh-jingan", "name": "x", "brand": BRAND}),
        ("g-new", {"store_id": "sh-jingan", "name": "x", "brand": RIVAL}),
    ):
        status, body = await api.put(f"/api/v1/groups/{group_id}", rival_ops, json=spec)
        assert status == 403, (group_id, spec, body)
    status, body = await api.put(
        "/api/v1/groups/g-rival", rival_ops,
        json={"store_id": RIVAL_STORE, "name": "x", "brand": RIVAL},
    )  # fmt: skip
    assert status == 200, body


async def test_a_rooms_widget_sees_and_books_its_brands_stores_only(
    api: Api, world: dict[str, Any], clean_redis: Any
) -> None:
    mine, other = world["room"]["room_id"], world["other_room"]["room_id"]
    near = "/api/v1/stores/nearest?lat=31.2235&lng=121.4455&limit=5"
    status, body = await api.get(near)
    everyone = {s["id"] for s in body["stores"]}
    assert RIVAL_STORE in everyone and "sh-jingan" in everyone  # the public directory
    status, body = await api.get(f"{near}&room={mine}")
    assert status == 200 and body["stores"] and RIVAL_STORE not in {s["id"] for s in body["stores"]}
    status, body = await api.get(f"{near}&room={other}")
    assert [s["id"] for s in body["stores"]] == [RIVAL_STORE]
    status, body = await api.get(f"{near}&room=r_nowhere")
    assert status == 404, body
    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date().isoformat()
    status, body = await api.get(f"/api/v1/stores/sh-jingan/slots?date={day}&room={other}")
    assert status == 404, body
    status, body = await api.get(f"/api/v1/stores/sh-jingan/slots?date={day}&room={mine}")
    assert status == 200 and body["slots"]
    # a viewer of the rival's room books the first brand's store: refused, nothing changes
    before = sorted(clean_redis.keys("*"))
    status, body = await api.post(
        f"/api/v1/rooms/{other}/bookings", world["other_viewer"]["token"],
        json={"store_id": "sh-jingan", "slot": body["slots"][3]["start"],
              "service": "cake-consult"},
    )  # fmt: skip
    assert status == 403, body
    assert sorted(clean_redis.keys("*")) == before


async def test_coupon_for_all_stores_means_all_of_the_brands(
    api: Api, signer: TokenSigner, world: dict[str, Any]
) -> None:
    code = world["code"]  # store_ids defaulted to "all"
    assert world["campaign"]["store_ids"] == "all"
    rival_staff = signer.issue(Role.STAFF, RIVAL_STORE, "staff")
    status, body = await api.post(
        f"/api/v1/stores/{RIVAL_STORE}/redemptions", rival_staff, json={"code": code}
    )
    assert status == 403 and body["type"].endswith("not-valid-here"), body
    staff = signer.issue(Role.STAFF, "sh-xujiahui", "staff")  # another store of the brand
    status, body = await api.post(
        "/api/v1/stores/sh-xujiahui/redemptions", staff, json={"code": code}
    )
    assert status == 200 and body["status"] == "redeemed", body
    # a campaign may not list another brand's store
    room = world["room"]
    status, body = await api.post(
        f"/api/v1/rooms/{room['room_id']}/campaigns", room["host_token"],
        json={"title": "x", "value": 5, "quantity": 5, "store_ids": [RIVAL_STORE],
              "expires_at": int(time.time()) + 600},
    )  # fmt: skip
    assert status == 400, body


async def test_brand_ops_watches_its_brands_store_feed_only(
    signer: TokenSigner, world: dict[str, Any], sio_client: SioFactory
) -> None:
    import socketio

    rival_ops = signer.issue(Role.OPS, BRAND_SCOPE + RIVAL, "ops")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio_client("/store", rival_ops, store="sh-jingan")
    _, log = await sio_client("/store", rival_ops, store=RIVAL_STORE)
    await log.wait_for("store.synced")
    platform = signer.issue(Role.OPS, "*", "ops")
    _, log = await sio_client("/store", platform, store="sh-jingan")
    await log.wait_for("store.synced")


def test_cli_mints_a_brand_scoped_ops_token(tmp_path: Any, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("LIVE_SECRET", TEST_SECRET)
    monkeypatch.delenv("LIVE_SECRETS", raising=False)
    assert cli(["token", "ops", "--brand", RIVAL, "--data-dir", str(tmp_path)]) == 0
    claims = TokenSigner(TEST_SECRET).verify(capsys.readouterr().out.strip())
    assert claims.role is Role.OPS and claims.brand == RIVAL and not claims.is_platform_admin
    assert cli(["token", "ops", "--data-dir", str(tmp_path)]) == 0
    assert TokenSigner(TEST_SECRET).verify(capsys.readouterr().out.strip()).is_platform_admin
    assert cli(["token", "host", "r_1", "--brand", RIVAL, "--data-dir", str(tmp_path)]) == 2
