"""Broadcast fan-out without a task per recipient, and websockets without a task per job.

Stock python-socketio sends a room broadcast by creating one asyncio task per recipient,
each pushing the packet through the engine.io socket's queue to its writer task, which
encodes a websocket frame and writes it: about 155 µs of CPU per delivered message at
10,000 viewers on our 2-core machines. Here a broadcast is encoded ONCE into its final
websocket frame bytes (engine.io ``4`` + socket.io packet, unmasked text frame) and
written straight to every recipient's transport.

Stock engine.io also keeps, per websocket connection, a writer task (plus the task its
``wait_for(queue.get())`` wraps), a fresh reader task per message, a ping task and an
``asyncio.Queue`` (four deques): about 9 KB of a viewer's ~33 KB. A client that opens a
websocket straight away (what our widget and every load generator do; the only transport
with ``--workers 2``) gets a :class:`LiveSocket` instead: its packets are written to the
transport as they are sent (in call order, so order per connection is kept), the reading
loop runs in the HTTP handler's own task, and pings come from one timer handle. A client
that starts with long-polling and upgrades keeps engine.io's queue and writer task.

Protocol conformance (``live-server conformance`` serves the protocol's reference app on
this stack; tests/live_server/realtime/test_conformance.py): where python-socketio and
engine.io differed from Node's socket.io, this follows Node, none of it on the broadcast
loop: ``pingInterval`` in ms, a session closed at its pong deadline by a timer, 400 for a
missing transport or another method, a polling CLOSE answered with NOOP, a second
websocket for an upgraded session accepted and closed, CONNECT before what the connect
handler emits (:class:`HeldWrites`), ``Invalid namespace``, a malformed packet closes the
connection, and one that joins no namespace within ``connect_timeout`` is closed.

Backpressure: the stock writer awaited ``drain`` and let the queue grow without bound; a
socket written directly buffers in its transport instead, and a client that stops reading
until ``MAX_CLIENT_BUFFER`` is pending is cut off (it reconnects and recovers by offset).

Compression is decided on purpose: permessage-deflate is NOT negotiated. Our events are
small JSON (~150 bytes) where deflate saves little, and its per-connection zlib state
costs ~60 KB of memory per viewer plus CPU per recipient on every broadcast.

Internals this relies on, all pinned by tests (tests/live_server/realtime/): engine.io's
``AsyncServer._handle_connect`` (re-implemented to build a LiveSocket),
``AsyncSocket.queue`` (an ``asyncio.Queue`` with ``_getters``), the aiohttp driver's
``WebSocket`` class, which we subclass, and python-socketio's ``_handle_eio_message``
(re-implemented to refuse malformed packets), ``_handle_connect`` and ``_send_packet``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import engineio
import orjson
import socketio
from aiohttp import WSMsgType, web
from aiohttp.web import WebSocketResponse
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket
from prometheus_client.core import CounterMetricFamily, Metric
from socketio import packet as sio_packet

log = logging.getLogger(__name__)
_background: set[asyncio.Task[Any]] = set()  # fire-and-forget closes, kept until done

SLOW_CLIENT_BUFFER = 256 * 1024
# A direct-write client with this much unread is not reading: cut it off (it reconnects
# and recovers from its offset) rather than buffer without bound.
MAX_CLIENT_BUFFER = 4 * 1024 * 1024
CLOSE_POLL_WAIT_S = 30.0  # Node's closeTimeout
CONNECT_GAP_S = 0.01
"""Between a namespace's CONNECT and what its connect handler emitted, on a server whose
``connect_gap_s`` asks for it (the conformance app: see release). Production sends them
back to back, in order: real clients read several frames at once."""


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final, uncompressed websocket text frame (server to client)."""
    return _frame(0x81, payload)


def binary_frame(payload: bytes) -> bytes:
    """An unmasked, final, uncompressed websocket binary frame (server to client)."""
    return _frame(0x82, payload)


def _frame(first: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def packet_frame(encoded: str | bytes) -> bytes:
    """The websocket frame of an encoded engine.io packet (str: text, bytes: binary)."""
    if isinstance(encoded, str):
        return text_frame(encoded.encode())
    return binary_frame(encoded)


PING_FRAME = packet_frame(eio_packet.Packet(eio_packet.PING).encode())


class LivePacket(sio_packet.Packet):  # type: ignore[misc]
    """python-socketio's packet with a binary check at C speed.

    Upstream looks for bytes by walking the payload in Python, building a list at every
    level, for every packet it makes and for every emit (twice for one emit): ~100 µs
    for a ``room.state`` with its featured products and open campaigns, a tenth of a
    join's CPU. orjson refuses bytes, so a payload it encodes holds none; what it
    refuses (bytes, or a value it cannot encode) gets upstream's walk, as before."""

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        if data is None or isinstance(data, str | int | float):
            return False
        try:
            orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            return bool(super().data_is_binary(data))
        return False


def cork(transport: asyncio.BaseTransport | None, on: bool) -> None:
    """TCP_CORK on (frames written meanwhile wait) or off (they leave as one segment):
    a join's HTTP 101 answer and engine.io's OPEN packet go to the client together. Each
    segment that reaches an idle client costs a wake-up of its process, which on our VMs
    is the dearest part of a write (~100 µs against ~10 µs for one more frame)."""
    if transport is None or not hasattr(socket, "TCP_CORK"):
        return
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError, AttributeError, ValueError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)


def write_frame(transport: asyncio.Transport | HeldWrites, frame: bytes) -> bool:
    """Write one frame to a direct-write client; False if it is gone or was cut off."""
    if transport.is_closing():
        return False
    if transport.get_write_buffer_size() > MAX_CLIENT_BUFFER:
        log.warning("cutting off a websocket client that stopped reading")
        FastFanout.slow_disconnects += 1
        transport.abort()
        return False
    transport.write(frame)
    return True


class HeldWrites:
    """Stands in for a direct-write client's transport while one of its namespace
    connects is in progress: frames written meanwhile (what the connect handler emits,
    broadcasts to rooms it joined, pings) wait here, and go out, in order, right after the
    namespace's CONNECT packet. A Socket.IO client sees CONNECT first, then the events, as
    from Node's server (whose ``connection`` handler runs after CONNECT is sent)."""

    __slots__ = ("frames", "namespaces", "transport")

    def __init__(self, transport: asyncio.Transport, namespace: str) -> None:
        self.transport = transport
        self.namespaces = {namespace}
        self.frames: list[bytes] = []

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + sum(map(len, self.frames))

    def abort(self) -> None:
        self.frames.clear()
        self.transport.abort()


# What a connection's WSGI-style environ keeps once its websocket is up (the aiohttp
# request, still reachable there, has every header): engine.io copies each header into
# it, and python-socketio keeps it for the connection's lifetime.
ENVIRON_KEEP = frozenset({
    "REQUEST_METHOD", "QUERY_STRING", "RAW_URI", "PATH_INFO", "REMOTE_ADDR",
    "HTTP_ORIGIN", "HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR", "aiohttp.request",
})  # fmt: skip


def slim_environ(environ: dict[str, Any]) -> None:
    """Shrink a long-lived environ in place (everyone holding it sees the same dict)."""
    kept = {k: v for k, v in environ.items() if k in ENVIRON_KEEP}
    environ.clear()  # frees the table; deleting keys one by one would keep its size
    environ.update(kept)


class LiveWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket, without deflate, remembered on its engine.io socket."""

    transport: asyncio.Transport | None = None

    async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        # The 101 answer waits for the OPEN packet (LiveSocket._websocket_handler uncorks
        # right after writing it): one segment, one wake-up of the client.
        cork(request.transport, True)
        try:
            await self._sock.prepare(request)
        except BaseException:
            cork(request.transport, False)
            raise
        self.environ = environ
        self.transport = request.transport
        owner = getattr(self.handler, "__self__", None)  # the engine.io AsyncSocket
        if owner is not None:
            owner.live_ws = self._sock
        try:
            await self.handler(self)
        finally:
            cork(request.transport, False)  # whatever the handler did (no-op if done)
            if owner is not None:
                owner.live_ws = None
        return self._sock


class LiveSocket(AsyncSocket):  # type: ignore[misc]
    """An engine.io socket that, on a websocket opened straight away, needs no tasks.

    ``transport`` is set while the socket is in direct-write mode: every packet sent is
    framed and written at once. ``queue`` exists only while something uses it (the
    handshake's OPEN packet waits there until the websocket is up; long-polling and the
    polling-to-websocket upgrade use it as upstream does).
    """

    transport: asyncio.Transport | HeldWrites | None = None
    live_ws: WebSocketResponse | None = None
    _close_after_poll = False
    _ping_handle: asyncio.TimerHandle | None = None
    """The next ping, or, once a ping is out, the deadline for its pong (one handle)."""
    _queue: asyncio.Queue[Any] | None = None
    closes = 0  # sockets closed in this process (GcPacer's garbage estimate)
    # Set by upstream (engine.io is untyped): declared here so their uses type-check.
    last_ping: float | None
    connected: bool

    @property
    def queue(self) -> asyncio.Queue[Any]:
        if self._queue is None:
            self._queue = self.server.create_queue()
        return self._queue

    @queue.setter
    def queue(self, value: asyncio.Queue[Any] | None) -> None:
        self._queue = value

    async def send(self, pkt: eio_packet.Packet) -> None:
        transport = self.transport
        if transport is None:
            await super().send(pkt)
            return
        if await self.check_ping_timeout():
            write_frame(transport, packet_frame(pkt.encode()))

    def schedule_ping(self) -> None:
        # Upstream starts a task that sleeps ping_interval; a timer handle is ~30x smaller.
        # Called at the handshake and on each PONG, which also ends the pong deadline.
        if self.last_ping:
            self.last_ping = None
            if self._ping_handle is not None:
                self._ping_handle.cancel()
            loop = asyncio.get_running_loop()
            self._ping_handle = loop.call_later(self.server.ping_interval, self._ping_due)

    def _ping_due(self) -> None:
        self._ping_handle = None
        if self.closing or self.closed:
            return
        self.last_ping = time.time()
        transport = self.transport
        if transport is not None:
            write_frame(transport, PING_FRAME)
        else:  # long-polling: through the queue, as upstream
            self.queue.put_nowait(eio_packet.Packet(eio_packet.PING))
        # As Node's engine.io: no PONG within ping_timeout closes the session then, not
        # at the next send or service pass (a poll must find it closed: HTTP 400).
        loop = asyncio.get_running_loop()
        self._ping_handle = loop.call_later(self.server.ping_timeout, self._pong_overdue)

    def _pong_overdue(self) -> None:
        self._ping_handle = None
        if self.closing or self.closed:
            return
        self.server.logger.info("%s: no pong in time, closing socket", self.sid)
        self._close_soon(self.server.reason.PING_TIMEOUT)

    def hold(self, namespace: str) -> bool:
        """Hold this direct-write socket's frames until ``namespace``'s CONNECT (or
        CONNECT_ERROR) is sent; False if the socket does not write directly."""
        transport = self.transport
        if transport is None:
            return False
        if isinstance(transport, HeldWrites):
            transport.namespaces.add(namespace)
        else:
            self.transport = HeldWrites(transport, namespace)
        return True

    def release(self, namespace: str, first: bytes | None = None) -> None:
        """End ``namespace``'s hold: write ``first`` (its CONNECT frame), then, when no
        other namespace is connecting, what was held, in order."""
        held = self.transport
        if not isinstance(held, HeldWrites) or namespace not in held.namespaces:
            return
        held.namespaces.discard(namespace)
        gap = getattr(self.server, "connect_gap_s", 0.0)
        if first is not None and not held.namespaces and not gap:
            # The namespace's CONNECT and what its handler sent meanwhile (room.state)
            # in one write: one segment, one wake-up of the client, instead of two.
            self.transport = held.transport
            frames, held.frames = held.frames, []
            write_frame(held.transport, b"".join([first, *frames]) if frames else first)
            return
        if first is not None:
            write_frame(held.transport, first)
        if not held.namespaces:
            # On the conformance server the CONNECT goes out alone and the rest a moment
            # later: a client that takes one message per read of its socket (the
            # protocol's compliance suite does) would lose the second of two that arrive
            # together. Elsewhere at once, in order (no timer per join).
            if gap:
                asyncio.get_running_loop().call_later(gap, self._end_hold, held)
            else:
                self._end_hold(held)

    def _end_hold(self, held: HeldWrites) -> None:
        if self.transport is not held or held.namespaces:  # gone, or held again meanwhile
            return
        self.transport = held.transport
        for frame in held.frames:
            if not write_frame(held.transport, frame):
                break

    def _flush_queue(self, transport: asyncio.Transport) -> None:
        """Write what was sent before the websocket was up (the OPEN packet), then drop
        the queue: in direct-write mode nothing waits there."""
        queue, self._queue = self._queue, None
        while queue is not None and not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is not None:
                write_frame(transport, packet_frame(pkt.encode()))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        if self._ping_handle is not None:
            self._ping_handle.cancel()
            self._ping_handle = None
        if self.closed or self.closing:
            return
        LiveSocket.closes += 1
        queue = self._queue
        polled = queue is not None and getattr(queue, "_getters", None)
        if polled and self.transport is None and not self.upgraded:
            assert queue is not None
            # As Node: a poll waiting when the session ends gets a NOOP (HTTP 200), and
            # the next request with this sid gets HTTP 400.
            queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))
        await super().close(wait=wait, abort=abort, reason=reason)
        ws = self.live_ws
        if self.transport is not None and ws is not None and not ws.closed:
            # Closed by the server (a ping timeout, a disconnect, a malformed packet): end
            # the websocket too, as Node does, rather than wait for the client to do it.
            task = asyncio.get_running_loop().create_task(ws.close())
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def receive(self, pkt: eio_packet.Packet) -> None:
        if (
            pkt.packet_type == eio_packet.CLOSE and self.transport is None
            and not self.upgraded and not getattr(self._queue, "_getters", None)
        ):  # fmt: skip
            # Long-polling, no poll waiting: as Node, the session ends with the next poll,
            # answered with a NOOP (then HTTP 400), or after CLOSE_POLL_WAIT_S.
            self.queue.put_nowait(eio_packet.Packet(eio_packet.NOOP))
            self._close_after_poll = True
            loop = asyncio.get_running_loop()
            loop.call_later(
                CLOSE_POLL_WAIT_S, self._close_soon, self.server.reason.CLIENT_DISCONNECT
            )
            return
        await super().receive(pkt)

    async def handle_get_request(self, environ: dict[str, Any]) -> Any:
        packets = await super().handle_get_request(environ)
        if self._close_after_poll:
            await self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
        return packets

    def _close_soon(self, reason: Any) -> None:
        if self.closing or self.closed:
            return
        task = asyncio.get_running_loop().create_task(
            self.close(wait=False, abort=True, reason=reason)
        )
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _upgrade_websocket(self, environ: dict[str, Any]) -> Any:
        # A second websocket for a session that is upgrading or upgraded is refused (HTTP
        # 400), as by Node; upstream would start a second upgrade that never ends.
        if self.upgrading or self.upgraded:
            return self.server._bad_request("Session already upgraded")
        return await super()._upgrade_websocket(environ)

    async def _websocket_handler(self, ws: LiveWebSocket) -> None:
        if self.connected or ws.transport is None:  # an upgrade from long-polling
            cork(ws.transport, False)  # its probe goes out frame by frame, as upstream
            await super()._websocket_handler(ws)
            return
        self.connected = True
        self.upgraded = True
        transport = ws.transport
        self._flush_queue(transport)
        cork(transport, False)  # the 101 answer and the OPEN packet leave together
        self.transport = transport
        slim_environ(ws.environ)
        server = self.server
        sock = ws._sock
        timeout = server.ping_interval + server.ping_timeout
        try:
            while not self.closed:
                try:
                    msg = await sock.receive(timeout=timeout)
                except Exception:  # timeout: the client is gone; anything else: so is the link
                    break
                if msg.type is not WSMsgType.TEXT and msg.type is not WSMsgType.BINARY:
                    break  # close, closing, closed or a protocol error
                data = msg.data
                if data and len(data) > server.max_http_buffer_size:
                    break
                try:
                    pkt = eio_packet.Packet(encoded_packet=data)
                except Exception:  # not an engine.io packet: close, as Node ("parse error")
                    break
                try:
                    await self.receive(pkt)
                except (eio_exceptions.UnknownPacketError, eio_exceptions.SocketIsClosedError):
                    break
                except Exception:  # as upstream: log it and keep the connection
                    server.logger.exception("Unknown receive error")
        finally:
            self.transport = None
        await sock.close()
        await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


class LiveEngineIO(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io server whose sockets are :class:`LiveSocket` and whose websockets are
    :class:`LiveWebSocket`."""

    # Set by upstream (engine.io is untyped): declared here so their uses type-check.
    _async: dict[str, Any]
    start_service_task: bool
    connect_gap_s: float = 0.0
    """Seconds between a namespace's CONNECT and the connect handler's own frames (0: back
    to back; the conformance app sets CONNECT_GAP_S)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._async = {**self._async, "websocket": LiveWebSocket}
        self.gc_pacer = GcPacer(self)

    async def shutdown(self) -> None:
        await self.gc_pacer.stop()
        await super().shutdown()

    def attach(self, app: web.Application, engineio_path: str = "engine.io") -> None:
        """Upstream's routes (GET, POST, OPTIONS), and every other method on the same path
        answered by the engine (HTTP 400, as Node) rather than by aiohttp's 405."""
        super().attach(app, engineio_path)
        app.router.add_route("*", f"/{engineio_path.strip('/')}/", self.handle_request)

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        request = args[0] if args else None
        if isinstance(request, web.Request):
            query = request.query
            if "transport" not in query:
                # Upstream assumes long-polling; Node refuses a request naming no transport.
                return web.json_response({"code": 0, "message": "Transport unknown"}, status=400)
            sock = self.sockets.get(query.get("sid", ""))
            if sock is not None and sock.closed:
                # Upstream's POST path let _get_socket's KeyError out (HTTP 500).
                del self.sockets[sock.sid]
                return web.json_response({"code": 1, "message": "Session ID unknown"}, status=400)
            if (
                sock is not None and (sock.upgrading or sock.upgraded)
                and query["transport"] == "websocket"
                and request.headers.get("Upgrade", "").lower() == "websocket"
            ):  # fmt: skip
                # Another websocket for a session already upgrading or upgraded: Node
                # accepts it and closes it at once (upstream answered HTTP 400).
                ws = WebSocketResponse()
                await ws.prepare(request)
                await ws.close()
                return ws
        return await super().handle_request(*args, **kwargs)

    def _method_not_found(self) -> dict[str, Any]:
        result: dict[str, Any] = self._bad_request("Method not allowed")  # Node: 400, not 405
        return result

    async def _handle_connect(
        self, environ: dict[str, Any], transport: str, jsonp_index: int | None = None
    ) -> Any:
        """Upstream's ``_handle_connect`` (engine.io 4.x) with a LiveSocket, and a websocket
        opened straight away run without the upgrade detour's extra frames."""
        if self.cookie:  # not used by this server: upstream's sockets, as they are
            return await super()._handle_connect(environ, transport, jsonp_index)
        if self.start_service_task:
            self.start_service_task = False
            self.service_task_handle = self.start_background_task(self._service_task)
            self.gc_pacer.start()
        sid = self.generate_id()
        s = LiveSocket(self, sid)
        self.sockets[sid] = s
        await s.send(self._open_packet(sid, transport))
        ret = await self._trigger_event("connect", sid, environ, run_async=False)
        if ret is not None and ret is not True:
            del self.sockets[sid]
            self.logger.warning("Application rejected connection")
            return self._unauthorized(ret or None)
        s.schedule_ping()
        if transport != "websocket":  # long-polling first: the queue, as upstream
            s.connected = True
            try:
                return self._ok(await s.poll(), jsonp_index=jsonp_index)
            except eio_exceptions.QueueEmpty:
                return self._bad_request()
        response = await LiveWebSocket(s._websocket_handler, self)(environ)
        if s.closed and sid in self.sockets:  # websocket connection ended, so we are done
            del self.sockets[sid]
        return response

    def _open_packet(self, sid: str, transport: str) -> eio_packet.Packet:
        return eio_packet.Packet(eio_packet.OPEN, {
            "sid": sid,
            "upgrades": self._upgrades(sid, transport),
            "pingTimeout": int(self.ping_timeout * 1000),
            # Upstream truncates to whole seconds before scaling (0.3 s would say 0 ms).
            "pingInterval": int((self.ping_interval + self.ping_interval_grace_period) * 1000),
            "maxPayload": self.max_http_buffer_size,
        })  # fmt: skip


class GcPacer:
    """Keeps CPython's full garbage collections out of the broadcast path.

    CPython runs a full (generation 2) collection whenever the objects that survived
    into the old generation grow by 25%. At 10,000 viewers the heap holds ~1M tracked
    objects (~85 per connection) and a full pass stops the event loop for 0.4-0.5 s on
    our 2-core machines; while viewers join it comes back every second or two, and one
    landing during a broadcast delays every recipient by that much (it was most of our
    p99 at 10,000 viewers). Objects that live long are mostly connection state, which
    only becomes garbage when the connection closes.

    So, once ``MIN_SOCKETS`` sockets are open (below that a full pass is cheap and this
    does nothing): every ``TICK_S`` the young generations are collected (cheap) and the
    survivors are frozen (``gc.freeze``: never scanned again), so automatic full passes
    only see what is younger than a tick. Frozen objects that become cyclic garbage
    (~30 per closed connection, against ~85 live) wait for a sweep (unfreeze, one full
    pass, freeze), which runs when the sockets closed since the last sweep reach half of
    those open then, or every ``SWEEP_MAX_S`` at the latest (whatever else turned into
    garbage while frozen): garbage stays bounded, and a join storm costs no full pass.
    Young garbage (requests, broadcasts) is collected by the young passes as before.
    """

    MIN_SOCKETS = 1000
    TICK_S = 2.0
    SWEEP_MAX_S = 600.0
    YOUNG_THRESHOLD = 700
    """CPython's default young-generation threshold, used while pacing. Workers start with
    a larger one (serve.py: HTTP flash loads); with thousands of sockets a young pass over
    10,000 objects landing inside a broadcast cost p99 (10k viewers, 2 workers: 231 ms at
    10,000 against 193 ms at 700, bench/fanout)."""

    def __init__(self, eio: LiveEngineIO) -> None:
        self.eio = eio
        self.active = False
        self._frozen_before = False
        self._threshold_before: tuple[int, int, int] | None = None
        self.sweeps = 0
        self._frozen_at_sweep = 0
        self._open_at_sweep = 0
        self._closed_at_sweep = 0
        self._swept_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="gc-pacer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._deactivate()

    def _deactivate(self) -> None:
        """Back to the stock rule. If the process froze its startup objects before we
        took over (serve.py does), it stays frozen: one sweep, then freeze what lives."""
        if not self.active:
            return
        gc.unfreeze()
        if self._frozen_before:
            gc.collect()
            gc.freeze()
        if self._threshold_before is not None:
            gc.set_threshold(*self._threshold_before)
            self._threshold_before = None
        self.active = False

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.TICK_S)
            try:
                self.tick()
            except Exception:  # pacing is an optimisation: never let it die loudly twice
                log.exception("gc pacing failed")

    def tick(self) -> None:
        """One pacing step (public for tests)."""
        open_now = len(self.eio.sockets)
        if open_now < self.MIN_SOCKETS:
            self._deactivate()
            return
        closed = LiveSocket.closes - self._closed_at_sweep
        if (
            not self.active
            or closed * 2 > max(self._open_at_sweep, open_now)
            or time.monotonic() - self._swept_at > self.SWEEP_MAX_S
        ):
            self.sweep()
            return
        gc.collect(1)
        gc.freeze()

    def sweep(self) -> None:
        """Unfreeze, collect everything once, freeze what is left."""
        started = time.perf_counter()
        if not self.active:
            self._frozen_before = gc.get_freeze_count() > 0
            self._threshold_before = gc.get_threshold()
            gc.set_threshold(self.YOUNG_THRESHOLD, *self._threshold_before[1:])
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self.active = True
        self.sweeps += 1
        self._frozen_at_sweep = gc.get_freeze_count()
        self._open_at_sweep = len(self.eio.sockets)
        self._closed_at_sweep = LiveSocket.closes
        self._swept_at = time.monotonic()
        log.info(
            "gc sweep: %d unreachable, %d objects frozen, %.0f ms",
            found, self._frozen_at_sweep, (time.perf_counter() - started) * 1000,
        )  # fmt: skip


RESERVED_EVENTS = frozenset({
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
})  # fmt: skip


def payload_is_valid(pkt: sio_packet.Packet) -> bool:
    """The payload rules of Node's socket.io-parser: a packet that breaks them closes the
    connection there (python-socketio would log a handler error and keep it)."""
    kind, data = pkt.packet_type, pkt.data
    if kind == sio_packet.CONNECT:
        return data is None or isinstance(data, dict)
    if kind == sio_packet.DISCONNECT:
        return data is None
    if kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
        if not isinstance(data, list) or not data:
            return False
        name = data[0]
        return (isinstance(name, str) and name not in RESERVED_EVENTS) or (
            isinstance(name, int | float) and not isinstance(name, bool)
        )
    if kind in (sio_packet.ACK, sio_packet.BINARY_ACK):
        return isinstance(data, list) and pkt.id is not None
    return False  # CONNECT_ERROR or unknown: never sent by a client


class LiveSocketIO(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on :class:`LiveEngineIO`, with Node's rules where the
    protocol's compliance suite (socketio/socket.io-protocol, ``test-suite``) finds they
    differ: CONNECT before anything the connect handler emits, ``Invalid namespace`` for
    an unknown namespace, a malformed packet closes the connection, and a connection that
    joins no namespace within ``connect_timeout`` seconds is closed."""

    def __init__(self, *args: Any, connect_timeout: float = 45.0, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", LivePacket)
        super().__init__(*args, **kwargs)
        self.connect_timeout = connect_timeout  # Node's default: 45 s
        self._connect_deadlines: dict[str, asyncio.TimerHandle] = {}

    # Set by upstream (socketio is untyped): declared here so their uses type-check.
    eio: LiveEngineIO
    manager: Any
    _binary_packet: dict[str, Any]

    def _engineio_server_class(self) -> type[LiveEngineIO]:
        return LiveEngineIO

    def _known_namespace(self, namespace: str) -> bool:
        return (
            namespace in self.handlers or namespace in self.namespace_handlers
            or self.namespaces == "*" or namespace in self.namespaces
        )  # fmt: skip

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        loop = asyncio.get_running_loop()
        self._connect_deadlines[eio_sid] = loop.call_later(
            self.connect_timeout, self._connect_overdue, eio_sid
        )
        return result

    def _connect_overdue(self, eio_sid: str) -> None:
        self._connect_deadlines.pop(eio_sid, None)
        task = asyncio.get_running_loop().create_task(self._close_engine(eio_sid))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _close_engine(self, eio_sid: str) -> None:
        self._binary_packet.pop(eio_sid, None)
        await self.eio.disconnect(eio_sid)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> Any:
        deadline = self._connect_deadlines.pop(eio_sid, None)
        if deadline is not None:
            deadline.cancel()
        return await super()._handle_eio_disconnect(eio_sid, reason)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        namespace = namespace or "/"
        if not self._known_namespace(namespace):  # Node's answer, word for word
            await self._send_packet(eio_sid, self.packet_class(
                sio_packet.CONNECT_ERROR, data={"message": "Invalid namespace"},
                namespace=namespace,
            ))  # fmt: skip
            return
        sock = self.eio.sockets.get(eio_sid)
        held = isinstance(sock, LiveSocket) and sock.hold(namespace)
        try:
            await super()._handle_connect(eio_sid, namespace, data)
        finally:
            if held:
                sock.release(namespace)
        if self.manager.sid_from_eio_sid(eio_sid, namespace) is not None:
            deadline = self._connect_deadlines.pop(eio_sid, None)
            if deadline is not None:
                deadline.cancel()

    async def _send_packet(self, eio_sid: str, pkt: sio_packet.Packet) -> None:
        if pkt.packet_type in (sio_packet.CONNECT, sio_packet.CONNECT_ERROR):
            sock = self.eio.sockets.get(eio_sid)
            held = sock.transport if isinstance(sock, LiveSocket) else None
            namespace = pkt.namespace or "/"
            if isinstance(held, HeldWrites) and namespace in held.namespaces:
                # The namespace's answer goes before what its handler sent meanwhile.
                frame = text_frame(("4" + pkt.encode()).encode())
                sock.release(namespace, first=frame)
                return
        await super()._send_packet(eio_sid, pkt)

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        """Upstream's dispatch, closing the connection on a packet Node's parser refuses
        (an unknown type, a payload that is not JSON or breaks the payload rules, binary
        data nobody waits for) instead of logging and keeping it."""
        pending = self._binary_packet.get(eio_sid)
        if pending is not None:
            try:
                complete = isinstance(data, bytes) and pending.add_attachment(data)
            except ValueError:
                complete = None
            if complete is None or not isinstance(data, bytes):
                await self._malformed(eio_sid, "unexpected attachment")
                return
            if complete:
                del self._binary_packet[eio_sid]
                if pending.packet_type == sio_packet.BINARY_EVENT:
                    await self._handle_event(eio_sid, pending.namespace, pending.id, pending.data)
                else:
                    await self._handle_ack(eio_sid, pending.namespace, pending.id, pending.data)
            return
        try:
            if not isinstance(data, str):
                raise ValueError("binary data outside an attachment")
            pkt = self.packet_class(encoded_packet=data)
            valid = payload_is_valid(pkt)
        except (ValueError, TypeError, IndexError):
            valid = False
        if not valid:
            await self._malformed(eio_sid, data)
            return
        kind = pkt.packet_type
        if kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind == sio_packet.EVENT:
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind == sio_packet.ACK:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif self.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/"):
            self._binary_packet[eio_sid] = pkt  # BINARY_EVENT or BINARY_ACK: attachments next
        else:
            await self._malformed(eio_sid, "binary packet outside a namespace")

    async def _malformed(self, eio_sid: str, data: Any) -> None:
        shown = data[:80] if isinstance(data, str) else "<binary>"
        self.logger.info("closing %s: malformed Socket.IO packet %r", eio_sid, shown)
        await self._close_engine(eio_sid)


class FastFanout:
    """Mixin for a socketio client manager: local room emits go out as one frame."""

    server: Any
    rooms: dict[str, Any]
    fast_deliveries = 0
    queued_deliveries = 0
    frame_bytes = 0  # bytes of broadcast frames, once per recipient
    slow_disconnects = 0  # clients cut off with more than MAX_CLIENT_BUFFER unread
    room_emit_hooks: list[Callable[[str, str], None]]
    """Called with (namespace, room) when an emit to a room (not to one socket) is
    delivered on this node, ours or another node's (``rooms.live``: a room's cached
    ``room.state`` is stale from then on). Set per manager by whoever needs it."""

    def fast_emit(
        self, event: str, data: list[Any], namespace: str, room: str | None, skip_sid: Any
    ) -> None:
        ns_rooms = self.rooms.get(namespace)
        if ns_rooms is None:
            return
        if isinstance(room, str) or room is None:
            members = ns_rooms.get(room)
            if members is None:
                return
            # A snapshot (a write never runs user code, but a cut-off client's abort may
            # end up leaving rooms before the loop ends). bidict's forward dict where it
            # has one (the locked version), else the mapping itself: sid -> eio sid.
            forward = getattr(members, "_fwdm", members)
            participants: Any = list(forward.items())
        else:
            participants = self.get_participants(namespace, room)
        skip = (
            None if skip_sid is None
            else set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        )  # fmt: skip
        # binary=False: every caller has ruled binary out (upstream's message says so,
        # the others send dicts this server built), no second walk of the payload.
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *data], binary=False
        ).encode()
        frame = text_frame(("4" + encoded).encode())
        eio_pkt: eio_packet.Packet | None = None
        sockets_get = self.server.eio.sockets.get
        fast = queued = 0
        for sid, eio_sid in participants:
            if skip is not None and sid in skip:
                continue
            sock = sockets_get(eio_sid)
            if sock is None or sock.closed:
                continue
            transport = getattr(sock, "transport", None)
            if transport is not None:  # a LiveSocket: written directly, in call order
                # write_frame, inlined (the per-recipient loop of every broadcast)
                if (
                    transport.is_closing()
                    or transport.get_write_buffer_size() > MAX_CLIENT_BUFFER
                ):  # fmt: skip
                    write_frame(transport, frame)  # nothing, or the cut-off
                else:
                    transport.write(frame)
                fast += 1
                continue
            ws = getattr(sock, "live_ws", None)
            writer = ws._writer if ws is not None else None
            if writer is not None and sock.upgraded:  # upgraded from long-polling
                transport = writer.transport
                queue = sock.queue
                # Straight to the socket only when nothing is queued before us and the
                # engine.io writer is parked on its queue (so it holds no packet either).
                if (
                    not queue._queue
                    and queue._getters
                    and not queue._getters[0].done()
                    and not transport.is_closing()
                    and transport.get_write_buffer_size() < SLOW_CLIENT_BUFFER
                ):
                    transport.write(frame)
                    fast += 1
                    continue
            if eio_pkt is None:
                eio_pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
            sock.queue.put_nowait(eio_pkt)
            queued += 1
        FastFanout.fast_deliveries += fast
        FastFanout.queued_deliveries += queued
        FastFanout.frame_bytes += len(frame) * (fast + queued)

    def add_room_emit_hook(self, hook: Callable[[str, str], None]) -> None:
        """Call ``hook(namespace, room)`` whenever an emit to a room is delivered here."""
        hooks = getattr(self, "room_emit_hooks", None)
        if hooks is None:
            hooks = self.room_emit_hooks = []
        hooks.append(hook)

    def _room_emitted(self, namespace: str, room: Any) -> None:
        """Tell the hooks about an emit to a room (not to one socket: every socket is a
        room of its own, holding itself)."""
        hooks = getattr(self, "room_emit_hooks", None)
        if not hooks or not isinstance(room, str):
            return
        members = self.rooms.get(namespace, {}).get(room)
        if members is not None and room in members:
            return  # one socket's own room
        for hook in hooks:
            hook(namespace, room)

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        """Local delivery of an emit (ours or from another node via pub/sub)."""
        namespace = message.get("namespace") or "/"
        self._room_emitted(namespace, message.get("room"))
        callback = message.get("callback")
        if callback is not None or message.get("binary"):
            await super()._handle_emit(message)  # type: ignore[misc]
            return
        data = message["data"]
        if not isinstance(data, list):
            data = [data]
        elif data == [None]:  # upstream sends an event without arguments
            data = []
        self.fast_emit(
            message["event"], data, namespace, message.get("room"), message.get("skip_sid"),
        )  # fmt: skip

    async def emit_local(
        self, event: str, data: Any, namespace: str, room: str | None = None
    ) -> None:
        """Emit to this node's clients only (no pub/sub)."""
        self.fast_emit(event, [data], namespace, room, None)


class FanoutCollector:
    """The fan-out's process-wide counters as Prometheus families (read when scraped, so
    the broadcast loop only adds integers)."""

    def collect(self) -> Iterator[Metric]:
        deliveries = CounterMetricFamily(
            "live_fanout_deliveries",
            "Broadcast deliveries to clients: direct (written at once) or queued (engine.io)",
            labels=["path"],
        )
        deliveries.add_metric(["direct"], FastFanout.fast_deliveries)
        deliveries.add_metric(["queued"], FastFanout.queued_deliveries)
        yield deliveries
        yield CounterMetricFamily(
            "live_fanout_sent_bytes", "Bytes of broadcast frames sent, once per recipient",
            value=FastFanout.frame_bytes,
        )  # fmt: skip
        yield CounterMetricFamily(
            "live_fanout_slow_disconnects",
            "Clients cut off for not reading (more than 4 MiB unread)",
            value=FastFanout.slow_disconnects,
        )
