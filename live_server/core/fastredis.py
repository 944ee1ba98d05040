"""An auto-pipelining Redis connection for the flash-crowd hot path (coupon claims).

Why not redis-py for this one call: its asyncio client spends ~100-300 µs of CPU per
command (pool checkout, per-connection lock, one ``write`` and one ``read`` syscall per
command) and a flash of 256 concurrent claims needs 256 pooled connections, each a
separate client that Redis must serve. Here every command of the process goes down ONE
connection: commands issued in the same event-loop tick are written with one ``write``,
replies are parsed by hiredis as they arrive and matched to callers in order (Redis
answers in order on a connection). This is the "auto-pipelining" of ioredis and Lettuce;
nothing is batched by waiting: a lone command is written at the end of the current tick.

Scope, on purpose small: commands and Lua scripts (``EVALSHA``, reloading on
``NOSCRIPT``) against ONE node over TCP or a Unix socket, with a password/username and a
db from the URL. No pub/sub, no blocking commands (they would stall everyone behind them),
no transactions, no cluster, no TLS: :func:`connect_fast` returns None for those and the
caller keeps redis-py.

Errors are redis-py's exception classes, so the HTTP layer maps them as everywhere else:
an unreachable or dead connection -> ``ConnectionError`` (503), no reply within the
timeout -> ``TimeoutError`` (503; the connection is dropped because a late reply would
desynchronise the order), a script error -> ``ResponseError``.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = str | bytes | int | float


def _encode(args: tuple[Arg, ...]) -> bytes:
    """One RESP array of bulk strings (hiredis' C packer: str, bytes, int, float)."""
    # hiredis' stub types ``cmd`` as a 1-tuple and leaves the result (bytes) unannotated.
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]  # stub: 1-tuple
    return packed


class _Protocol(asyncio.Protocol):
    """The connection: writes coalesced per tick, replies matched FIFO, one watchdog timer
    (not one timer per command) failing the connection when the oldest reply is late."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=ResponseError, notEnoughData=False)
        # (caller's future or None: nobody waits, when queued, the frame and the SCRIPT LOAD
        # frame of an EVALSHA (else None, None)); the head is the oldest.
        self.waiting: collections.deque[
            tuple[asyncio.Future[Any] | None, float, bytes | None, bytes | None]
        ] = collections.deque()
        self.outbox: list[bytes] = []
        self.flush_scheduled = False
        self.watchdog: asyncio.TimerHandle | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance check.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, frame: bytes, reload: bytes | None = None) -> asyncio.Future[Any]:
        """Queue one command; its future gets the reply. ``reload``: for an ``EVALSHA``, the
        ``SCRIPT LOAD`` frame sent (then the command again, same future) on ``NOSCRIPT``."""
        future: asyncio.Future[Any] = self.loop.create_future()
        if self.lost is not None:
            future.set_exception(self.lost)
            return future
        self._queue(future, frame, reload)
        return future

    def _queue(
        self, future: asyncio.Future[Any] | None, frame: bytes, reload: bytes | None
    ) -> None:
        self.waiting.append(
            (future, self.loop.time(), frame if reload is not None else None, reload)
        )
        self.outbox.append(frame)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)
        if self.watchdog is None:
            self.watchdog = self.loop.call_later(self.timeout, self._check_late)

    def _flush(self) -> None:
        self.flush_scheduled = False
        if self.transport is None or self.lost is not None:
            return
        frames, self.outbox = self.outbox, []
        self.transport.write(b"".join(frames))

    def _check_late(self) -> None:
        self.watchdog = None
        if not self.waiting or self.lost is not None:
            return
        head, queued_at, _, _ = self.waiting[0]
        late_at = queued_at + self.timeout
        if self.loop.time() < late_at:
            self.watchdog = self.loop.call_at(late_at, self._check_late)
            return
        # Replies are matched by order: one that never came would shift every later reply
        # onto the wrong caller. Fail them all and drop the connection; the next command
        # reconnects.
        if head is not None and not head.done():
            head.set_exception(RedisTimeoutError(f"no reply from Redis within {self.timeout}s"))
        self._fail(RedisConnectionError("connection dropped after a Redis timeout"))
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(RedisConnectionError(f"protocol error from Redis: {exc}"))
                if self.transport is not None:
                    self.transport.abort()
                return
            if reply is False:
                return
            if not self.waiting:  # a reply nobody asked for: the stream is out of step
                self._fail(RedisConnectionError("unexpected reply from Redis"))
                if self.transport is not None:
                    self.transport.abort()
                return
            future, _, frame, reload = self.waiting.popleft()
            if future is None or future.done():  # nobody waits / its caller went away
                continue
            if isinstance(reply, ResponseError):
                message = str(reply)
                if not message.startswith("NOSCRIPT"):
                    future.set_exception(reply)
                elif reload is None or frame is None:
                    future.set_exception(NoScriptError(message))
                else:  # a restarted or flushed Redis: load the script, run it again (once)
                    self._queue(None, reload, None)
                    self._queue(future, frame, None)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def _fail(self, error: Exception) -> None:
        if self.lost is None:
            self.lost = error
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        while self.waiting:
            future, _, _, _ = self.waiting.popleft()
            if future is not None and not future.done():
                future.set_exception(error)
        self.outbox.clear()


class FastRedis:
    """One auto-pipelined connection to one Redis node; reconnects on the next command
    after a failure. Safe to share by every task of one event loop."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        path: str | None = None,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        timeout: float = 2.0,
    ) -> None:
        self.host, self.port, self.path = host, port, path
        self.username, self.password, self.db = username, password, db
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._scripts: dict[str, FastScript] = {}

    def script(self, source: str) -> FastScript:
        """The :class:`FastScript` of this source on this connection (made once)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = FastScript(self, source)
        return found

    async def _connection(self) -> _Protocol:
        if self._connecting is None:  # one connect at a time; the others wait for it
            self._connecting = asyncio.ensure_future(self._connect())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done():
                self._connecting = None

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()

        def factory() -> _Protocol:
            return _Protocol(loop, self.timeout)

        try:
            async with asyncio.timeout(self.timeout):
                if self.path:
                    _, protocol = await loop.create_unix_connection(factory, self.path)
                else:
                    _, protocol = await loop.create_connection(factory, self.host, self.port)
                if self.password:
                    auth = [self.username, self.password] if self.username else [self.password]
                    await protocol.send(_encode(("AUTH", *auth)))
                if self.db:
                    await protocol.send(_encode(("SELECT", self.db)))
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis: {exc}") from exc
        self._protocol = protocol
        return protocol

    def execute(self, *args: Arg) -> asyncio.Future[Any]:
        """Send one command; await its reply (bytes, int, list, None) or redis-py's errors.

        On a live connection the command is queued at once (no coroutine, no timer), so
        several calls before one ``await`` go out together, in call order. While
        (re)connecting, each call is a task; tasks waiting on one connect resume in the
        order they were created, which keeps the call order too."""
        return self._send(_encode(args), None)

    def _send(self, frame: bytes, reload: bytes | None) -> asyncio.Future[Any]:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol.send(frame, reload)
        return asyncio.ensure_future(self._send_connecting(frame, reload))

    async def _send_connecting(self, frame: bytes, reload: bytes | None) -> Any:
        protocol = await self._connection()
        return await protocol.send(frame, reload)

    async def aclose(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
            protocol._fail(RedisConnectionError("client closed"))


class FastScript:
    """A Lua script run with ``EVALSHA`` on a :class:`FastRedis`. On ``NOSCRIPT`` (a
    restarted or flushed Redis) the connection itself loads it and runs the call again,
    so a call is one future, not a coroutine wrapped around one."""

    def __init__(self, client: FastRedis, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._load = _encode(("SCRIPT", "LOAD", source))

    def __call__(self, keys: list[str], args: list[Arg]) -> asyncio.Future[Any]:
        """Queue the call now (so calls made before one ``await`` leave together); await
        the script's reply."""
        return self.client._send(
            _encode(("EVALSHA", self.sha, len(keys), *keys, *args)), self._load
        )


def connect_fast(url: str, timeout: float) -> FastRedis | None:
    """A :class:`FastRedis` for a ``redis://`` or ``unix://`` URL (connections open on the
    first command), or None for what it does not speak (TLS ``rediss://``, other schemes)."""
    parts = urlsplit(url)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if parts.scheme == "redis":
        db = int(parts.path.strip("/") or 0)
        return FastRedis(
            parts.hostname or "127.0.0.1", parts.port or 6379,
            username=username, password=password, db=db, timeout=timeout,
        )  # fmt: skip
    if parts.scheme == "unix":
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        return FastRedis(
            path=parts.path, username=username, password=password,
            db=int(query.get("db", 0)), timeout=timeout,
        )  # fmt: skip
    return None
