"""Revocation and key rotation (issue 22, point 3).

Two real nodes on one real Redis; real Socket.IO clients. A revoked guide's token is refused
on every node within a second, over HTTP and on open sockets; keys rotate while viewers hold
their sockets, and coupon codes handed out before the rotation stay redeemable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis as sync_redis
import socketio
from aiohttp.test_utils import TestServer

from coupons.codes import CodeBook
from live_server.app import create_app
from live_server.cli import main as cli
from live_server.core.tokens import Role, TokenSigner, derived_key_id
from live_server.demo import BRAND
from live_server.settings import Settings, SettingsError
from tests.conftest import TEST_SECRET, Api, EventLog

K1 = "first-key-of-the-rotation-test-0123456789abcdef"
K2 = "second-key-of-the-rotation-test-0123456789abcdef"


async def until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Poll ``check`` until it holds; the seconds it took. Fails past ``within``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await check():
        if loop.time() - start > within:
            raise AssertionError(f"{what}: not within {within}s")
        await asyncio.sleep(0.02)
    return loop.time() - start


Node = Callable[..., Awaitable[tuple[Api, str]]]


@pytest.fixture
async def node(
    tmp_path: Path, redis_url: str, clean_redis: sync_redis.Redis, redis_cluster: bool
) -> AsyncIterator[Node]:
    """Start another node of the deployment (same Redis) with the given keys."""
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(**overrides: Any) -> tuple[Api, str]:
        settings = Settings.from_env(
            {}, data_dir=tmp_path / f"node{len(servers)}", redis_url=redis_url,
            access_log=False, redis_cluster=redis_cluster or None,
            rate_limit_exempt=("127.0.0.1",), **overrides,
        )  # fmt: skip
        server = TestServer(create_app(settings), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        session = aiohttp.ClientSession()
        sessions.append(session)
        base = str(server.make_url("")).rstrip("/")
        return Api(base, session), base

    yield start
    for session in sessions:
        await session.close()
    for server in servers:
        await server.close()


async def connect(base: str, namespace: str, token: str, **auth: Any) -> tuple[Any, EventLog]:
    client = socketio.AsyncClient(reconnection=False)
    log = EventLog()
    client.on("*", lambda event, data=None: log.add(event, data), namespace=namespace)
    await client.connect(
        base, namespaces=[namespace], transports=["websocket"],
        auth={"token": token, **auth}, wait_timeout=5,
    )  # fmt: skip
    return client, log


async def test_a_revoked_guide_is_refused_on_every_node_within_a_second(
    node: Node, stores: Any, api: Api, base_url: str, ops_token: str, signer: TokenSigner
) -> None:
    other, other_base = await node(secret=TEST_SECRET)
    status, body = await api.put(
        "/api/v1/stores/sh-jingan/guides", ops_token,
        json=[{"id": "g1", "name": "One", "active": True},
              {"id": "g2", "name": "Two", "active": True}],
    )  # fmt: skip
    assert status == 200, body
    leaving = signer.issue(Role.STAFF, "sh-jingan", "guide:g1")
    staying = signer.issue(Role.STAFF, "sh-jingan", "guide:g2")
    tasks = "/api/v1/stores/sh-jingan/tasks"
    for who in (api, other):
        assert (await who.get(tasks, leaving))[0] == 200
    sockets = [await connect(b, "/store", leaving) for b in (base_url, other_base)]
    kept, _ = await connect(other_base, "/store", staying)
    # revoke on this node; the other node refuses within a second, HTTP and sockets
    status, body = await api.post(
        "/api/v1/revocations", ops_token, json={"subject": "guide:g1", "store": "sh-jingan"}
    )
    assert status == 201 and body["revoked"] == "sh-jingan/guide:g1", body

    async def refused_everywhere() -> bool:
        codes = [(await who.get(tasks, leaving))[0] for who in (api, other)]
        return codes == [401, 401]

    async def sockets_closed() -> bool:
        return not any(client.connected for client, _ in sockets)

    assert await until(refused_everywhere, 1.0, "HTTP refused on both nodes") < 1.0
    await until(sockets_closed, 1.0, "the guide's sockets closed on both nodes")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(other_base, "/store", leaving)
    # the other guide goes on; the same guide, given a new token later, works again
    assert kept.connected and (await other.get(tasks, staying))[0] == 200
    rehired = signer.issue(Role.STAFF, "sh-jingan", "guide:g1", now=time.time() + 2)
    assert (await other.get(tasks, rehired))[0] == 200
    await kept.disconnect()


async def test_cli_revokes_one_token_by_its_id(
    node: Node, api: Api, base_url: str, make_room: Any, make_viewer: Any,
    signer: TokenSigner, redis_url: str, redis_cluster: bool, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    neighbour = await make_viewer(room["room_id"])
    client, _ = await connect(base_url, "/live", viewer["token"])
    token_id = signer.verify(viewer["token"]).token_id
    monkeypatch.setenv("LIVE_SECRET", TEST_SECRET)
    args = ["token", "revoke", token_id, "--data-dir", str(tmp_path), "--redis-url", redis_url]
    if redis_cluster:
        args.append("--redis-cluster")
    assert await asyncio.to_thread(cli, args) == 0

    async def closed() -> bool:
        return not client.connected

    await until(closed, 1.0, "the viewer's socket closed")
    path = f"/api/v1/rooms/{room['room_id']}"
    assert (await api.get(path, viewer["token"]))[0] == 401
    assert (await api.get(path, neighbour["token"]))[0] == 200


async def test_revocations_are_ops_only_and_bad_input_changes_nothing(
    api: Api, ops_token: str, signer: TokenSigner, clean_redis: sync_redis.Redis
) -> None:
    brand_ops = signer.issue(Role.OPS, "brand:rival", "ops")
    host = signer.issue(Role.HOST, "r_1", "host")
    for token, body, want in (
        (host, {"subject": "ops"}, 403),
        (brand_ops, {"subject": "ops"}, 403),  # a brand's ops revokes in its own stores only
        (ops_token, {}, 400),
        (ops_token, {"subject": "a", "token_id": "b"}, 400),
        (ops_token, {"token_id": "b", "store": "s"}, 400),
        (ops_token, {"subject": ""}, 400),
        (ops_token, {"subject": 5}, 400),
    ):
        status, problem = await api.post("/api/v1/revocations", token, json=body)
        assert status == want and problem["status"] == want, (body, problem)
    assert clean_redis.exists("{revoked}:all", "{revoked}:version") == 0


async def test_keys_rotate_while_viewers_hold_sockets_and_codes_stay_redeemable(
    node: Node, stores: Any
) -> None:
    # Before: one key. Step 1: every node verifies k2 too (k1 still signs).
    old, old_base = await node(signing_keys=(("k1", K1), ("k2", K2)), identity_secret=K1)
    ops1 = TokenSigner(keys=[("k1", K1)]).issue(Role.OPS, "*", "ops")
    status, room = await old.post("/api/v1/rooms", ops1, json={"title": "rotation", "brand": BRAND})
    assert status == 201, room
    room_id, host1 = room["room_id"], room["host_token"]
    assert (await old.post(f"/api/v1/rooms/{room_id}/start", host1))[0] == 200
    status, viewer = await old.post(
        f"/api/v1/rooms/{room_id}/viewers", json={"external_id": "openid:rotating"}
    )
    assert status == 201
    client, log = await connect(old_base, "/live", viewer["token"])
    await log.wait_for("room.state")
    base = f"/api/v1/rooms/{room_id}/campaigns"
    status, campaign = await old.post(base, host1, json={
        "title": "old key", "value": 10, "quantity": 5, "expires_at": int(time.time()) + 3600,
    })  # fmt: skip
    assert (await old.post(f"{base}/{campaign['id']}/drop", host1))[0] == 200
    status, claimed = await old.post(f"{base}/{campaign['id']}/claim", viewer["token"])
    assert status == 201, claimed
    # Step 2: a node signing with k2 joins (k1 still verifies), the old one still runs.
    new, _ = await node(signing_keys=(("k2", K2), ("k1", K1)), identity_secret=K1)
    status, body = await new.get(f"/api/v1/rooms/{room_id}", viewer["token"])
    assert status == 200, body  # a k1 token on the k2 node
    status, joined = await new.post(
        f"/api/v1/rooms/{room_id}/viewers", json={"external_id": "openid:rotating"}
    )
    assert joined["viewer_id"] == viewer["viewer_id"]  # the same person, the same viewer
    new_claims = TokenSigner(keys=[("k2", K2)]).verify(joined["token"])
    assert new_claims.key_id == "k2"
    assert (await old.get(f"/api/v1/rooms/{room_id}", joined["token"]))[0] == 200
    # the host drops on the new node; the viewer's socket on the old node hears it
    status, second = await new.post(base, host1, json={
        "title": "new key", "value": 5, "quantity": 5, "expires_at": int(time.time()) + 3600,
    })  # fmt: skip
    assert (await new.post(f"{base}/{second['id']}/drop", host1))[0] == 200
    await log.wait_for("coupon.dropped", where=lambda e: e["id"] == second["id"])
    assert client.connected
    status, claimed2 = await new.post(f"{base}/{second['id']}/claim", joined["token"])
    assert status == 201, claimed2
    # codes of both keys redeem on either node
    staff = TokenSigner(keys=[("k2", K2)]).issue(Role.STAFF, "sh-jingan", "staff")
    for who, code in ((new, claimed["code"]), (old, claimed2["code"])):
        status, body = await who.post(
            "/api/v1/stores/sh-jingan/redemptions", staff, json={"code": code}
        )
        assert status == 200 and body["status"] == "redeemed", body
    # Step 3 (after the longest token and code lifetimes): k1 retired; its tokens are 401
    retired, _ = await node(signing_keys=(("k2", K2),), identity_secret=K1)
    assert (await retired.get(f"/api/v1/rooms/{room_id}", viewer["token"]))[0] == 401
    assert (await retired.get(f"/api/v1/rooms/{room_id}", joined["token"]))[0] == 200
    await client.disconnect()


def test_tokens_and_codes_signed_before_key_ids_still_verify() -> None:
    import base64

    import orjson

    # a token as issued before key ids: no "k" claim, MAC'd with the one LIVE_SECRET
    legacy = TokenSigner(K1)
    payload = (
        base64.urlsafe_b64encode(
            orjson.dumps({"r": "staff", "s": "sh-jingan", "u": "guide:g1", "e": 2**33, "j": "x"})
        )
        .rstrip(b"=")
        .decode()
    )
    token = f"lc1.{payload}.{legacy._signing.mac(payload)}"
    both = TokenSigner(keys=[("k2", K2), (derived_key_id(K1), K1)])
    assert both.verify(token).subject == "guide:g1"
    with pytest.raises(Exception, match="signature"):
        TokenSigner(keys=[("k2", K2)]).verify(token)
    # a code of before the rotation verifies while its key is active, not after
    code = CodeBook(K1).issue("cp_ABCDE").text
    assert CodeBook(K2, K1).parse(code).campaign_id == "cp_ABCDE"
    with pytest.raises(ValueError):
        CodeBook(K2).parse(code)


def test_live_secrets_settings(tmp_path: Path) -> None:
    one = Settings.from_env({"LIVE_SECRET": K1}, data_dir=tmp_path)
    assert one.signing_keys == ((derived_key_id(K1), K1),) and one.identity_secret == K1
    many = Settings.from_env(
        {"LIVE_SECRETS": f"k2:{K2},k1:{K1}", "LIVE_SECRET": K1}, data_dir=tmp_path
    )
    assert many.secret == K2 and many.signing_keys == (("k2", K2), ("k1", K1))
    assert many.identity_secret == K1  # viewer ids do not move with the keys
    for bad in ("k1", "k1:", ":x", f"k1:{K1},k1:{K2}", "bad id:x", ","):
        with pytest.raises(SettingsError):
            Settings.from_env({"LIVE_SECRETS": bad}, data_dir=tmp_path)
    prod = {"LIVE_ENV": "production", "LIVE_SECRETS": f"k2:{K2},k1:{K1}"}
    with pytest.raises(SettingsError, match="LIVE_IDENTITY_SECRET"):
        Settings.from_env(prod, data_dir=tmp_path)
    with pytest.raises(SettingsError, match="weak"):
        Settings.from_env({**prod, "LIVE_SECRETS": "k1:short"}, data_dir=tmp_path)
    ok = Settings.from_env({**prod, "LIVE_IDENTITY_SECRET": K1}, data_dir=tmp_path)
    assert ok.identity_secret == K1
