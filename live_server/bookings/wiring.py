"""Cleanup context: the booking service and the nearest-store index under their AppKeys."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from geo.index import NearestStores
from live_server import appkeys, limits

from .service import BookingService


async def bookings_ctx(app: web.Application) -> AsyncIterator[None]:
    registry = app[appkeys.STORES]
    app[appkeys.NEAREST] = NearestStores(registry)
    # The shared client: its blocking pool queues a burst of taps for a connection.
    # The booking step and its reads go down the auto-pipelined connection when there is one.
    app[appkeys.BOOKINGS] = BookingService(
        app[appkeys.REDIS],
        registry,
        app[appkeys.REALTIME],
        fast=app[appkeys.FAST_REDIS],
        rate_rule=limits.BOOKING_PER_VIEWER if app[appkeys.SETTINGS].rate_limits else None,
    )
    yield
    await app[appkeys.BOOKINGS].drain()
