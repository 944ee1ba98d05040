"""Composition of the coupons domain: ``coupons_ctx`` (an aiohttp cleanup context appended
in ``live_server.app``) builds the :class:`CouponService` and runs its sweeper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis

from live_server import appkeys
from live_server.redis_conn import RedisClient
from live_server.settings import Settings

from .codes import CodeBook
from .models import Campaign
from .service import CouponService

CLAIM_POOL_SIZE = 128
CLAIM_POOL_WARM = 32  # opened at start; the rest on demand


def coupon_redis(settings: Settings, shared: RedisClient) -> tuple[RedisClient, bool]:
    """The client of the claim path: its own pool that WAITS for a free connection.

    The shared client's pool raises "Too many connections" once it is exhausted, which a
    flash of thousands of concurrent claims does in a second. A blocking pool of 128
    connections queues them instead (each Lua call holds one for ~0.1 ms) and bounds the
    connections a worker opens. A cluster client manages its own per-node pools: use it.
    Returns (client, owned).
    """
    if settings.redis_cluster or not settings.redis_url:
        return shared, False
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=CLAIM_POOL_SIZE,
        timeout=max(30.0, settings.redis_timeout),  # waiting here is queueing, not an outage
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=max(5.0, settings.redis_timeout),
        health_check_interval=15,
    )
    return Redis.from_pool(pool), True  # from_pool: aclose() also closes the pool


async def coupons_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the coupon service under ``appkeys.COUPONS``; expire and close campaigns in the
    background."""
    redis, owned = coupon_redis(app[appkeys.SETTINGS], app[appkeys.REDIS])
    service = CouponService(
        redis,
        app[appkeys.ROOMS],
        app[appkeys.STORES],
        CodeBook(app[appkeys.SETTINGS].secret),
        app[appkeys.METRICS],
    )
    rt = app[appkeys.REALTIME]

    async def announce(campaign: Campaign) -> None:
        # Stock released at expiry / close: viewers and host see remaining 0 and the status.
        rt.counter(campaign.room_id, "coupon.stock", campaign.id, {
            "campaign_id": campaign.id, "remaining": 0, "quantity": campaign.quantity,
            "status": campaign.status.value, "released": campaign.released,
        })  # fmt: skip

    service.on_finished.append(announce)
    app[appkeys.COUPONS] = service
    if owned:
        # Open the pool now: creating connections mid-flash (redis-py spends ~3 ms of CPU
        # on each) is what times out when a drop starts.
        await asyncio.gather(*(redis.ping() for _ in range(CLAIM_POOL_WARM)))
    service.start()
    yield
    await service.stop()
    if owned:
        await redis.aclose()
