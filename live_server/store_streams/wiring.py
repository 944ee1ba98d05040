"""Composition of the store-streams domain: ``store_streams_ctx`` (an aiohttp cleanup
context appended in ``live_server.app``) builds the service (check-in, acks), the /store
feed and the retention task."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.bookings.follow_ups import FollowUps, KillSwitch
from live_server.core.appkeys import REDIS, SETTINGS
from live_server.core.redis_conn import connect_redis
from live_server.guides.models import notice_for
from live_server.realtime.server import REALTIME, SIO
from live_server.store_streams.notices import StoreNotices
from live_server.store_streams.replay import TAIL_BLOCK_MS, StoreFeed
from live_server.store_streams.service import StoreStreamService, StreamRetention
from live_server.store_streams.store import StreamStore
from live_server.stores.wiring import STORES

STORE_STREAMS: web.AppKey[StoreStreamService] = web.AppKey("store_streams")
STORE_FEED: web.AppKey[StoreFeed] = web.AppKey("store_feed")
NOTICES: web.AppKey[StoreNotices] = web.AppKey("store_notices")


async def store_streams_ctx(app: web.Application) -> AsyncIterator[None]:
    """Wire the /store namespace to the store streams, and trim them, in this worker."""
    settings = app[SETTINGS]
    # XREAD BLOCK holds its connection for up to TAIL_BLOCK_MS: give those reads their
    # own pool with a socket timeout above the block time.
    blocking = connect_redis(
        settings.with_changes(redis_timeout=max(settings.redis_timeout, TAIL_BLOCK_MS / 1000 + 5))
    )
    store = StreamStore(app[REDIS], blocking)
    service = StoreStreamService(store, app[STORES], FollowUps(app[REDIS], KillSwitch.from_env()))
    app[STORE_STREAMS] = service
    feed = StoreFeed(store, service, app[SIO])
    feed.install(app[REALTIME].store)
    app[STORE_FEED] = feed
    registry = app[STORES]
    retention = StreamRetention(store, lambda: [s.id for s in registry.all()])
    retention.start()
    app[NOTICES] = StoreNotices(app[REDIS], store, notice_for)
    app[NOTICES].start()
    yield
    await app[NOTICES].stop()
    await retention.stop()
    await feed.close()
    await blocking.aclose()
