"""Shared fixtures: one real Redis-compatible server per session (the embedded Valkey,
or ``REDIS_URL``), a clean database per test, a real server on a free port, real
Socket.IO clients, and factories for rooms, viewers, stores and tokens."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis as sync_redis
import socketio
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.core.embedded_redis import EmbeddedRedis, free_port
from live_server.core.tokens import Role, TokenSigner
from live_server.settings import Settings
from live_server.stores.models import Store

TEST_SECRET = "test-secret-for-the-live-companion-suite-0123456789"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster", action="store_true", default=False,
        help="run Redis-backed tests against a local 3-master cluster",
    )  # fmt: skip


@pytest.fixture(scope="session")
def redis_cluster(pytestconfig: pytest.Config) -> bool:
    """True with ``--redis-cluster`` or LIVE_TEST_CLUSTER=1: Redis is a 3-master cluster."""
    return (
        bool(pytestconfig.getoption("--redis-cluster"))
        or os.environ.get("LIVE_TEST_CLUSTER") == "1"
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory, redis_cluster: bool) -> Iterator[str]:
    """The session's Redis: REDIS_URL if set (a cluster seed with --redis-cluster), else a
    fresh embedded Valkey, or a fresh local 3-master Valkey cluster (live_server/cluster.py)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    if redis_cluster:
        from live_server.core.cluster import LocalCluster

        cluster = LocalCluster(tmp_path_factory.mktemp("valkey-cluster"))
        yield cluster.start()
        cluster.stop()
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("valkey"), persistent=False)
    yield server.start()
    server.stop()


@pytest.fixture
def clean_redis(redis_url: str, redis_cluster: bool) -> Iterator[sync_redis.Redis]:
    if redis_cluster:  # flush every primary; the client routes each key to its node
        from live_server.core.cluster import flush_cluster

        flush_cluster(redis_url)
        cluster_client: Any = sync_redis.RedisCluster.from_url(redis_url)
        yield cluster_client
        cluster_client.close()
        return
    client = sync_redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def settings(
    tmp_path: Path, redis_url: str, clean_redis: sync_redis.Redis, redis_cluster: bool
) -> Settings:
    return Settings.from_env(
        {},
        data_dir=tmp_path,
        redis_url=redis_url,
        secret=TEST_SECRET,
        access_log=False,
        redis_cluster=redis_cluster or None,
        # Every test client is 127.0.0.1: per-IP limits are tested with their own settings.
        rate_limit_exempt=("127.0.0.1",),
    )


@pytest.fixture
def signer(settings: Settings) -> TokenSigner:
    return TokenSigner(settings.secret)


@pytest.fixture
def ops_token(signer: TokenSigner) -> str:
    return signer.issue(Role.OPS, "*", "ops")


class Api:
    """A tiny HTTP client for tests: JSON in, (status, JSON) out."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session

    async def call(
        self, method: str, path: str, token: str | None = None, json: Any = None,
        headers: dict[str, str] | None = None, data: Any = None,
    ) -> tuple[int, Any]:  # fmt: skip
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        async with self.session.request(
            method, self.base + path, json=json, data=data, headers=hdrs
        ) as resp:
            body: Any = await resp.read()
            if resp.content_type in ("application/json", "application/problem+json"):
                body = await resp.json(content_type=None)
            return resp.status, body

    async def get(self, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, token, **kw)

    async def post(
        self, path: str, token: str | None = None, json: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        return await self.call("POST", path, token, json=json, **kw)

    async def put(
        self, path: str, token: str | None = None, json: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        return await self.call("PUT", path, token, json=json, **kw)

    async def delete(self, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
        return await self.call("DELETE", path, token, **kw)


# Ports Chromium refuses to load (net::ERR_UNSAFE_PORT); a random free port can be one of
# them (6669 was, once, and a browser test failed for it).
CHROMIUM_UNSAFE_PORTS = frozenset({
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
    102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389,
    427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
    989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
    6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
})  # fmt: skip


def browser_safe_port() -> int:
    """A free 127.0.0.1 port a browser will load pages from."""
    while (port := free_port()) in CHROMIUM_UNSAFE_PORTS:
        pass
    return port


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TestServer]:
    """The real application on a real port (127.0.0.1; one Chromium will load)."""
    srv = TestServer(create_app(settings), host="127.0.0.1", port=browser_safe_port())
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
def base_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(base_url, session)


@pytest.fixture
async def stores(api: Api, ops_token: str) -> list[Store]:
    """The demo bakery chain, upserted through the API."""
    from live_server.demo import demo_stores

    chain = demo_stores()
    status, body = await api.put(
        "/api/v1/stores", ops_token, json=[s.model_dump(mode="json") for s in chain]
    )
    assert status == 200, body
    return chain


@pytest.fixture
def make_room(api: Api, ops_token: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Create a room (live unless told otherwise); returns {room_id, host_token}."""

    async def make(title: str = "Test room", live: bool = True, **extra: Any) -> dict[str, Any]:
        from live_server.demo import FEATURED

        body = {"title": title, "featured": [f.model_dump() for f in FEATURED], **extra}
        status, room = await api.post("/api/v1/rooms", ops_token, json=body)
        assert status == 201, room
        if live:
            status, started = await api.post(
                f"/api/v1/rooms/{room['room_id']}/start", room["host_token"]
            )
            assert status == 200, started
        return dict(room)

    return make


@pytest.fixture
def make_viewer(api: Api) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def make(room_id: str, external_id: str | None = None) -> dict[str, Any]:
        body = {"external_id": external_id} if external_id else {}
        status, viewer = await api.post(f"/api/v1/rooms/{room_id}/viewers", json=body)
        assert status == 201, viewer
        return dict(viewer)

    return make


@pytest.fixture
def staff_token(signer: TokenSigner) -> Callable[[str], str]:
    return lambda store_id: signer.issue(Role.STAFF, store_id, "staff")


class EventLog:
    """Collects Socket.IO events; ``wait_for`` polls with a deadline (no bare sleeps)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()

    def add(self, name: str, data: Any) -> None:
        self.events.append((name, data))
        self._changed.set()

    def of(self, name: str) -> list[Any]:
        return [d for n, d in self.events if n == name]

    async def wait_for(
        self, name: str, count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109  the fixture's API: the failure names the bound
        where: Callable[[Any], bool] | None = None,
    ) -> list[Any]:  # fmt: skip
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [d for d in self.of(name) if where is None or where(d)]
            if len(found) >= count:
                return found
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(
                    f"waited {timeout}s for {count} x {name!r}; got {len(found)}; "
                    f"seen: {[n for n, _ in self.events]}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass


SioFactory = Callable[..., Awaitable[tuple[socketio.AsyncClient, EventLog]]]


@pytest.fixture
async def sio_client(base_url: str) -> AsyncIterator[SioFactory]:
    """Connect real Socket.IO clients over websocket; all are disconnected at the end."""
    clients: list[socketio.AsyncClient] = []

    async def connect(
        namespace: str, token: str, url: str | None = None, **auth: Any
    ) -> tuple[socketio.AsyncClient, EventLog]:
        client = socketio.AsyncClient(reconnection=False)
        log = EventLog()
        client.on("*", lambda event, data=None: log.add(event, data), namespace=namespace)
        await client.connect(
            url or base_url, namespaces=[namespace], transports=["websocket"],
            auth={"token": token, **auth}, wait_timeout=5,
        )  # fmt: skip
        clients.append(client)
        return client, log

    yield connect
    for client in clients:
        if client.connected:
            await client.disconnect()
