"""Claims need a person (docs/SECURITY.md, coupon farming): anonymous viewer ids cost
nothing to mint, so in production a campaign's claims need a viewer whose live-platform
identity the platform signed, unless the host opens the campaign to anyone."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.settings import Settings
from tests.conftest import Api

PLATFORM_SECRET = "platform-secret-for-the-identity-tests-0123"


@pytest.fixture
async def prod(settings: Settings) -> AsyncIterator[str]:
    """A production server (per-IP limits on for every address) on the suite's Redis."""
    production = settings.with_changes(
        production=True, platform_secret=PLATFORM_SECRET, rate_limit_exempt=()
    )
    server = TestServer(create_app(production), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


def signed(external_id: str) -> dict[str, str]:
    sig = hmac.new(PLATFORM_SECRET.encode(), external_id.encode(), hashlib.sha256).hexdigest()
    return {"external_id": external_id, "external_id_sig": sig}


async def live_campaign(
    api: Api, ops_token: str, quantity: int, **spec: Any
) -> tuple[str, dict[str, Any]]:
    status, room = await api.post("/api/v1/rooms", ops_token, json={"title": "Flash drop"})
    assert status == 201, room
    room_id, host = room["room_id"], room["host_token"]
    assert (await api.post(f"/api/v1/rooms/{room_id}/start", host))[0] == 200
    body = {"title": "50 off", "value": 50, "quantity": quantity, "per_user": 1,
            "expires_at": int(time.time()) + 3600, **spec}  # fmt: skip
    status, campaign = await api.post(f"/api/v1/rooms/{room_id}/campaigns", host, json=body)
    assert status == 201, campaign
    path = f"/api/v1/rooms/{room_id}/campaigns/{campaign['id']}"
    assert (await api.post(f"{path}/drop", host))[0] == 200
    return room_id, campaign


async def mint_and_claim(
    base: str, room_id: str, campaign_id: str, addresses: list[str], per_address: int,
    body: Any = None,
) -> tuple[Counter[int], Counter[int]]:  # fmt: skip
    """Mint viewers from each address (its own client socket address) and claim with each;
    returns (statuses of the joins, statuses of the claims)."""
    joins: Counter[int] = Counter()
    claims: Counter[int] = Counter()
    # At most 100 in flight in all: a farm is many ids, not one instant; 1,000 at once on a
    # loaded 2-core box with a 3-master cluster times Redis out (503) and tests nothing more.
    in_flight = asyncio.Semaphore(100)

    async def one_address(address: str) -> None:
        connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=20)
        async with aiohttp.ClientSession(connector=connector) as session:
            api = Api(base, session)

            async def one(n: int) -> None:
                async with in_flight:
                    status, viewer = await api.post(
                        f"/api/v1/rooms/{room_id}/viewers",
                        json=body(address, n) if callable(body) else {},
                    )
                    joins[status] += 1
                    if status != 201:
                        return
                    status, _ = await api.post(
                        f"/api/v1/rooms/{room_id}/campaigns/{campaign_id}/claim", viewer["token"]
                    )
                    claims[status] += 1

            await asyncio.gather(*(one(n) for n in range(per_address)))

    await asyncio.gather(*(one_address(a) for a in addresses))
    return joins, claims


async def remaining(api: Api, ops_token: str, room_id: str) -> int:
    status, listing = await api.get(f"/api/v1/rooms/{room_id}/campaigns", ops_token)
    assert status == 200
    return int(listing["campaigns"][0]["remaining"])


async def test_anonymous_viewers_cannot_farm_a_production_drop(prod: str, ops_token: str) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(prod, session)
        room_id, campaign = await live_campaign(api, ops_token, quantity=100)
        assert campaign["identity"] == "verified"  # the production default
        # 1,000 anonymous viewers from one address: the per-IP join limit stops the mint at
        # 600 a minute (fixed windows of the clock's minutes: a burst that crosses into the
        # next minute gets up to 600 more there), and not one of them gets a code
        first_window = int(time.time() // 60)
        joins, claims = await mint_and_claim(prod, room_id, campaign["id"], ["127.0.0.2"], 1000)
        windows = int(time.time() // 60) - first_window + 1
        assert joins[201] + joins[429] == 1000, joins
        if windows == 1:
            assert joins[201] == 600, joins
            assert claims == Counter({403: 600}), claims
        else:  # the burst crossed a minute: at most two windows' worth, at least one's
            assert 600 <= joins[201] <= 1000, joins
            # over 600 claims from one address may also meet its claim limit (600 per 10 s):
            # refused either way, no code
            assert set(claims) <= {403, 429} and claims[403] > 0, claims
            assert claims.total() == joins[201], claims
        # 1,000 more from 50 addresses: all minted, still no code
        addresses = [f"127.0.1.{i}" for i in range(1, 51)]
        joins, claims = await mint_and_claim(prod, room_id, campaign["id"], addresses, 20)
        assert joins == Counter({201: 1000}) and claims == Counter({403: 1000}), (joins, claims)
        assert await remaining(api, ops_token, room_id) == 100
        # people the platform vouches for claim, one each
        status, viewer = await api.post(f"/api/v1/rooms/{room_id}/viewers", json=signed("u:1"))
        assert status == 201, viewer
        path = f"/api/v1/rooms/{room_id}/campaigns/{campaign['id']}/claim"
        assert (await api.post(path, viewer["token"]))[0] == 201
        status, problem = await api.post(path, viewer["token"])
        assert status == 409 and problem["type"].endswith("limit-reached")
        status, problem = await api.post(f"/api/v1/rooms/{room_id}/viewers", json={
            "external_id": "u:2", "external_id_sig": "0" * 64})  # fmt: skip
        assert status == 403  # a forged signature mints nobody
        assert await remaining(api, ops_token, room_id) == 99


async def test_a_drop_open_to_anyone_is_bounded_and_never_oversold(
    prod: str, ops_token: str
) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(prod, session)
        room_id, campaign = await live_campaign(api, ops_token, quantity=100, identity="any")
        assert campaign["identity"] == "any"
        addresses = [f"127.0.2.{i}" for i in range(1, 51)]
        joins, claims = await mint_and_claim(prod, room_id, campaign["id"], addresses, 20)
        assert joins == Counter({201: 1000})
        assert claims[201] == 100 and claims[410] == 900, claims  # exactly the stock
        assert await remaining(api, ops_token, room_id) == 0


async def test_verified_viewers_from_many_addresses_share_the_stock(
    prod: str, ops_token: str
) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(prod, session)
        room_id, campaign = await live_campaign(api, ops_token, quantity=50)
        addresses = [f"127.0.3.{i}" for i in range(1, 11)]
        joins, claims = await mint_and_claim(
            prod, room_id, campaign["id"], addresses, 10,
            body=lambda address, n: signed(f"openid:{address}:{n}"),
        )  # fmt: skip
        assert joins == Counter({201: 100})
        assert claims[201] == 50 and claims[410] == 50, claims
        assert await remaining(api, ops_token, room_id) == 0
