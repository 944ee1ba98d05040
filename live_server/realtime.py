"""The Socket.IO server: namespaces ``/live`` (viewers), ``/host`` and ``/store`` (staff).

Every connection authenticates with ``auth={"token": ...}`` and is placed in the room of
its scope: ``room:<id>`` on /live and /host, ``store:<id>`` on /store. Emitting helpers
stamp every event with ``ts`` (server time, ms). Cross-process fan-out goes through
Socket.IO's Redis manager.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import socketio
from aiohttp import web

from . import appkeys
from .errors import Problem
from .settings import Settings
from .tokens import Claims, Role

log = logging.getLogger(__name__)

LIVE, HOST, STORE = "/live", "/host", "/store"
MAX_CLIENT_PAYLOAD = 16 * 1024


class OrjsonForSocketIO:
    """python-socketio's json hook wants ``dumps(obj, separators=...) -> str``."""

    @staticmethod
    def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
        return orjson.loads(data)


def now_ms() -> int:
    return int(time.time() * 1000)


def room_channel(room_id: str) -> str:
    return f"room:{room_id}"


def store_channel(store_id: str) -> str:
    return f"store:{store_id}"


def make_socketio(settings: Settings) -> socketio.AsyncServer:
    assert settings.redis_url, "the Redis URL is known before the app is built"
    manager = socketio.AsyncRedisManager(
        settings.redis_url,
        channel="live-companion:socketio",
        redis_options={"socket_connect_timeout": 2, "health_check_interval": 15},
    )
    cors: list[str] | str = "*" if "*" in settings.cors_origins else list(settings.cors_origins)
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        json=OrjsonForSocketIO,
        cors_allowed_origins=cors,
        # Without sticky sessions, long-polling cannot work across workers.
        transports=["websocket"] if settings.workers > 1 or settings.redis_cluster else ["polling", "websocket"],
        max_http_buffer_size=MAX_CLIENT_PAYLOAD,
        ping_interval=25,
        ping_timeout=20,
        # Compression costs CPU per recipient on every broadcast; events are small.
        http_compression=False,
        compression_threshold=1 << 20,
    )


ConnectHook = Callable[[socketio.AsyncServer, str, Claims, dict[str, Any]], Awaitable[None]]
DisconnectHook = Callable[[socketio.AsyncServer, str, Claims], Awaitable[None]]


class AuthenticatedNamespace(socketio.AsyncNamespace):
    """Checks the token on connect, keeps the claims in the session, joins the scope room.

    Domains add behaviour with ``on_join`` / ``on_leave`` hooks (e.g. send ``room.state``,
    replay a store's stream) and with ``handlers`` for client events; any other client
    event is dropped and counted.
    """

    roles: tuple[Role, ...] = ()
    kind = "room"

    def __init__(self, namespace: str, app: web.Application) -> None:
        super().__init__(namespace)
        self.app = app
        self.on_join: list[ConnectHook] = []
        self.on_leave: list[DisconnectHook] = []
        self.handlers: dict[str, Callable[[str, Claims, Any], Awaitable[Any]]] = {}

    def channel_for(self, claims: Claims) -> str:
        return room_channel(claims.scope) if self.kind == "room" else store_channel(claims.scope)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = self.app[appkeys.SIGNER].verify(token)
        except Problem as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.detail) from None
        if claims.role not in self.roles:
            raise socketio.exceptions.ConnectionRefusedError(
                f"{self.namespace} needs a {' or '.join(r.value for r in self.roles)} token; "
                f"yours is a {claims.role.value} token"
            )
        await self.save_session(sid, {"claims": claims, "auth": auth})
        await self.enter_room(sid, self.channel_for(claims))
        self.app[appkeys.METRICS].sockets.labels(self.namespace).inc()
        for hook in self.on_join:
            await hook(self.server, sid, claims, auth)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.app[appkeys.METRICS].sockets.labels(self.namespace).dec()
        session = await self.get_session(sid)
        claims = session.get("claims")
        if claims is not None:
            for hook in self.on_leave:
                await hook(self.server, sid, claims)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        handler = self.handlers.get(event)
        metrics = self.app[appkeys.METRICS]
        if handler is None:
            metrics.socket_events_dropped.labels(self.namespace, "unknown").inc()
            return None
        sid = args[0]
        session = await self.get_session(sid)
        data = args[1] if len(args) > 1 else None
        return await handler(sid, session["claims"], data)


class LiveNamespace(AuthenticatedNamespace):
    roles = (Role.VIEWER, Role.HOST, Role.OPS)


class HostNamespace(AuthenticatedNamespace):
    roles = (Role.HOST, Role.OPS)


class StoreNamespace(AuthenticatedNamespace):
    roles = (Role.STAFF, Role.OPS)
    kind = "store"


class Realtime:
    """What domains use to reach clients: stamped emits to a room's viewers, its host
    channel, or a store's staff, and coalesced high-rate counters.

    ``counter(room, event, key, data)`` never emits directly: the latest value per
    (room, event, key) is kept and flushed at most ``COUNTER_HZ`` times a second, to
    viewers (/live) and the host channel (/host). 5,000 claims in a second become at
    most 4 ``coupon.stock`` broadcasts per campaign.
    """

    COUNTER_HZ = 4

    def __init__(self, sio: socketio.AsyncServer, app: web.Application) -> None:
        self.sio = sio
        self.live = LiveNamespace(LIVE, app)
        self.host = HostNamespace(HOST, app)
        self.store = StoreNamespace(STORE, app)
        for ns in (self.live, self.host, self.store):
            sio.register_namespace(ns)
        self._pending: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._flusher: asyncio.Task[None] | None = None

    def counter(self, room_id: str, event: str, key: str, data: dict[str, Any]) -> None:
        """Publish the latest value of a high-rate counter (coalesced, non-blocking)."""
        self._pending[(room_id, event, key)] = data
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(1 / self.COUNTER_HZ)
        pending, self._pending = self._pending, {}
        for (room_id, event, _key), data in pending.items():
            try:
                await self.to_viewers(room_id, event, dict(data))
                await self.to_host(room_id, event, dict(data))
            except Exception:  # a failed flush must not kill later ones
                log.exception("counter flush failed for %s %s", room_id, event)

    async def close(self) -> None:
        if self._flusher and not self._flusher.done():
            self._flusher.cancel()

    async def to_viewers(self, room_id: str, event: str, data: dict[str, Any]) -> None:
        data.setdefault("ts", now_ms())
        await self.sio.emit(event, data, to=room_channel(room_id), namespace=LIVE)

    async def to_host(self, room_id: str, event: str, data: dict[str, Any]) -> None:
        data.setdefault("ts", now_ms())
        await self.sio.emit(event, data, to=room_channel(room_id), namespace=HOST)

    async def to_store(self, store_id: str, event: str, data: dict[str, Any]) -> None:
        data.setdefault("ts", now_ms())
        await self.sio.emit(event, data, to=store_channel(store_id), namespace=STORE)
