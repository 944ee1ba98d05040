"""Composition of the coupons domain: ``coupons_ctx`` (an aiohttp cleanup context appended
in ``live_server.app``) builds the :class:`CouponService` and runs its sweeper."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from coupons.codes import CodeBook
from coupons.service import CLAIM_PER_VIEWER, CouponService
from coupons.store import CouponStore
from live_server.core.appkeys import FAST_REDIS, METRICS, REDIS, SETTINGS
from live_server.realtime.server import REALTIME
from live_server.rooms.wiring import LIVE_ROOMS, ROOMS
from live_server.stores.wiring import STORES

COUPONS: web.AppKey[CouponService] = web.AppKey("coupons")

PREWARM_CONNECTIONS = 32
"""Connections opened at start: creating them mid-flash (redis-py spends ~3 ms of CPU on
each) is what times out when a drop starts."""


async def coupons_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the coupon service under ``COUPONS``; expire and close campaigns in the
    background."""
    # The shared client: its blocking pool queues a flash of claims for a connection. The
    # flash path (one claim.lua call per tap) goes down the auto-pipelined connection
    # (live_server/core/fastredis.py) on a single node; a cluster keeps redis-py's routing.
    store = CouponStore(app[REDIS], fast=app[FAST_REDIS])
    # Codes are signed with the first key and verify under any active one (rotation).
    codebook = CodeBook(*(secret for _, secret in app[SETTINGS].signing_keys))
    service = CouponService(
        store, app[ROOMS], app[STORES], codebook, app[METRICS],
        app[REALTIME], claim_rule=CLAIM_PER_VIEWER if app[SETTINGS].rate_limits else None,
        production=app[SETTINGS].production,
    )  # fmt: skip
    app[ROOMS].before_end.append(service.close_room)
    if LIVE_ROOMS in app:  # room.state lists the open drops to joining viewers
        app[LIVE_ROOMS].state_contributors.append(service.open_state)
    app[COUPONS] = service
    if not app[SETTINGS].redis_cluster:
        await store.prewarm(PREWARM_CONNECTIONS)
    service.start()
    yield
    await service.stop()
