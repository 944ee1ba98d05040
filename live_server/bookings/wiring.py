"""Composition of the bookings domain: ``bookings_ctx`` (an aiohttp cleanup context
appended in ``live_server.app``) builds the :class:`BookingService` and runs the repair
pass of the booking follow-ups."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.bookings.follow_ups import FollowUpRepair, FollowUps, KillSwitch
from live_server.bookings.service import BOOKING_PER_VIEWER, BookingService
from live_server.core.appkeys import FAST_REDIS, METRICS, REDIS, SETTINGS
from live_server.guides.models import task_times
from live_server.realtime.server import REALTIME
from live_server.stores.wiring import STORES

BOOKINGS: web.AppKey[BookingService] = web.AppKey("bookings")


async def bookings_ctx(app: web.Application) -> AsyncIterator[None]:
    registry = app[STORES]
    settings = app[SETTINGS]
    follow_ups = FollowUps(app[REDIS], KillSwitch.from_env())
    # The shared client: its blocking pool queues a burst of taps for a connection.
    # The booking step and its reads go down the auto-pipelined connection when there is one.
    app[BOOKINGS] = BookingService(
        app[REDIS],
        registry,
        app[REALTIME],
        fast=app[FAST_REDIS],
        rate_rule=BOOKING_PER_VIEWER if app[SETTINGS].rate_limits else None,
        metrics=app[METRICS],
        task_times=task_times(app[SETTINGS]),
        follow_ups=follow_ups,
    )
    repair = FollowUpRepair(
        follow_ups, registry, interval_s=settings.follow_up_repair_s,
        grace_s=settings.follow_up_grace_s,
    )  # fmt: skip
    repair.start()
    yield
    await repair.stop()
    await app[BOOKINGS].drain()
