"""The bus between workers and nodes: Socket.IO's Redis manager, with local delivery by
:class:`~live_server.realtime.fanout.FastFanout` (``cluster_bus`` follows a Redis Cluster)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable
from typing import Any

import socketio
from redis.exceptions import RedisError

from live_server.core.fastredis import FastRedis
from live_server.realtime.fanout import FastFanout


class LiveRedisManager(FastFanout, socketio.AsyncRedisManager):  # type: ignore[misc]
    """Socket.IO's Redis manager with one client for its lifetime and a real close.

    Local delivery uses :class:`~live_server.realtime.fanout.FastFanout` (one frame per broadcast,
    no task per recipient). Upstream builds a new Redis client on every (re)connect, so a
    publish that runs before the listener starts leaks a client; here the client is built
    once (its pool reconnects on its own) and :meth:`close` stops the listener and closes it.
    """

    fast: FastRedis | None = None
    """Set by the app (single node): publishes go down its auto-pipelined connection
    instead of a pooled redis-py connection each (a booking's host event, every room
    broadcast). The listener keeps redis-py's pub/sub connection."""
    peers = 0
    """Other listeners of the bus channel (other workers and nodes) at the last publish:
    PUBLISH answers how many received it, this node's listener included."""
    parallel: bool | None = None
    """Whether this process may run beside the others (more than one CPU in its affinity);
    None until first needed."""

    def _redis_connect(self) -> None:
        if self.redis is None:
            super()._redis_connect()
            return
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True

    async def _publish(self, data: Any) -> Any:
        fast = self.fast
        if fast is None:
            received = await super()._publish(data)
            if isinstance(received, int):
                self.peers = max(0, received - 1)
            return received
        message = self.json.dumps(data)
        for attempt in (1, 2):  # as upstream: two attempts, then log and give up
            try:
                received = await fast.execute("PUBLISH", self.channel, message)
                if isinstance(received, int):
                    self.peers = max(0, received - 1)
                return received
            except RedisError as exc:
                self._get_logger().error(
                    "Cannot publish to redis... %s", "retrying" if attempt == 1 else "giving up",
                    extra={"redis_exception": str(exc)},
                )  # fmt: skip
        return None

    async def emit(
        self, event: str, data: Any, namespace: str | None = None, room: str | None = None,
        skip_sid: Any = None, callback: Any = None, to: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        """An emit to one socket of this node (``room.state`` on join) is delivered here
        and not published: upstream publishes every emit, so 250 simultaneous joins made
        250 publishes for the other nodes to ignore (and ran the pool out of connections)."""
        target = to or room
        namespace = namespace or "/"
        # Every socket is a room of its own: {sid: eio_sid} (also while it is connecting).
        members = self.rooms.get(namespace, {}).get(target) if isinstance(target, str) else None
        if members is not None and target in members and callback is None:
            # As upstream: a tuple is the arguments, None is no argument. Binary is looked
            # for in the arguments (a tuple of bytes is binary too).
            args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
            if not kwargs.get("ignore_queue") and not self.server.packet_class.data_is_binary(args):
                self.fast_emit(event, args, namespace, target, skip_sid)
                return
        if callback is None and not kwargs.get("ignore_queue"):
            # Upstream's message (a tuple is the arguments, anything else one argument)...
            args = list(data) if isinstance(data, tuple) else [data]
            if not self.server.packet_class.data_is_binary(args):
                await self._deliver({
                    "method": "emit", "event": event, "data": args, "binary": False,
                    "namespace": namespace, "room": target, "skip_sid": skip_sid,
                    "callback": None, "host_id": self.host_id,
                })  # fmt: skip
                return
        await super().emit(event, data, namespace=namespace, room=target, skip_sid=skip_sid,
                           callback=callback, **kwargs)  # fmt: skip

    async def _deliver(self, message: dict[str, Any]) -> None:
        """...delivered here and published to the other nodes. Upstream delivers first:
        the other workers' viewers then wait for this worker's whole write loop (5,000
        sockets: ~50 ms) before the publish even leaves. With other listeners on the
        channel and CPUs to run beside them, the publish goes first (one round trip to
        Redis) so their fan-out runs beside ours. Alone on the channel (one worker), or
        pinned to one CPU with the others (bench/fanout: both workers on CPU 0, where
        publishing first measured worse: 18.4 against 13.3 µs per message, p99 825
        against 514 ms), ours goes first, as upstream."""
        if self.parallel is None:
            affinity = getattr(os, "sched_getaffinity", None)  # Linux; else all CPUs
            cpus = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
            self.parallel = cpus > 1
        if self.peers and self.parallel:
            await self._publish(message)
            await self._handle_emit(message)
        else:
            await self._handle_emit(message)
            await self._publish(message)

    def _json_message(
        self, event: str, data: dict[str, Any], namespace: str, room: str
    ) -> dict[str, Any]:
        """The pub/sub message upstream's emit builds for a JSON payload to a room."""
        return {
            "method": "emit", "event": event, "data": [data], "binary": False,
            "namespace": namespace, "room": room, "skip_sid": None, "callback": None,
            "host_id": self.host_id,
        }  # fmt: skip

    async def emit_json(self, event: str, data: dict[str, Any], namespace: str, room: str) -> None:
        """A broadcast of a dict this server built (JSON values only, never bytes) to a
        room: upstream's emit without its walk of the payload looking for binary
        attachments (a booking's host event: ~30 values, 2% of a booking's CPU). The
        message is the one upstream publishes, so every node handles it the same way."""
        await self._deliver(self._json_message(event, data, namespace, room))

    def emit_json_now(
        self, event: str, data: dict[str, Any], namespace: str, room: str
    ) -> Awaitable[Any] | None:
        """:meth:`emit_json` done now: this node's sockets get it at once and the publish
        is queued on the pipelined connection (it leaves with this tick's other commands);
        await the result for the publish's outcome (one attempt). None without that
        connection: use :meth:`emit_json`."""
        fast = self.fast
        if fast is None:
            return None
        message = self._json_message(event, data, namespace, room)
        self.fast_emit(event, [data], namespace, room, None)
        return fast.execute("PUBLISH", self.channel, self.json.dumps(message))

    async def close(self) -> None:
        listener = getattr(self, "thread", None)
        if isinstance(listener, asyncio.Future):
            # Bounded: upstream's listener may swallow a cancel while it unsubscribes on a
            # connection that is going away; closing the connections below ends it.
            listener.cancel()
            await asyncio.wait([listener], timeout=1.0)
        for conn in (self.pubsub, self.redis):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.aclose(), timeout=2.0)
        if isinstance(listener, asyncio.Future) and not listener.done():
            listener.cancel()
            await asyncio.wait([listener], timeout=1.0)
