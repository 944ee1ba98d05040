"""Composition of the groups domain: ``groups_ctx`` (an aiohttp cleanup context appended in
``live_server.app`` after the questions and coupons domains) builds the
:class:`GroupService`, its outbox worker and its timers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.core.appkeys import REDIS, SETTINGS
from live_server.groups.models import GroupConfig
from live_server.groups.service import GroupService, GroupTimers
from live_server.groups.store import GroupStore
from live_server.questions.wiring import QUESTIONS
from live_server.rooms.wiring import ROOMS
from live_server.stores.wiring import STORES

GROUPS: web.AppKey[GroupService] = web.AppKey("groups")
GROUP_TIMERS: web.AppKey[GroupTimers] = web.AppKey("group-timers")


async def groups_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the service under ``GROUPS`` and the timers under ``GROUP_TIMERS``; run the
    outbox worker and the timers in the background."""
    settings = app[SETTINGS]
    config = GroupConfig.from_settings(settings.extra, preview_days=settings.preview_days)
    registry = app[QUESTIONS].store  # the group registry is the questions domain's
    service = GroupService(
        GroupStore(app[REDIS]), config, app[ROOMS], app[STORES],
        group=registry.group, all_groups=registry.all_groups, base_url=settings.base_url,
    )  # fmt: skip
    app[GROUPS] = service
    app[GROUP_TIMERS] = GroupTimers(service, config.timer_poll_s)
    await service.outbox.start()
    app[GROUP_TIMERS].start()
    yield
    await app[GROUP_TIMERS].stop()
    await service.outbox.stop()
