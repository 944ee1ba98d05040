"""Cleanup context: the booking service and the nearest-store index under their AppKeys."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis

from geo.index import NearestStores
from live_server import appkeys
from live_server.redis_conn import RedisClient
from live_server.settings import Settings

from .service import BookingService

BOOKING_POOL_SIZE = 64


def booking_redis(settings: Settings, shared: RedisClient) -> tuple[RedisClient, bool]:
    """The booking path's client: a pool that WAITS for a free connection.

    The shared pool raises "Too many connections" when a burst of taps (500 viewers on one
    slot) exhausts it; a blocking pool queues them (each step holds a connection for well
    under a millisecond) and bounds the connections a worker opens. A cluster client keeps
    its own per-node pools. Returns (client, owned).
    """
    if settings.redis_cluster or not settings.redis_url:
        return shared, False
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=BOOKING_POOL_SIZE,
        timeout=max(10.0, settings.redis_timeout),  # waiting here is queueing, not an outage
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=min(1.0, settings.redis_timeout),
        health_check_interval=15,
    )
    # from_pool: closing the client disconnects the pool (a bare Redis(connection_pool=)
    # would leave its connections open).
    return Redis.from_pool(pool), True


async def bookings_ctx(app: web.Application) -> AsyncIterator[None]:
    registry = app[appkeys.STORES]
    app[appkeys.NEAREST] = NearestStores(registry)
    redis, owned = booking_redis(app[appkeys.SETTINGS], app[appkeys.REDIS])
    app[appkeys.BOOKINGS] = BookingService(redis, registry, app[appkeys.REALTIME])
    yield
    if owned:
        await redis.aclose()
