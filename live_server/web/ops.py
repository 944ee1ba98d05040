"""Operational routes: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from live_server import __version__
from live_server.core.appkeys import METRICS, REDIS, SETTINGS
from live_server.core.errors import Forbidden, ServiceUnavailable, Unauthorized
from live_server.web.api import API, Api, Call, json_response, openapi_document

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
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@api.get("/openapi.json", summary="This API's OpenAPI 3.1 document", tag="ops")
async def openapi(call: Call[None, None]) -> web.Response:
    request = call.request
    app = request.app
    doc = openapi_document(
        app[API], title="Live companion server", version=__version__,
        server_url=app[SETTINGS].base_url,
    )  # fmt: skip
    return json_response(doc)
