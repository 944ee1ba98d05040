"""Composition root: ``create_app(settings)`` wires every domain into one aiohttp app.

Each domain contributes an :class:`~live_server.api.Api` (its routes) and, where it holds
state or background work, a cleanup context that puts its service under its AppKey.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from coupons.routes import api as coupons_api
from coupons.wiring import coupons_ctx
from geo.registry import StoreRegistry
from geo.routes import api as stores_api

from . import appkeys, limits, ops
from .api import Api
from .assets import static_dir
from .bookings.routes import api as bookings_api
from .bookings.wiring import bookings_ctx
from .fastredis import connect_fast
from .http import problem_middleware
from .metrics import Metrics
from .pages import api as pages_api
from .questions.routes import api as questions_api
from .questions.wiring import questions_ctx
from .realtime import LiveRedisManager, Realtime, make_socketio
from .redis_conn import connect_redis
from .rooms.live import LiveRooms
from .rooms.routes import api as rooms_api
from .rooms.service import RoomService
from .settings import Settings
from .stats.routes import api as stats_api
from .stats.service import stats_ctx
from .store_streams.routes import api as store_streams_api
from .store_streams.wiring import store_streams_ctx
from .tokens import TokenSigner

log = logging.getLogger(__name__)


def build_api() -> Api:
    """Every endpoint of the server, in one place."""
    api = Api()
    for part in (store_streams_api, stats_api):
        api.include(part)
    for part in (ops.api, rooms_api, stores_api, pages_api):
        api.include(part)
    api.include(coupons_api)
    api.include(bookings_api)
    api.include(questions_api)
    return api


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    app[appkeys.REDIS] = connect_redis(settings)
    # The flash paths' one auto-pipelined connection (live_server/fastredis.py): single
    # node only; a cluster keeps redis-py's slot routing everywhere.
    fast = (
        connect_fast(settings.redis_url, settings.redis_timeout)
        if settings.redis_url and not settings.redis_cluster
        else None
    )
    app[appkeys.FAST_REDIS] = fast
    manager = app[appkeys.SIO].manager
    if isinstance(manager, LiveRedisManager):
        manager.fast = fast
    yield
    await app[appkeys.REDIS].aclose()
    if fast is not None:
        await fast.aclose()


async def _domains_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[appkeys.SETTINGS]
    redis = app[appkeys.REDIS]
    app[appkeys.ROOMS] = RoomService(
        redis,
        app[appkeys.SIGNER],
        settings.secret,
        settings.token_ttl_s,
        platform_secret=settings.platform_secret,
        production=settings.production,
    )
    registry = StoreRegistry(redis)
    app[appkeys.STORES] = registry
    await registry.start()
    live = LiveRooms(redis, app[appkeys.ROOMS], app[appkeys.REALTIME])
    app[appkeys.LIVE_ROOMS] = live
    await live.start()
    yield
    await live.stop()
    await app[appkeys.REALTIME].close()
    await registry.stop()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown: tell every Socket.IO client goodbye before the runner closes."""
    sio = app[appkeys.SIO]
    try:
        # Bounded: engine.io waits on each socket's queue, which never drains for a
        # client that vanished mid-handshake.
        await asyncio.wait_for(sio.shutdown(), timeout=3)
    except (TimeoutError, Exception):
        log.warning("Socket.IO shutdown did not finish in 3 s; closing anyway")
    await sio.manager.close()


def create_app(settings: Settings) -> web.Application:
    """Build the application. ``settings.redis_url`` must be set (embedded server started)."""
    app = web.Application(
        middlewares=[problem_middleware],
        client_max_size=settings.max_body_bytes,
        handler_args={"max_field_size": 16384},
    )
    app[appkeys.SETTINGS] = settings
    app[appkeys.SIGNER] = TokenSigner(settings.secret)
    app[appkeys.METRICS] = Metrics()
    app[appkeys.LOCAL_LIMITS] = limits.LocalWindows()
    api = build_api()
    app[appkeys.API] = api

    sio = make_socketio(settings)
    sio.attach(app, socketio_path="socket.io")
    app[appkeys.SIO] = sio
    app[appkeys.REALTIME] = Realtime(sio, app)

    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_domains_ctx)
    app.cleanup_ctx.append(bookings_ctx)
    app.cleanup_ctx.append(store_streams_ctx)
    app.cleanup_ctx.append(stats_ctx)
    app.cleanup_ctx.append(coupons_ctx)
    app.cleanup_ctx.append(questions_ctx)
    app.on_shutdown.append(_close_sockets)

    api.install(app)
    static = static_dir()
    if static.is_dir():
        app.router.add_static("/static/", static, name="static", append_version=False)
    else:
        log.warning("no browser assets at %s: run `make frontend` (widgets/)", static)

    # CORS for /api/: live_server/http.py (problem_middleware), no per-route setup.
    return app
