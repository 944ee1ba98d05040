"""Operational routes: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import platform
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from redis.exceptions import RedisError

from live_server import __version__
from live_server.core.appkeys import METRICS, REDIS, SETTINGS
from live_server.core.errors import Forbidden, ServiceUnavailable, Unauthorized
from live_server.core.metrics import Snapshot, merge_snapshots, render
from live_server.core.socket_events import asyncapi_document
from live_server.settings import Settings
from live_server.web.api import API, Api, Call, json_response, openapi_document
from live_server.web.pages import render_page

log = logging.getLogger(__name__)
api = Api()


@api.get("/healthz", summary="Liveness: the process answers", tag="ops")
async def healthz(call: Call[None, None]) -> dict[str, str]:
    return {"status": "ok"}


@api.get("/readyz", summary="Readiness: Redis answers", tag="ops", errors=[503])
async def readyz(call: Call[None, None]) -> dict[str, str]:
    request = call.request
    try:
        await asyncio.wait_for(request.app[REDIS].ping(), timeout=1.0)
    except (RedisError, OSError, TimeoutError) as exc:
        raise ServiceUnavailable(f"Redis is not reachable: {exc}", retry_after=2) from exc
    return {"status": "ready"}


@api.get(
    "/metrics", summary="Prometheus metrics", tag="ops", errors=[401, 403],
    description=(
        "With LIVE_METRICS_TOKEN set, scrapers send `Authorization: Bearer <token>` "
        "(Prometheus: `authorization: {credentials: ...}`). In production without a token "
        "it is closed (403): set one, or expose it only on an internal address."
    ),
)  # fmt: skip
async def metrics(call: Call[None, None]) -> web.Response:
    request = call.request
    settings = request.app[SETTINGS]
    if settings.metrics_token:
        sent = request.headers.get("Authorization", "")
        expected = f"Bearer {settings.metrics_token}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Unauthorized("send Authorization: Bearer <LIVE_METRICS_TOKEN>")
    elif settings.production:
        raise Forbidden("metrics are closed in production until LIVE_METRICS_TOKEN is set")
    registry = request.app[METRICS]
    families = [
        await _redis_up(request.app), *await registry.cluster_families(),
        *_once_families(settings),
    ]  # fmt: skip
    if settings.peer_dir is None:
        families[:0] = registry.local_families()
    else:  # --workers N: every worker's numbers, added up (live_server/core/metrics.py)
        families[:0] = merge_snapshots(await _worker_snapshots(request.app))
    return web.Response(body=render(families), headers={"Content-Type": CONTENT_TYPE_LATEST})


@api.get("/asyncapi.json", summary="The Socket.IO namespaces and events (AsyncAPI 3.0)", tag="ops")
async def asyncapi(call: Call[None, None]) -> web.Response:
    doc = asyncapi_document(
        title="Live companion server: Socket.IO events", version=__version__,
        server_url=call.request.app[SETTINGS].base_url,
    )  # fmt: skip
    return json_response(doc)


@api.get("/docs", summary="The API reference, rendered (HTML)", tag="ops", errors=[404])
async def docs(call: Call[None, None]) -> web.Response:
    """/openapi.json rendered by Swagger UI, from assets the front-end build bundles (no
    CDN). Swagger UI sets inline styles, so this page alone allows them (scripts: same
    origin only, as every page)."""
    response = render_page(call.request, "docs.html")
    csp = response.headers["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = csp.replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )
    return response


WORKER_RESTART_REASONS = ("exited", "stuck")
SUPERVISOR_STATE = "supervisor.json"
"""Written by the worker supervisor into its peer dir: ``{workers, restarts: {reason: n}}``."""
PEER_TIMEOUT_S = 2.0


async def _redis_up(app: web.Application) -> Metric:
    """``live_redis_up``: 1 if Redis answered a PING within a second during this scrape."""
    try:
        await asyncio.wait_for(app[REDIS].ping(), timeout=1.0)
        up = 1
    except (RedisError, OSError, TimeoutError):
        up = 0
    family = GaugeMetricFamily("live_redis_up", "Redis answered a PING during this scrape")
    family.add_metric([], up)
    return family


def _once_families(settings: Settings) -> list[Metric]:
    """Families the answering worker reports once: build info and the supervisor's state."""
    build = GaugeMetricFamily(
        "live_build_info", "The server's version (always 1)", labels=["version", "python"]
    )
    build.add_metric([__version__, platform.python_version()], 1)
    workers = GaugeMetricFamily("live_workers", "Worker processes this server runs")
    restarts = CounterMetricFamily(
        "live_worker_restarts", "Workers replaced by the supervisor, by reason "
        "(exited: died; stuck: its event loop stopped ticking)", labels=["reason"],
    )  # fmt: skip
    state: dict[str, Any] = {}
    if settings.peer_dir is not None:
        with contextlib.suppress(OSError, ValueError):
            state = orjson.loads((settings.peer_dir / SUPERVISOR_STATE).read_bytes())
    workers.add_metric([], state.get("workers", settings.workers))
    counts = state.get("restarts", {})
    for reason in WORKER_RESTART_REASONS:
        restarts.add_metric([reason], counts.get(reason, 0))
    return [build, workers, restarts]


def _peer_socket(peer_dir: Path, worker_id: str) -> Path:
    return peer_dir / f"worker-{worker_id}.sock"


async def _worker_snapshots(app: web.Application) -> list[tuple[str, Snapshot]]:
    """This worker's snapshot and each sibling's, asked over its Unix socket. A sibling
    that does not answer (restarting) is left out of this scrape."""
    settings = app[SETTINGS]
    assert settings.peer_dir is not None
    own = (settings.worker_id, app[METRICS].snapshot())
    others = sorted(
        p for p in settings.peer_dir.glob("worker-*.sock")
        if p != _peer_socket(settings.peer_dir, settings.worker_id)
    )  # fmt: skip

    async def ask(path: Path) -> tuple[str, Snapshot] | None:
        worker = path.stem.removeprefix("worker-")
        try:
            connector = aiohttp.UnixConnector(path=str(path))
            timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT_S)
            async with (
                aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
                session.get("http://worker/snapshot") as resp,
            ):
                return worker, orjson.loads(await resp.read())
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            log.warning("metrics: worker %s did not answer: %r", worker, exc)
            return None

    answers = await asyncio.gather(*(ask(p) for p in others))
    return [own, *(a for a in answers if a is not None)]


async def peer_metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """With ``--workers N``: answer siblings' snapshot requests on a Unix socket in the
    supervisor's peer dir (nothing to do for a single worker)."""
    settings = app[SETTINGS]
    if settings.peer_dir is None:
        yield
        return
    path = _peer_socket(settings.peer_dir, settings.worker_id)
    path.unlink(missing_ok=True)  # left by this slot's previous worker

    async def snapshot(request: web.Request) -> web.Response:
        return web.Response(
            body=orjson.dumps(app[METRICS].snapshot()), content_type="application/json"
        )

    peer_app = web.Application()
    peer_app.router.add_get("/snapshot", snapshot)
    runner = web.AppRunner(peer_app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.UnixSite(runner, str(path)).start()
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        await runner.cleanup()


@api.get("/openapi.json", summary="This API's OpenAPI 3.1 document", tag="ops")
async def openapi(call: Call[None, None]) -> web.Response:
    request = call.request
    app = request.app
    doc = openapi_document(
        app[API], title="Live companion server", version=__version__,
        server_url=app[SETTINGS].base_url,
    )  # fmt: skip
    return json_response(doc)
