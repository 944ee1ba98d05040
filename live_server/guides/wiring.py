"""Composition of the guides domain: ``guides_ctx`` (an aiohttp cleanup context appended in
``live_server.app``) builds the :class:`GuideService` and starts this process's task
timers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.core.appkeys import METRICS, REDIS, SETTINGS, SIGNER
from live_server.guides.models import TaskTimes, task_times
from live_server.guides.service import GuideService
from live_server.guides.store import GuideStore
from live_server.guides.timers import TaskTimers
from live_server.stores.wiring import STORES

GUIDES: web.AppKey[GuideService] = web.AppKey("guides")
TIMERS: web.AppKey[TaskTimers] = web.AppKey("task-timers")


async def guides_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    store = GuideStore(app[REDIS])
    times = task_times(settings) or TaskTimes()
    app[GUIDES] = GuideService(
        store, app[STORES], app[SIGNER], times=times,
        store_share=settings.credit_store_share, token_ttl_s=settings.token_ttl_s,
    )  # fmt: skip
    app[TIMERS] = TaskTimers(
        store, app[STORES], times, poll_s=settings.task_timer_poll_s, metrics=app[METRICS]
    )
    app[TIMERS].start()
    yield
    await app[TIMERS].stop()
