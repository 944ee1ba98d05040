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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
import socketio
from aiohttp import web

from live_server.core.appkeys import METRICS, REDIS, SIGNER
from live_server.core.errors import Problem
from live_server.core.keys import counter_gate
from live_server.core.scripts import Script, ScriptCall
from live_server.core.socket_events import HOST as HOST
from live_server.core.socket_events import LIVE as LIVE
from live_server.core.socket_events import STORE as STORE
from live_server.core.socket_events import declared
from live_server.core.tenancy import TENANCY
from live_server.core.tokens import Claims, Role
from live_server.core.util import now_ms
from live_server.realtime.bus import LiveRedisManager
from live_server.realtime.cluster_bus import ClusterRedisManager
from live_server.realtime.fanout import FanoutCollector, LiveSocketIO
from live_server.settings import Settings

log = logging.getLogger(__name__)

# LIVE, HOST, STORE: the namespaces, declared with their events in core/socket_events.py.
MAX_CLIENT_PAYLOAD = 16 * 1024
COUNTER_GATE = Script(__file__, "counter_gate.lua")
COUNTER_GATE_MS = 1000
EVENT_RATE = 10.0  # client events per second per connection, sustained
EVENT_BURST = 20
FLOOD_DISCONNECT_AFTER = 500  # dropped events before the connection is closed


class TokenBucket:
    """Per-connection rate limit for client events (no Redis: it is per socket)."""

    __slots__ = ("burst", "dropped", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.dropped = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class OrjsonForSocketIO:
    """python-socketio's json hook wants ``dumps(obj, separators=...) -> str``."""

    @staticmethod
    def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()

    @staticmethod
    def loads(data: str | bytes, *args: Any, **kwargs: Any) -> Any:
        return orjson.loads(data)


def room_channel(room_id: str) -> str:
    return f"room:{room_id}"


def store_channel(store_id: str) -> str:
    return f"store:{store_id}"


def batch_channel(room_id: str) -> str:
    """The /host sockets of a room that asked for batches (``auth={token, batch: true}``)."""
    return f"room:{room_id}:batch"


HOST_BATCH = "host.batch"
BATCH_KEYS: dict[str, str] = {
    "question.new": "question", "question.updated": "question",
    "coupon.stock": "coupon.stock", "booking.count": "booking.count",
    "room.viewers": "room.viewers", "room.engagement": "room.engagement",
    "room.product": "room.product",
}  # fmt: skip
"""Events whose latest state is all a host needs: within one batch, a later one replaces an
earlier one with the same key (a card's id, a campaign's id, or the room)."""


class HostBatcher:
    """One worker's /host events of each room, gathered for at most ``interval_s`` and
    coalesced, then sent as one ``host.batch`` to the room's batching host sockets.

    At a broadcast's peak the host gets every booking, every question card change and
    every counter: hundreds of small packets a second, each one parsed, dispatched and
    rendered by the console. A batch carries them in one packet, in order; a card that
    changed five times in the window appears once, with its last state (a ``question.new``
    stays ``question.new``), and so does each counter. Every event keeps its own ``ts``.
    """

    def __init__(self, send: Callable[[str, dict[str, Any]], Awaitable[None]],
                 interval_s: float = 0.25, max_events: int = 500) -> None:  # fmt: skip
        self.send = send
        self.interval_s = interval_s
        self.max_events = max_events
        self._rooms: dict[str, dict[object, tuple[str, dict[str, Any]]]] = {}
        self._serial = 0
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0
        self.coalesced = 0

    def add(self, room_id: str, event: str, data: dict[str, Any]) -> None:
        pending = self._rooms.setdefault(room_id, {})
        group = BATCH_KEYS.get(event)
        key: object
        if group is None:
            self._serial += 1
            key = self._serial
        else:
            ident = data.get("id") or data.get("campaign_id") or ""
            key = (group, ident)
            earlier = pending.pop(key, None)  # re-added last: the newest state, in order
            if earlier is not None:
                self.coalesced += 1
                if earlier[0] == "question.new":
                    event = "question.new"
        pending[key] = (event, data)
        if len(pending) >= self.max_events:
            self._spawn(self._flush_room(room_id))
        elif self._flusher is None or self._flusher.done():
            self._flusher = self._spawn(self._flush_soon())

    @staticmethod
    def _spawn(job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(job)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.interval_s)
        for room_id in list(self._rooms):
            await self._flush_room(room_id)

    async def _flush_room(self, room_id: str) -> None:
        pending = self._rooms.pop(room_id, None)
        if not pending:
            return
        events = [{"event": event, "data": data} for event, data in pending.values()]
        self.batches += 1
        try:
            await self.send(room_id, {"room_id": room_id, "events": events, "ts": now_ms()})
        except Exception:  # a failed batch must not stop later ones
            log.exception("host batch for room %s failed", room_id)

    async def close(self) -> None:
        if self._flusher and not self._flusher.done():
            self._flusher.cancel()


def make_socketio(settings: Settings, **engine: Any) -> socketio.AsyncServer:
    """The production Socket.IO server (fast path, Redis bus); ``engine`` overrides its
    options (``live-server conformance``: the protocol test suite's ping interval etc.)."""
    assert settings.redis_url, "the Redis URL is known before the app is built"
    manager_class: type[LiveRedisManager] = LiveRedisManager
    if settings.redis_cluster:  # follow the cluster's nodes, not only the seed
        manager_class = ClusterRedisManager
    manager = manager_class(
        settings.redis_url,
        channel="live-companion:socketio",
        redis_options={"socket_connect_timeout": 2, "health_check_interval": 15},
    )
    cors: list[str] | str = "*" if "*" in settings.cors_origins else list(settings.cors_origins)
    options: dict[str, Any] = dict(
        async_mode="aiohttp",
        client_manager=manager,
        json=OrjsonForSocketIO,
        cors_allowed_origins=cors,
        # Without sticky sessions, long-polling cannot work across workers.
        transports=["websocket"]
        if settings.workers > 1 or settings.redis_cluster
        else ["polling", "websocket"],
        max_http_buffer_size=MAX_CLIENT_PAYLOAD,
        ping_interval=25,
        ping_timeout=20,
        # Compression costs CPU per recipient on every broadcast; events are small.
        http_compression=False,
        compression_threshold=1 << 20,
    )
    return LiveSocketIO(**(options | engine))


ConnectHook = Callable[[socketio.AsyncServer, str, Claims, dict[str, Any]], Awaitable[None]]
DisconnectHook = Callable[[socketio.AsyncServer, str, Claims], Awaitable[None]]


class AuthenticatedNamespace(socketio.AsyncNamespace):  # type: ignore[misc]  # socketio: untyped
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
        self.connected: dict[str, Claims] = {}
        """sid -> claims of this worker's connections (to close a revoked token's)."""

    async def disconnect_where(self, refused: Callable[[Claims], bool]) -> int:
        """Close this worker's connections whose claims are ``refused``; how many."""
        gone = [sid for sid, claims in self.connected.items() if refused(claims)]
        for sid in gone:
            await self.disconnect(sid)
        return len(gone)

    def channel_for(self, claims: Claims) -> str:
        return room_channel(claims.scope) if self.kind == "room" else store_channel(claims.scope)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = self.app[SIGNER].verify(token)
        except Problem as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.detail) from None
        if claims.role not in self.roles:
            raise socketio.exceptions.ConnectionRefusedError(
                f"{self.namespace} needs a {' or '.join(r.value for r in self.roles)} token; "
                f"yours is a {claims.role.value} token"
            )
        if claims.brand is not None and isinstance(auth, dict):
            # An ops token names what it watches (auth={token, store}): of its brand only.
            named = {k: str(auth[k]) for k in ("room", "store") if k in auth}
            try:
                await self.app[TENANCY].require_path(claims, named)
            except Problem as exc:
                raise socketio.exceptions.ConnectionRefusedError(exc.detail) from None
        # The claims only: nothing reads the auth dict back, and its token (~250 bytes)
        # would be kept for the connection's lifetime.
        await self.save_session(sid, {"claims": claims})
        await self.enter_room(sid, self.channel_for(claims))
        try:
            for hook in self.on_join:
                await hook(self.server, sid, claims, auth if isinstance(auth, dict) else {})
        except Problem as exc:  # e.g. the room no longer exists
            await self.leave_room(sid, self.channel_for(claims))
            await self.save_session(sid, {})
            raise socketio.exceptions.ConnectionRefusedError(exc.detail) from None
        self.connected[sid] = claims
        metrics = self.app[METRICS]
        metrics.sockets.labels(self.namespace).inc()
        metrics.socket_connects.labels(self.namespace).inc()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.connected.pop(sid, None)
        session = await self.get_session(sid)
        claims = session.get("claims")
        if claims is not None:
            self.app[METRICS].sockets.labels(self.namespace).dec()
            for hook in self.on_leave:
                await hook(self.server, sid, claims)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        handler = self.handlers.get(event)
        metrics = self.app[METRICS]
        if handler is None:
            metrics.socket_events_dropped.labels(self.namespace, "unknown").inc()
            return None
        sid = args[0]
        session = await self.get_session(sid)
        data = args[1] if len(args) > 1 else None
        bucket = session.setdefault("bucket", TokenBucket(EVENT_RATE, EVENT_BURST))
        if not bucket.take():
            metrics.socket_events_dropped.labels(self.namespace, "rate_limited").inc()
            bucket.dropped += 1
            if bucket.dropped > FLOOD_DISCONNECT_AFTER:
                log.warning("disconnecting %s on %s: event flood", sid, self.namespace)
                await self.disconnect(sid)
            return None
        if data is not None and len(orjson.dumps(data)) > MAX_CLIENT_PAYLOAD:
            metrics.socket_events_dropped.labels(self.namespace, "oversized").inc()
            return None
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
        self.metrics = app[METRICS]
        self.metrics.registry.register(FanoutCollector())
        self._undeclared: set[tuple[str, str]] = set()
        self.app = app
        self._pending: dict[tuple[str, str, str], tuple[dict[str, Any], int | None, int]] = {}
        self._gate_script: ScriptCall | None = None
        self._flusher: asyncio.Task[None] | None = None
        self.host_batches = HostBatcher(self._send_host_batch)
        self.host.on_join.append(self._host_joined)
        # Set by the live-room module: records each room broadcast in the room's
        # history (offsets for recovery) before emitting it.
        self.broadcaster: Callable[[str, str, dict[str, Any]], Awaitable[str]] | None = None

    async def disconnect_where(self, refused: Callable[[Claims], bool]) -> int:
        """Close this worker's connections, on every namespace, whose claims are refused
        (a revoked token or subject)."""
        closed = 0
        for ns in (self.live, self.host, self.store):
            closed += await ns.disconnect_where(refused)
        return closed

    def counter(
        self, room_id: str, event: str, key: str, data: dict[str, Any], *,
        gated: int | None = None, gate_ms: int = COUNTER_GATE_MS,
    ) -> None:  # fmt: skip
        """Publish the latest value of a high-rate counter (coalesced, non-blocking).

        ``gated``: the counter's progress, which only grows (``booking.count``: the total;
        ``coupon.stock``: the codes claimed): it goes out at most once per ``gate_ms`` per
        room *across workers* (a gate in Redis) and never behind a value already sent.
        Every worker flushing its own count four times a second made ``booking.count`` 96%
        of all /live deliveries at a 10,000-viewer peak."""
        self._pending[(room_id, event, key)] = (data, gated, gate_ms)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(1 / self.COUNTER_HZ)
        pending, self._pending = self._pending, {}
        retry = False
        for (room_id, event, key), (data, gated, gate_ms) in pending.items():
            try:
                if gated is not None:
                    verdict = await self._gate(room_id, event, key, gated, gate_ms)
                    if verdict < 0:  # another worker sent in this period: try again later
                        self._pending.setdefault((room_id, event, key), (data, gated, gate_ms))
                        retry = True
                        continue
                    if verdict == 0:  # a value as high went out already
                        continue
                await self.to_viewers(room_id, event, dict(data))
                await self.to_host(room_id, event, dict(data))
            except Exception:  # a failed flush must not kill later ones
                log.exception("counter flush failed for %s %s", room_id, event)
        if retry:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _gate(self, room_id: str, event: str, key: str, value: int, gate_ms: int) -> int:
        if self._gate_script is None:
            self._gate_script = COUNTER_GATE.bind(self.app[REDIS])
        gate, last = counter_gate(room_id, event, key)
        return int(await self._gate_script([gate, last], [gate_ms, value]))

    async def close(self) -> None:
        if self._flusher and not self._flusher.done():
            self._flusher.cancel()
        await self.host_batches.close()

    async def _host_joined(
        self, server: socketio.AsyncServer, sid: str, claims: Claims, auth: dict[str, Any]
    ) -> None:
        """A host console that asks for batches gets ``host.batch`` in place of single events."""
        room_id = claims.scope if claims.role is Role.HOST else str(auth.get("room") or "")
        if auth.get("batch") is True and room_id:
            await self.host.leave_room(sid, self.host.channel_for(claims))
            await self.host.enter_room(sid, batch_channel(room_id))

    async def _send_host_batch(self, room_id: str, batch: dict[str, Any]) -> None:
        await self._emit_json(HOST_BATCH, batch, HOST, batch_channel(room_id))

    def _declared(self, namespace: str, event: str) -> None:
        """Every event sent is declared in core.socket_events (the AsyncAPI document); an
        undeclared one still goes out, logged once and counted."""
        if not declared(namespace, event) and (namespace, event) not in self._undeclared:
            self._undeclared.add((namespace, event))
            log.error("event %s on %s is not declared in core/socket_events.py", event, namespace)
            self.metrics.socket_events_undeclared.labels(namespace).inc()

    async def to_viewers(self, room_id: str, event: str, data: dict[str, Any]) -> None:
        """Broadcast to the room's viewers (with an ``offset`` once live rooms are wired)."""
        self._declared(LIVE, event)
        data.setdefault("ts", now_ms())
        if self.broadcaster is not None:
            await self.broadcaster(room_id, event, data)
            return
        await self.sio.emit(event, data, to=room_channel(room_id), namespace=LIVE)

    async def to_host(self, room_id: str, event: str, data: dict[str, Any]) -> None:
        self._declared(HOST, event)
        data.setdefault("ts", now_ms())
        self.host_batches.add(room_id, event, data)
        await self._emit_json(event, data, HOST, room_channel(room_id))

    async def to_store(self, store_id: str, event: str, data: dict[str, Any]) -> None:
        self._declared(STORE, event)
        data.setdefault("ts", now_ms())
        await self._emit_json(event, data, STORE, store_channel(store_id))

    def to_host_now(self, room_id: str, event: str, data: dict[str, Any]) -> Awaitable[Any]:
        """:meth:`to_host`, queued now where it can be (see ``emit_json_now``); await the
        result for the outcome."""
        self._declared(HOST, event)
        data.setdefault("ts", now_ms())
        self.host_batches.add(room_id, event, data)
        manager = self.sio.manager
        if isinstance(manager, LiveRedisManager):
            queued = manager.emit_json_now(event, data, HOST, room_channel(room_id))
            if queued is not None:
                return queued
        return self._emit_json(event, data, HOST, room_channel(room_id))

    async def _emit_json(self, event: str, data: dict[str, Any], namespace: str, room: str) -> None:
        manager = self.sio.manager
        if isinstance(manager, LiveRedisManager):
            await manager.emit_json(event, data, namespace, room)
        else:
            await self.sio.emit(event, data, to=room, namespace=namespace)


SIO: web.AppKey[socketio.AsyncServer] = web.AppKey("sio")
REALTIME: web.AppKey[Realtime] = web.AppKey("realtime")
