"""Composition of the rooms domain: ``rooms_ctx`` (an aiohttp cleanup context appended in
``live_server.app``) builds the room service and the realtime part of rooms
(:class:`LiveRooms`: broadcasts with offsets, room.state, the viewer-count loop of this
worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.core.appkeys import REDIS, SETTINGS, SIGNER
from live_server.realtime.server import REALTIME
from live_server.rooms.live import LiveRooms
from live_server.rooms.service import RoomService

ROOMS: web.AppKey[RoomService] = web.AppKey("rooms")
LIVE_ROOMS: web.AppKey[LiveRooms] = web.AppKey("live_rooms")


async def rooms_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the room service under ``ROOMS`` and the live-room loops under ``LIVE_ROOMS``."""
    settings = app[SETTINGS]
    app[ROOMS] = RoomService(
        app[REDIS],
        app[SIGNER],
        settings.identity_secret,
        settings.token_ttl_s,
        platform_secret=settings.platform_secret,
        production=settings.production,
    )
    live = LiveRooms(app[ROOMS], app[REALTIME])
    app[LIVE_ROOMS] = live
    await live.start()
    yield
    await live.stop()
