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
that starts with long-polling and upgrades keeps engine.io's stock machinery.

Backpressure: the stock writer awaited ``drain`` and let the queue grow without bound; a
socket written directly buffers in its transport instead, and a client that stops reading
until ``MAX_CLIENT_BUFFER`` is pending is cut off (it reconnects and recovers by offset).

Compression is decided on purpose: permessage-deflate is NOT negotiated. Our events are
small JSON (~150 bytes) where deflate saves little, and its per-connection zlib state
costs ~60 KB of memory per viewer plus CPU per recipient on every broadcast.

Internals this relies on, all pinned by tests (tests/live_server/test_fanout.py):
engine.io's ``AsyncServer._handle_connect`` (re-implemented to build a LiveSocket),
``AsyncSocket.queue`` (an ``asyncio.Queue`` with ``_getters``), and the aiohttp driver's
``WebSocket`` class, which we subclass.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import struct
import time
from collections.abc import Iterator
from typing import Any

import engineio
import socketio
from aiohttp import WSMsgType
from aiohttp.web import WebSocketResponse
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket
from prometheus_client.core import CounterMetricFamily, Metric
from socketio import packet as sio_packet

log = logging.getLogger(__name__)

SLOW_CLIENT_BUFFER = 256 * 1024
# A direct-write client with this much unread is not reading: cut it off (it reconnects
# and recovers from its offset) rather than buffer without bound.
MAX_CLIENT_BUFFER = 4 * 1024 * 1024


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


def write_frame(transport: asyncio.Transport, frame: bytes) -> bool:
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
        await self._sock.prepare(request)
        self.environ = environ
        self.transport = request.transport
        owner = getattr(self.handler, "__self__", None)  # the engine.io AsyncSocket
        if owner is not None:
            owner.live_ws = self._sock
        try:
            await self.handler(self)
        finally:
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

    transport: asyncio.Transport | None = None
    live_ws: WebSocketResponse | None = None
    _ping_handle: asyncio.TimerHandle | None = None
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
        if self.last_ping:
            self.last_ping = None
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
        if not self.closed and not self.closing:
            LiveSocket.closes += 1
        await super().close(wait=wait, abort=abort, reason=reason)

    async def _websocket_handler(self, ws: LiveWebSocket) -> None:
        if self.connected or ws.transport is None:  # an upgrade from long-polling
            await super()._websocket_handler(ws)
            return
        self.connected = True
        self.upgraded = True
        transport = ws.transport
        self._flush_queue(transport)
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
                    await self.receive(eio_packet.Packet(encoded_packet=data))
                except eio_exceptions.UnknownPacketError:
                    pass
                except eio_exceptions.SocketIsClosedError:
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._async = {**self._async, "websocket": LiveWebSocket}
        self.gc_pacer = GcPacer(self)

    async def shutdown(self) -> None:
        await self.gc_pacer.stop()
        await super().shutdown()

    async def _handle_connect(
        self, environ: dict[str, Any], transport: str, jsonp_index: int | None = None
    ) -> Any:
        """Upstream's ``_handle_connect`` (engine.io 4.x) with a LiveSocket, and a websocket
        opened straight away run without the upgrade detour's extra frames."""
        if transport != "websocket":  # long-polling first: upstream's sockets, as they are
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
        response = await LiveWebSocket(s._websocket_handler, self)(environ)
        if s.closed and sid in self.sockets:  # websocket connection ended, so we are done
            del self.sockets[sid]
        return response

    def _open_packet(self, sid: str, transport: str) -> eio_packet.Packet:
        return eio_packet.Packet(eio_packet.OPEN, {
            "sid": sid,
            "upgrades": self._upgrades(sid, transport),
            "pingTimeout": int(self.ping_timeout * 1000),
            "pingInterval": int(self.ping_interval + self.ping_interval_grace_period) * 1000,
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


class LiveSocketIO(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on :class:`LiveEngineIO`."""

    def _engineio_server_class(self) -> type[LiveEngineIO]:
        return LiveEngineIO


class FastFanout:
    """Mixin for a socketio client manager: local room emits go out as one frame."""

    server: Any
    rooms: dict[str, Any]
    fast_deliveries = 0
    queued_deliveries = 0
    frame_bytes = 0  # bytes of broadcast frames, once per recipient
    slow_disconnects = 0  # clients cut off with more than MAX_CLIENT_BUFFER unread

    def fast_emit(
        self, event: str, data: list[Any], namespace: str, room: str | None, skip_sid: Any
    ) -> None:
        if namespace not in self.rooms:
            return
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *data]
        ).encode()
        frame = text_frame(("4" + encoded).encode())
        eio_pkt: eio_packet.Packet | None = None
        sockets_get = self.server.eio.sockets.get
        fast = queued = 0
        for sid, eio_sid in self.get_participants(namespace, room):  # type: ignore[attr-defined]
            if sid in skip:
                continue
            sock = sockets_get(eio_sid)
            if sock is None or sock.closed:
                continue
            transport = getattr(sock, "transport", None)
            if transport is not None:  # a LiveSocket: written directly, in call order
                write_frame(transport, frame)
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

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        """Local delivery of an emit (ours or from another node via pub/sub)."""
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
            message["event"], data, message.get("namespace") or "/",
            message.get("room"), message.get("skip_sid"),
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
