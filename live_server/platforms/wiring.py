"""Composition of the live-platforms domain: ``platforms_ctx`` (an aiohttp cleanup context
appended in ``live_server.app``) builds the :class:`PlatformService` and runs its
room.engagement loop. The composition root links its comments to the question pipeline
(``PlatformService.ask_question``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.core.appkeys import METRICS, REDIS
from live_server.platforms.service import PlatformService
from live_server.platforms.store import PlatformStore
from live_server.realtime.server import REALTIME
from live_server.rooms.wiring import LIVE_ROOMS, ROOMS

PLATFORMS: web.AppKey[PlatformService] = web.AppKey("platforms")


async def platforms_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the service under ``PLATFORMS``; send room.engagement in the background."""
    service = PlatformService(
        PlatformStore(app[REDIS]), app[ROOMS], app[LIVE_ROOMS], app[REALTIME], app[METRICS]
    )
    app[PLATFORMS] = service
    service.start()
    yield
    await service.stop()
