"""Composition root: ``create_app(settings)`` wires every domain into one aiohttp app.

Each domain contributes an :class:`~live_server.web.api.Api` (its routes) and, where it holds
state or background work, a cleanup context that puts its service under its AppKey.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from coupons.routes import api as coupons_api
from coupons.wiring import COUPONS, coupons_ctx
from live_server.bookings.models import store_of_booking
from live_server.bookings.routes import api as bookings_api
from live_server.bookings.wiring import bookings_ctx
from live_server.core.appkeys import FAST_REDIS, METRICS, REDIS, SETTINGS, SIGNER
from live_server.core.fastredis import connect_fast
from live_server.core.metrics import Metrics
from live_server.core.redis_conn import connect_redis
from live_server.core.revocation import REVOCATIONS, Revocations
from live_server.core.tenancy import TENANCY, Tenancy
from live_server.core.tokens import TokenSigner
from live_server.groups.routes import api as groups_api
from live_server.groups.wiring import GROUPS, groups_ctx
from live_server.guides.models import store_of_task
from live_server.guides.routes import api as guides_api
from live_server.guides.wiring import guides_ctx
from live_server.platforms.routes import api as platforms_api
from live_server.platforms.wiring import PLATFORMS, platforms_ctx
from live_server.questions.gauges import outbox_gauges
from live_server.questions.models import parse_question_id
from live_server.questions.routes import api as questions_api
from live_server.questions.wiring import QUESTIONS, questions_ctx
from live_server.realtime.bus import LiveRedisManager
from live_server.realtime.server import REALTIME, SIO, Realtime, make_socketio
from live_server.rooms.routes import api as rooms_api
from live_server.rooms.wiring import ROOMS, rooms_ctx
from live_server.settings import Settings
from live_server.stats.routes import api as stats_api
from live_server.stats.wiring import STATS, stats_ctx
from live_server.store_streams.gauges import store_stream_gauges
from live_server.store_streams.routes import api as store_streams_api
from live_server.store_streams.wiring import store_streams_ctx
from live_server.stores.routes import api as stores_api
from live_server.stores.wiring import STORES, stores_ctx
from live_server.web import access, limits, ops
from live_server.web.api import API, Api
from live_server.web.assets import static_dir
from live_server.web.guide_pages import api as guide_pages_api
from live_server.web.http import problem_middleware
from live_server.web.limits import LOCAL_LIMITS
from live_server.web.pages import api as pages_api

log = logging.getLogger(__name__)


def build_api() -> Api:
    """Every endpoint of the server, in one place."""
    api = Api()
    for part in (store_streams_api, stats_api):
        api.include(part)
    for part in (ops.api, access.api, rooms_api, stores_api, pages_api, guide_pages_api):
        api.include(part)
    api.include(coupons_api)
    api.include(bookings_api)
    api.include(questions_api)
    api.include(platforms_api)
    api.include(guides_api)
    api.include(groups_api)
    return api


async def _platform_links(app: web.Application) -> AsyncIterator[None]:
    """Platform comments that read as questions join the question pipeline."""
    app[PLATFORMS].ask_question = app[QUESTIONS].ask_live_comment
    yield


async def _group_links(app: web.Application) -> AsyncIterator[None]:
    """The group channel beside the other domains: join gifts are coupon campaigns, a
    saved group may carry one, group questions are counted, a group-only drop and a
    scheduled room are announced to groups, the room stats list the brand's groups."""
    groups, questions = app[GROUPS], app[QUESTIONS]
    groups.gifts = app[COUPONS]
    questions.group_saved.append(groups.group_saved)
    questions.group_asked.append(groups.group_asked)
    app[COUPONS].audience_dropped.append(groups.offer_dropped)
    app[ROOMS].created.append(groups.room_created)
    app[STATS].group_rows = groups.room_group_stats
    yield


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[REDIS] = connect_redis(settings)
    # The flash paths' one auto-pipelined connection (live_server/fastredis.py): single
    # node only; a cluster keeps redis-py's slot routing everywhere.
    fast = (
        connect_fast(settings.redis_url, settings.redis_timeout)
        if settings.redis_url and not settings.redis_cluster
        else None
    )
    app[FAST_REDIS] = fast
    manager = app[SIO].manager
    if isinstance(manager, LiveRedisManager):
        manager.fast = fast
    yield
    await app[REDIS].aclose()
    if fast is not None:
        await fast.aclose()


async def _access_ctx(app: web.Application) -> AsyncIterator[None]:
    """Brands as tenants and revocation: how to find the brand of each id a path names
    (core.tenancy), and this node's copy of the revocation list, which closes the open
    sockets of a revoked token (core.revocation)."""
    rooms, stores = app[ROOMS], app[STORES]
    coupons, questions = app[COUPONS], app[QUESTIONS]

    async def brand_of_store(store_id: str) -> str | None:
        store = stores.get(store_id)
        return store.brand if store is not None else None

    campaign_rooms: dict[str, str] = {}  # a campaign never changes room

    async def brand_of_campaign(campaign_id: str) -> str | None:
        room_id = campaign_rooms.get(campaign_id)
        if room_id is None:
            room_id = await coupons.store.campaign_room_id(campaign_id)
            if not room_id:
                return None  # no such campaign, or a group's join gift (no room)
            if len(campaign_rooms) >= 100_000:
                campaign_rooms.clear()
            campaign_rooms[campaign_id] = room_id
        return await rooms.brand_of(room_id)

    async def brand_of_code(code: str) -> str | None:
        return await brand_of_campaign(coupons.verify(code).campaign_id)

    async def brand_of_group(group_id: str) -> str | None:
        group = await questions.store.group(group_id)
        return group.brand if group is not None else None

    async def brand_of_question(question_id: str) -> str | None:
        return await rooms.brand_of(parse_question_id(question_id)[0])

    async def brand_of_booking(booking_id: str) -> str | None:
        return await brand_of_store(store_of_booking(booking_id))

    async def brand_of_task(task_id: str) -> str | None:
        return await brand_of_store(store_of_task(task_id))

    async def itself(brand: str) -> str | None:
        return brand

    tenancy = app[TENANCY]
    for param, brand_of in (
        ("room", rooms.brand_of), ("store", brand_of_store), ("campaign", brand_of_campaign),
        ("code", brand_of_code), ("group", brand_of_group), ("question", brand_of_question),
        ("booking", brand_of_booking), ("task", brand_of_task), ("brand", itself),
    ):  # fmt: skip
        tenancy.register(param, brand_of)

    signer, realtime = app[SIGNER], app[REALTIME]

    async def close_revoked(_: frozenset[str]) -> None:
        closed = await realtime.disconnect_where(signer.is_revoked)
        if closed:
            log.info("closed %d socket(s) of revoked tokens", closed)

    revocations = Revocations(app[REDIS], signer)
    revocations.listeners.append(close_revoked)
    app[REVOCATIONS] = revocations
    await revocations.start()
    yield
    await revocations.stop()


async def _realtime_ctx(app: web.Application) -> AsyncIterator[None]:
    """Last out: the realtime layer's background work stops after every domain's."""
    yield
    await app[REALTIME].close()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown: tell every Socket.IO client goodbye before the runner closes."""
    sio = app[SIO]
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
    app[SETTINGS] = settings
    app[SIGNER] = TokenSigner.from_settings(settings)
    app[TENANCY] = Tenancy()
    app[METRICS] = Metrics()
    app[LOCAL_LIMITS] = limits.LocalWindows()
    api = build_api()
    app[API] = api

    sio = make_socketio(settings)
    sio.attach(app, socketio_path="socket.io")
    app[SIO] = sio
    app[REALTIME] = Realtime(sio, app)

    app.cleanup_ctx.append(_redis_ctx)
    app.cleanup_ctx.append(_realtime_ctx)
    app.cleanup_ctx.append(ops.peer_metrics_ctx)
    app.cleanup_ctx.append(rooms_ctx)
    app.cleanup_ctx.append(stores_ctx)
    app.cleanup_ctx.append(bookings_ctx)
    app.cleanup_ctx.append(store_streams_ctx)
    app.cleanup_ctx.append(stats_ctx)
    app.cleanup_ctx.append(guides_ctx)
    app.cleanup_ctx.append(coupons_ctx)
    app.cleanup_ctx.append(questions_ctx)
    app.cleanup_ctx.append(platforms_ctx)
    app.cleanup_ctx.append(_platform_links)
    app.cleanup_ctx.append(groups_ctx)
    app.cleanup_ctx.append(_group_links)
    app.cleanup_ctx.append(_access_ctx)
    app.on_shutdown.append(_close_sockets)
    # Cluster-wide families read from Redis when /metrics is scraped (core.metrics).
    app[METRICS].scrape_hooks += [
        store_stream_gauges(lambda: app[REDIS], lambda: [s.id for s in app[STORES].all()]),
        outbox_gauges(lambda: app[REDIS]),
    ]

    api.install(app)
    static = static_dir()
    if static.is_dir():
        app.router.add_static("/static/", static, name="static", append_version=False)
    else:
        log.warning("no browser assets at %s: run `make frontend` (widgets/)", static)

    # CORS for /api/: live_server/web/http.py (problem_middleware), no per-route setup.
    return app
