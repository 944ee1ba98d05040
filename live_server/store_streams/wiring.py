"""Composition of the store-streams domain: ``store_streams_ctx`` (an aiohttp cleanup
context appended in ``live_server.app``) builds the /store feed and the retention task."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server import appkeys
from live_server.redis_conn import connect_redis

from .replay import TAIL_BLOCK_MS, StoreFeed
from .retention import StreamRetention


async def store_streams_ctx(app: web.Application) -> AsyncIterator[None]:
    """Wire the /store namespace to the store streams, and trim them, in this worker."""
    settings = app[appkeys.SETTINGS]
    # XREAD BLOCK holds its connection for up to TAIL_BLOCK_MS: give those reads their
    # own pool with a socket timeout above the block time.
    blocking = connect_redis(
        settings.with_changes(redis_timeout=max(settings.redis_timeout, TAIL_BLOCK_MS / 1000 + 5))
    )
    feed = StoreFeed(app[appkeys.REDIS], blocking, app[appkeys.SIO])
    feed.install(app[appkeys.REALTIME].store)
    app[appkeys.STORE_FEED] = feed
    registry = app[appkeys.STORES]
    retention = StreamRetention(app[appkeys.REDIS], lambda: [s.id for s in registry.all()])
    retention.start()
    yield
    await retention.stop()
    await feed.close()
    await blocking.aclose()
