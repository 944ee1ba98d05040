"""Composition of the stats domain: ``stats_ctx`` (an aiohttp cleanup context appended in
``live_server.app``) builds the funnel service."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.core.appkeys import REDIS, SETTINGS
from live_server.rooms.wiring import ROOMS
from live_server.stats.service import StatsService
from live_server.stores.wiring import STORES

STATS: web.AppKey[StatsService] = web.AppKey("stats")


async def stats_ctx(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the funnel service under ``STATS``."""
    app[STATS] = StatsService(
        app[REDIS], app[ROOMS], app[STORES],
        app[SETTINGS].credit_store_share,
    )  # fmt: skip
    yield
