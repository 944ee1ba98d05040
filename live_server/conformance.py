"""``live-server conformance``: the Socket.IO protocol's reference app on our stack.

The protocol's compliance suite (``test-suite/`` of socketio/socket.io-protocol, with the
Engine.IO cases of socketio/engine.io-protocol) expects a server on port 3000 configured
as the protocol's README says: ping interval 300 ms, ping timeout 200 ms, ``maxPayload``
1,000,000, a 1 s connect timeout, CORS for every origin; ``/`` and ``/custom`` send
``auth`` (the handshake's auth payload) on connect; ``/`` answers ``message`` with
``message-back`` and the same arguments and acks ``message-with-ack`` with its
arguments; any other namespace is refused. This command serves that app on the
production stack: :func:`~live_server.realtime.server.make_socketio` (the fast path of
``realtime.fanout``, the Redis bus), the problem middleware, uvloop. Point any
compliance suite at it::

    live-server conformance --port 3000       # then: npm test in test-suite/

Without ``--redis-url`` it starts a throwaway embedded Redis (the bus needs one).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import socketio
from aiohttp import web

from live_server.core.appkeys import METRICS, SETTINGS
from live_server.core.commands import command
from live_server.core.embedded_redis import EmbeddedRedis
from live_server.core.metrics import Metrics
from live_server.realtime.fanout import CONNECT_GAP_S
from live_server.realtime.server import SIO, make_socketio
from live_server.settings import Settings
from live_server.web.http import problem_middleware

log = logging.getLogger(__name__)

REFERENCE_OPTIONS: dict[str, Any] = {
    "ping_interval": 0.3,
    "ping_timeout": 0.2,
    "max_http_buffer_size": 1_000_000,
    "connect_timeout": 1.0,
    "cors_allowed_origins": "*",
}
"""The reference server's configuration, as the protocol's README publishes it."""

NAMESPACES = ("/", "/custom")


class ReferenceNamespace(socketio.AsyncNamespace):  # type: ignore[misc]  # socketio: untyped
    """Sends ``auth`` on connect; on ``/``, echoes ``message`` and acks ``message-with-ack``."""

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self.emit("auth", auth if auth is not None else {}, to=sid)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        if self.namespace != "/":
            return self.server.not_handled
        sid, payload = args[0], args[1:]
        if event == "message":
            await self.emit("message-back", payload, to=sid)  # a tuple: the arguments
            return None
        if event == "message-with-ack":
            return payload  # a tuple: acked as that many arguments
        return self.server.not_handled  # no handler: no ack either, as Node


def create_conformance_app(settings: Settings, **overrides: Any) -> web.Application:
    """The reference app on the production stack (``settings.redis_url`` must be set)."""
    app = web.Application(middlewares=[problem_middleware])
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    sio = make_socketio(settings, **(REFERENCE_OPTIONS | overrides))
    # the suite's client reads one message per socket read: CONNECT alone, then the rest
    sio.eio.connect_gap_s = CONNECT_GAP_S
    for namespace in NAMESPACES:
        sio.register_namespace(ReferenceNamespace(namespace))
    sio.attach(app, socketio_path="socket.io")
    app[SIO] = sio
    app.cleanup_ctx.append(_socketio_ctx)
    return app


async def _socketio_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    sio = app[SIO]
    try:
        await asyncio.wait_for(sio.shutdown(), timeout=3)
    except TimeoutError:
        log.warning("Socket.IO shutdown did not finish in 3 s")
    await sio.manager.close()


def configure(p: argparse.ArgumentParser) -> None:
    """serve the Socket.IO protocol's reference app (for compliance suites)"""
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port (default 3000, the suite's)")
    p.add_argument("--redis-url", help="Redis/Valkey URL; none: a throwaway embedded one")


@command("conformance", configure)
def conformance(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    scratch: Path | None = None
    redis: EmbeddedRedis | None = None
    redis_url = args.redis_url
    try:
        if not redis_url:
            scratch = Path(tempfile.mkdtemp(prefix="live-conformance-"))
            redis = EmbeddedRedis(scratch / "redis", persistent=False, owner="conformance")
            redis_url = redis.start()
        settings = Settings(host=args.host, port=args.port, redis_url=redis_url)
        _install_uvloop()
        asyncio.run(_serve(settings))
        return 0
    finally:
        if redis is not None:
            redis.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


async def _serve(settings: Settings) -> None:
    runner = web.AppRunner(create_conformance_app(settings), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    print(
        f"conformance: the Socket.IO reference app on http://{settings.host}:{settings.port}"
        " (/socket.io/; Ctrl-C stops)",
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - non-Linux dev machines
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
