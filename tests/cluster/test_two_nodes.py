"""Two ``live-server serve`` processes on one real Redis Cluster, sharing LIVE_SECRET.

- a viewer on node A receives a broadcast caused on node B (and the other way round);
- a booking made on A appears on a store dashboard connected to B;
- stock and capacity stay exact when claims and bookings are split across both nodes.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import redis
import socketio

from live_server.core import keys
from live_server.core.tokens import Role, TokenSigner
from tests.conftest import EventLog

from .conftest import TwoNodes


@pytest.fixture(scope="module")
def demo(two_nodes: TwoNodes) -> dict[str, Any]:
    return dict(json.loads((two_nodes.a.data_dir / "demo.json").read_text()))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        yield session


@pytest.fixture
async def connect() -> AsyncIterator[Any]:
    clients: list[socketio.AsyncClient] = []

    async def open_(base: str, namespace: str, token: str) -> EventLog:
        client = socketio.AsyncClient(reconnection=False)
        log = EventLog()
        client.on("*", lambda e, d=None: log.add(e, d), namespace=namespace)
        await client.connect(base, namespaces=[namespace], transports=["websocket"],
                             auth={"token": token}, wait_timeout=5)  # fmt: skip
        clients.append(client)
        return log

    yield open_
    for client in clients:
        if client.connected:
            await client.disconnect()


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str | None = None,
    json_body: Any = None, headers: dict[str, str] | None = None,
) -> tuple[int, Any]:  # fmt: skip
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, json=json_body, headers=hdrs) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_broadcast_crosses_nodes(
    two_nodes: TwoNodes, demo: dict[str, Any], http: aiohttp.ClientSession, connect: Any
) -> None:
    a, b = two_nodes.a, two_nodes.b
    room, host = demo["room_id"], demo["host_token"]
    logs = {}
    for node in (a, b):
        status, viewer = await call(
            http, "POST", f"{node.base}/api/v1/rooms/{room}/viewers", json_body={}
        )
        assert status == 201, viewer
        logs[node.name] = await connect(node.base, "/live", viewer["token"])
        await logs[node.name].wait_for("room.state")
    for caused_on, seen_on in ((b, a), (a, b)):
        text = f"from {caused_on.name} at {time.time()}"
        status, body = await call(
            http,
            "POST",
            f"{caused_on.base}/api/v1/rooms/{room}/announcements",
            host,
            {"text": text},
        )
        assert status == 201, body
        (event,) = await logs[seen_on.name].wait_for(
            "room.announcement", where=lambda d, t=text: d["text"] == t, timeout=10
        )
        assert isinstance(event["ts"], int)
        await logs[caused_on.name].wait_for(
            "room.announcement", where=lambda d, t=text: d["text"] == t
        )


def tomorrow(store_tz: str) -> str:
    return (datetime.now(ZoneInfo(store_tz)) + timedelta(days=1)).date().isoformat()


async def free_slot(
    http: aiohttp.ClientSession, base: str, store_id: str, skip: int = 0
) -> dict[str, Any]:
    status, body = await call(
        http, "GET", f"{base}/api/v1/stores/{store_id}/slots?date={tomorrow('Asia/Shanghai')}"
    )
    assert status == 200, body
    free = [s for s in body["slots"] if s["remaining"] == s["capacity"] and s["capacity"] > 0]
    assert len(free) > skip, body
    return dict(free[skip])


async def test_booking_on_a_reaches_dashboard_on_b(
    two_nodes: TwoNodes, demo: dict[str, Any], http: aiohttp.ClientSession, connect: Any
) -> None:
    a, b = two_nodes.a, two_nodes.b
    store = demo["stores"][0]
    dashboard = await connect(b.base, "/store", store["staff_token"])
    room = demo["room_id"]
    status, viewer = await call(http, "POST", f"{a.base}/api/v1/rooms/{room}/viewers", json_body={})
    assert status == 201, viewer
    status, detail = await call(http, "GET", f"{a.base}/api/v1/stores/{store['id']}")
    assert status == 200, detail
    slot = await free_slot(http, a.base, store["id"])
    body = {"store_id": store["id"], "slot": slot["start"], "service": detail["services"][0]}
    status, booking = await call(
        http, "POST", f"{a.base}/api/v1/rooms/{room}/bookings", viewer["token"], body,
        {"Idempotency-Key": "two-nodes-1"},
    )  # fmt: skip
    assert status == 201, booking
    (event,) = await dashboard.wait_for(
        "booking.created",
        where=lambda d: d.get("booking_id", d.get("id")) == booking["id"],
        timeout=10,
    )
    assert event["id"] and isinstance(event["ts"], int)


async def test_stock_and_capacity_exact_across_nodes(
    two_nodes: TwoNodes, demo: dict[str, Any], http: aiohttp.ClientSession, cluster_url: str
) -> None:
    a, b = two_nodes.a, two_nodes.b
    nodes = [a, b]
    room, host = demo["room_id"], demo["host_token"]
    signer = TokenSigner(two_nodes.secret)  # the shared LIVE_SECRET: a token works on any node
    stock, claimers = 30, 120
    status, campaign = await call(
        http, "POST", f"{a.base}/api/v1/rooms/{room}/campaigns", host,
        {"title": "split", "value": 5, "quantity": stock, "per_user": 1,
         "expires_at": int(time.time()) + 3600},
    )  # fmt: skip
    assert status == 201, campaign
    path = f"/api/v1/rooms/{room}/campaigns/{campaign['id']}"
    status, dropped = await call(http, "POST", f"{b.base}{path}/drop", host)
    assert status == 200, dropped

    store = demo["stores"][1]
    status, detail = await call(http, "GET", f"{b.base}/api/v1/stores/{store['id']}")
    assert status == 200, detail
    slot = await free_slot(http, b.base, store["id"], skip=3)
    capacity, bookers = slot["capacity"], slot["capacity"] * 5
    booking = {"store_id": store["id"], "slot": slot["start"], "service": detail["services"][0]}

    start = asyncio.Event()

    async def claim(n: int) -> tuple[str, int]:
        token = signer.issue(Role.VIEWER, room, f"v_split{n:04d}")
        await start.wait()
        status, _ = await call(http, "POST", f"{nodes[n % 2].base}{path}/claim", token)
        return "claim", status

    async def book(n: int) -> tuple[str, int]:
        token = signer.issue(Role.VIEWER, room, f"v_book{n:04d}")
        await start.wait()
        status, _ = await call(
            http, "POST", f"{nodes[n % 2].base}/api/v1/rooms/{room}/bookings", token, booking,
            {"Idempotency-Key": f"split-{n}"},
        )  # fmt: skip
        return "book", status

    tasks = [asyncio.create_task(claim(n)) for n in range(claimers)]
    tasks += [asyncio.create_task(book(n)) for n in range(bookers)]
    start.set()
    results = collections.Counter(await asyncio.gather(*tasks))
    assert results == {
        ("claim", 201): stock,
        ("claim", 410): claimers - stock,
        ("book", 201): capacity,
        ("book", 409): bookers - capacity,
    }, results

    # Both nodes read the same truth; the stored counters reconcile.
    for node in nodes:
        after = next(
            s
            for s in (
                await call(
                    http,
                    "GET",
                    f"{node.base}/api/v1/stores/{store['id']}/slots?date={slot['start'][:10]}",
                )
            )[1]["slots"]
            if s["start"] == slot["start"]
        )
        assert after["remaining"] == 0, after
    client = redis.RedisCluster.from_url(cluster_url)
    try:
        meta = {
            k.decode(): v.decode() for k, v in client.hgetall(keys.campaign(campaign["id"])).items()
        }
        assert (meta["remaining"], meta["claimed"]) == ("0", str(stock))
        assert client.hlen(keys.campaign_codes(campaign["id"])) == stock
        owners = client.hgetall(keys.campaign_owners(campaign["id"]))
        assert len(owners) == stock and {int(v) for v in owners.values()} == {1}
        created = [
            f for _, f in client.xrange(keys.store_stream(store["id"]))
            if f[b"type"] == b"booking.created"
        ]  # fmt: skip
        assert len(created) == capacity  # one stream entry per booking, none lost or doubled
    finally:
        client.close()
