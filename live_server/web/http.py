"""HTTP middlewares: request ids, problem+json for every error, metrics, access log."""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live_server.core.appkeys import METRICS, SETTINGS
from live_server.core.errors import (
    PROBLEM_CONTENT_TYPE,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    ServiceUnavailable,
)
from live_server.core.logs import REQUEST_CONTEXT
from live_server.web.api import REQUEST_ID

log = logging.getLogger(__name__)
NODE_ID = f"{socket.gethostname()}:{os.getpid()}"
# Request ids: a random per-process prefix and a counter (unique, not secret; no syscall
# per request as secrets.token_hex has).
_REQUEST_ID_PREFIX = secrets.token_hex(4)
_request_ids = itertools.count(1)
access_log = logging.getLogger("live_server.access")

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def problem_response(problem: Problem, request: web.Request) -> web.Response:
    headers = {"X-Request-Id": request.get(REQUEST_ID, "")}
    if problem.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(problem.retry_after)))
    if isinstance(problem, MethodNotAllowed) and "allow" in problem.extra:
        headers["Allow"] = ", ".join(problem.extra["allow"])
    return web.Response(
        body=orjson.dumps(problem.to_dict(instance=request.path)),
        status=problem.status,
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _from_http_exception(exc: web.HTTPException) -> Problem:
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("no such route")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = sorted(exc.allowed_methods)
        return MethodNotAllowed(
            f"{exc.method} is not allowed here; use {', '.join(allowed)}", allow=allowed
        )
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("the request body is too large")
    generic: type[Problem] = type(
        "HttpProblem",
        (Problem,),
        {"status": exc.status, "title": exc.reason, "slug": f"http-{exc.status}"},
    )
    return generic(
        exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    )


# CORS for /api/ (the widget calls it from the shop's pages with a bearer token): origins
# from LIVE_CORS_ORIGINS ("*": any), any request header, credentials never (tokens travel
# in Authorization, not cookies). Done here, not by a response-prepare signal per request.
CORS_MAX_AGE = "600"
# Response headers a script may always read (the CORS "safelisted" ones): not exposed again.
_SAFELISTED = frozenset(
    h.lower() for h in ("Cache-Control", "Content-Language", "Content-Length", "Content-Type",
                        "Expires", "Last-Modified", "Pragma")
)  # fmt: skip


def _origin_allowed(request: web.Request, origin: str) -> bool:
    allowed = request.app[SETTINGS].cors_origins
    return "*" in allowed or origin in allowed


def cors_preflight(request: web.Request, origin: str) -> web.Response:
    """Answer a browser's ``OPTIONS`` preflight for an /api/ route (CORS 6.2)."""
    if not _origin_allowed(request, origin):
        raise Forbidden(f"CORS: the origin {origin!r} is not allowed (LIVE_CORS_ORIGINS)")
    wanted = request.headers.get("Access-Control-Request-Method", "").upper()
    failure = request.match_info.http_exception
    if isinstance(failure, web.HTTPMethodNotAllowed):
        allowed = set(failure.allowed_methods)
    elif failure is not None:
        raise NotFound("no such route")
    else:
        allowed = {request.match_info.route.method}
    if wanted not in allowed:
        raise Forbidden(
            f"CORS: {wanted or 'no method'} is not allowed here; use {', '.join(sorted(allowed))}"
        )
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": wanted,
        "Access-Control-Max-Age": CORS_MAX_AGE,
        "Vary": "Origin",
    }
    requested = request.headers.get("Access-Control-Request-Headers")
    if requested:
        headers["Access-Control-Allow-Headers"] = requested
    return web.Response(status=200, headers=headers)


def add_cors_headers(request: web.Request, response: web.StreamResponse, origin: str) -> None:
    """The actual request of an allowed origin: it may read the answer and our headers
    (request id, Retry-After, Idempotent-Replayed), errors included (CORS 6.1)."""
    if not _origin_allowed(request, origin):
        return
    headers = response.headers
    exposed = [name for name in headers if name.lower() not in _SAFELISTED]
    if exposed:
        headers["Access-Control-Expose-Headers"] = ",".join(exposed)
    headers["Access-Control-Allow-Origin"] = origin
    headers.add("Vary", "Origin")


@web.middleware
async def problem_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    """Every failure becomes problem+json; unexpected ones are logged with the request id.
    Also the CORS of /api/ routes (preflights answered here)."""
    request_id = (
        request.headers.get("X-Request-Id", "")[:64]
        or f"{_REQUEST_ID_PREFIX}{next(_request_ids) & 0xFFFFFFFF:08x}"
    )
    request[REQUEST_ID] = request_id
    metrics = request.app[METRICS]
    started = time.perf_counter()
    route = (
        request.match_info.route.resource.canonical
        if request.match_info.route.resource
        else "unmatched"
    )
    REQUEST_CONTEXT.set((request_id, route))  # logs of this request carry both
    origin = request.headers.get("Origin")  # sent by browsers only
    if origin is not None and not request.path.startswith("/api/"):
        origin = None
    preflight = (
        origin is not None and request.method == "OPTIONS"
        and "Access-Control-Request-Method" in request.headers
    )  # fmt: skip
    response: web.StreamResponse
    try:
        if preflight:
            assert origin is not None
            response = cors_preflight(request, origin)
        else:
            response = await handler(request)
    except Problem as problem:
        response = problem_response(problem, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = problem_response(_from_http_exception(exc), request)
    except (RedisConnectionError, RedisTimeoutError, ConnectionRefusedError) as exc:
        metrics.redis_errors.labels(type(exc).__name__).inc()
        log.warning("redis unavailable: %s (request %s)", exc, request_id)
        response = problem_response(
            ServiceUnavailable("the data store is unavailable; retry shortly", retry_after=2),
            request,
        )
    except RedisError as exc:
        metrics.redis_errors.labels(type(exc).__name__).inc()
        log.exception("redis error on %s %s (request %s)", request.method, request.path, request_id)
        response = problem_response(Problem(f"internal error; request id {request_id}"), request)
    except Exception:
        log.exception(
            "unexpected error on %s %s (request %s)", request.method, request.path, request_id
        )
        response = problem_response(Problem(f"internal error; request id {request_id}"), request)
    elapsed = time.perf_counter() - started
    response.headers.setdefault("X-Request-Id", request_id)
    if not request.app[SETTINGS].production:  # which node answered: for debugging, not the world
        response.headers.setdefault("X-Served-By", NODE_ID)
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    if origin is not None and not preflight:  # a preflight's answer has its own
        add_cors_headers(request, response, origin)
    metrics.observe_request(request.method, route, str(response.status), elapsed)
    if request.app[SETTINGS].access_log:
        access_log.info(
            "%s %s %s %.1fms",
            request.method,
            request.rel_url.path,
            response.status,
            elapsed * 1000,
            extra={
                "request_id": request_id, "method": request.method, "route": route,
                "path": request.rel_url.path, "status": response.status,
                "duration_ms": round(elapsed * 1000, 3),
            },
        )  # fmt: skip
    return response
