"""No oversell, no viewer over the limit, one redemption per code: real concurrent clients."""

from __future__ import annotations

import asyncio
import collections
import json
import time
from typing import Any

import aiohttp

from live_server.core import keys

from .conftest import claim_path

CLAIMS, STOCK = 5000, 100


async def test_5000_concurrent_claims_on_100_coupons(
    base_url: str, make_campaign: Any, viewer_token: Any, clean_redis: Any
) -> None:
    campaign = await make_campaign(quantity=STOCK, per_user=1)
    room_id, path = campaign["room_id"], claim_path(campaign)
    tokens = [viewer_token(room_id, f"v_load{i:05d}") for i in range(CLAIMS)]
    results: list[tuple[int, dict[str, Any]]] = []

    async def claim(session: aiohttp.ClientSession, token: str) -> None:
        async with session.post(
            base_url + path, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            results.append((resp.status, await resp.json(content_type=None)))

    connector = aiohttp.TCPConnector(limit=1000)
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(claim(session, t) for t in tokens))
    elapsed = time.monotonic() - started

    by_status = collections.Counter(status for status, _ in results)
    assert by_status == {201: STOCK, 410: CLAIMS - STOCK}, by_status
    gone = [body for status, body in results if status == 410]
    assert all(body["type"].endswith("/sold-out") and body["detail"] for body in gone)
    codes = [body["code"] for status, body in results if status == 201]
    assert len(set(codes)) == STOCK

    # Counters reconcile with the stored codes.
    meta = {
        k.decode(): v.decode()
        for k, v in clean_redis.hgetall(keys.campaign(campaign["id"])).items()
    }
    assert (meta["remaining"], meta["claimed"]) == ("0", str(STOCK))
    stored = clean_redis.hgetall(keys.campaign_codes(campaign["id"]))
    assert len(stored) == STOCK
    owners = {
        k.decode(): int(v)
        for k, v in clean_redis.hgetall(keys.campaign_owners(campaign["id"])).items()
    }
    assert sum(owners.values()) == STOCK and max(owners.values()) == 1
    assert sorted(owners) == sorted(json.loads(r)["v"] for r in stored.values())
    deadline = time.monotonic() + 5
    while (
        clean_redis.hget(keys.room_stats(room_id), "total:coupons_claimed") != str(STOCK).encode()
    ):
        assert time.monotonic() < deadline, "the coalesced funnel counter never reached the stock"
        await asyncio.sleep(0.05)  # polling the coalesced counter, bounded by the deadline
    assert meta.get("sold_out_at")
    print(f"{CLAIMS} claims in {elapsed:.1f}s ({CLAIMS / elapsed:.0f}/s)")


async def test_one_viewer_tapping_concurrently_stays_within_the_limit(
    api: Any, make_campaign: Any, viewer_token: Any, clean_redis: Any
) -> None:
    campaign = await make_campaign(quantity=50, per_user=2)
    token = viewer_token(campaign["room_id"], "v_greedy")
    # 10 taps: the route's per-viewer rate limit (10 per 10 s) answers 429 beyond that.
    results = await asyncio.gather(*(api.post(claim_path(campaign), token) for _ in range(10)))
    statuses = collections.Counter(status for status, _ in results)
    assert statuses == {201: 2, 409: 8}, statuses
    assert all(body["type"].endswith("/limit-reached") for status, body in results if status == 409)
    assert clean_redis.hget(keys.campaign_owners(campaign["id"]), "v_greedy") == b"2"


async def test_claim_flood_from_one_viewer_is_429_and_takes_nothing(
    api: Any, make_campaign: Any, viewer_token: Any, clean_redis: Any
) -> None:
    campaign = await make_campaign(quantity=100, per_user=100)
    token = viewer_token(campaign["room_id"], "v_flood")
    statuses: list[int] = []
    last: Any = None
    # 10 attempts per 10 s fixed window (counted inside claim.lua); a run that straddles a
    # window boundary may get up to 2 x 10 through before the first 429.
    for _ in range(21):
        status, last = await api.post(claim_path(campaign), token)
        statuses.append(status)
        if status == 429:
            break
    assert statuses[-1] == 429 and 10 <= statuses.count(201) <= 20, statuses
    assert last["type"].endswith("/rate-limited") and "retry in" in last["detail"], last
    meta = clean_redis.hgetall(keys.campaign(campaign["id"]))
    assert int(meta[b"claimed"]) == statuses.count(201)  # the refused tap took nothing
    assert (
        clean_redis.hget(keys.campaign_owners(campaign["id"]), "v_flood")
        == str(statuses.count(201)).encode()
    )
    other = viewer_token(campaign["room_id"], "v_patient")
    assert (await api.post(claim_path(campaign), other))[0] == 201  # per viewer only


async def test_concurrent_redemptions_of_one_code_exactly_one_wins(
    api: Any, stores: list[Any], make_campaign: Any, viewer_token: Any, staff_token: Any,
    clean_redis: Any,
) -> None:  # fmt: skip
    campaign = await make_campaign(quantity=5)
    status, claim = await api.post(claim_path(campaign), viewer_token(campaign["room_id"], "v_one"))
    assert status == 201
    attempts = [
        api.post(
            f"/api/v1/stores/{store.id}/redemptions",
            staff_token(store.id),
            json={"code": claim["code"]},
        )
        for store in stores[:4]
        for _ in range(10)
    ]
    results = await asyncio.gather(*attempts)
    statuses = collections.Counter(status for status, _ in results)
    assert statuses == {200: 1, 409: 39}, statuses
    (winner,) = [body for status, body in results if status == 200]
    losers = [body for status, body in results if status == 409]
    assert all(
        b["store_id"] == winner["store_id"] and b["redeemed_at"] == winner["redeemed_at"]
        for b in losers
    )
    appended = [
        e for store in stores[:4] for e in clean_redis.xrange(keys.store_stream(store.id))
        if e[1][b"type"] == b"coupon.redeemed"
    ]  # fmt: skip
    assert len(appended) == 1
