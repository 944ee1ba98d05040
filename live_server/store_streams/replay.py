"""The ``/store`` channel: every entry of a store's stream, live, each with its ``id``;
replay from ``last_id`` (or the token's last ack) before live ones, nothing missed,
nothing twice.

How the hand-off works (per worker process):

* One **tail** per store with staff connected to this worker: a task that ``XREAD
  BLOCK``s the store's stream from ``tail.emitted`` (the last id it has handed out) and,
  for each entry, synchronously puts it in the outbound queue of every *joined*
  connection and advances ``tail.emitted``. Live delivery thus comes from the stream
  itself, in id order, with no pub/sub and no dependence on writers emitting.
* Each **connection** runs one task: it replays ``XRANGE (cursor .. tail.emitted``
  straight to its socket, in batches, until its cursor has caught up with
  ``tail.emitted``; then, with no ``await`` between the check and the join, it joins
  the tail (``members[sid] = queue``) and from there on pumps its queue.

Because the tail's "hand to members + advance emitted" step and the connection's
"caught up? join" step are both free of awaits, they are atomic relative to each other
in the event loop: every entry with id <= ``emitted`` at join time was handed out
before the join (the replay covered it), every later one is handed to the connection's
queue. A per-member cursor also drops any entry at or below what the connection has
already been sent. One task per connection writes to its socket, so the socket sees
replay, then ``store.synced``, then live entries, in id order.

Acks: ``emit("ack", {"id": ...})`` stores the id per token in ``keys.store_acked``
(monotonic, Lua). A connection may ack only ids it has been sent. Where a connection
starts and the ack itself are the service's rules; the stream reads go through the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import socketio

from live_server.core.errors import BadRequest
from live_server.core.tasks import cancel_and_wait, cancel_requested
from live_server.core.tokens import Claims, Role
from live_server.core.util import now_ms
from live_server.realtime.server import STORE, StoreNamespace
from live_server.store_streams.events import decode_entry, for_guide
from live_server.store_streams.ids import ZERO, InvalidStreamId, StreamId
from live_server.store_streams.service import StoreStreamService
from live_server.store_streams.store import StreamStore

log = logging.getLogger(__name__)

REPLAY_BATCH = 200
TAIL_BLOCK_MS = 2000
CONNECT_WAIT_S = 5.0
SYNCED = "store.synced"
BATCH = "store.batch"
ERROR = "store.error"


@dataclass(eq=False)
class StoreConnection:
    """One staff socket on /store: where it is in the stream, and what it was sent."""

    sid: str
    store_id: str
    token_id: str
    guide_id: str | None = None  # a guide's token: its own tasks' events only
    batch: bool = False  # auth={..., batch: true}: entries ready together go as one store.batch
    cursor: StreamId = ZERO  # highest id queued or sent to this socket
    sent: StreamId = ZERO  # highest id actually emitted (the bound for acks)
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class StoreTail:
    """This worker's reader of one store's stream."""

    store_id: str
    emitted: StreamId = ZERO
    members: dict[str, StoreConnection] = field(default_factory=dict)
    users: int = 0  # connections replaying or joined
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def hand_out(self, entry_id: StreamId, event: dict[str, Any]) -> None:
        """Queue one entry for every joined connection and advance ``emitted``.

        Synchronous on purpose: see the module docstring."""
        for conn in self.members.values():
            if entry_id > conn.cursor:
                conn.queue.put_nowait(event)
                conn.cursor = entry_id
        self.emitted = entry_id


class StoreFeed:
    """Live store streams with replay for the /store namespace (one per worker)."""

    def __init__(
        self,
        store: StreamStore,
        service: StoreStreamService,
        sio: socketio.AsyncServer,
        *,
        block_ms: int = TAIL_BLOCK_MS,
        batch: int = REPLAY_BATCH,
    ) -> None:
        self.store = store  # its blocking client (long socket timeout) serves the tails
        self.service = service
        self.sio = sio
        self.block_ms = block_ms
        self.batch = batch
        self.tails: dict[str, StoreTail] = {}
        self.connections: dict[str, StoreConnection] = {}

    def install(self, namespace: StoreNamespace) -> None:
        """Add the join/leave hooks and the ``ack`` handler to the /store namespace."""
        namespace.on_join.append(self.on_join)
        namespace.on_leave.append(self.on_leave)
        namespace.handlers["ack"] = self.on_ack

    async def close(self) -> None:
        tasks = [c.task for c in self.connections.values() if c.task]
        tasks += [t.task for t in self.tails.values() if t.task]
        for task in tasks:
            task.cancel()
        for task in tasks:
            await cancel_and_wait(task)
        self.connections.clear()
        self.tails.clear()

    # --- connection lifecycle ----------------------------------------------------------

    async def on_join(
        self, server: socketio.AsyncServer, sid: str, claims: Claims, auth: Any
    ) -> None:
        auth = auth if isinstance(auth, dict) else {}
        store_id = claims.scope
        if claims.role is Role.OPS:
            # Ops may watch any one store by naming it.
            store_id = str(auth.get("store") or "")
            if not store_id:
                raise BadRequest("an ops token on /store must name the store: auth={token, store}")
        start = await self.service.start_point(store_id, claims.token_id, auth.get("last_id"))
        conn = StoreConnection(
            sid=sid, store_id=store_id, token_id=claims.token_id, guide_id=claims.guide_id,
            batch=auth.get("batch") is True,
        )  # fmt: skip
        self.connections[sid] = conn
        tail = self._tail(store_id)
        tail.users += 1
        conn.task = asyncio.create_task(self._serve(conn, tail, start), name=f"store-conn:{sid}")

    async def on_leave(self, server: socketio.AsyncServer, sid: str, claims: Claims) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        if conn.task is not None and conn.task is not asyncio.current_task():
            conn.task.cancel()
        tail = self.tails.get(conn.store_id)
        if tail is None:
            return
        tail.members.pop(sid, None)
        tail.users -= 1
        if tail.users <= 0:
            # Nobody on this worker watches the store: stop reading it.
            self.tails.pop(conn.store_id, None)
            if tail.task is not None:
                tail.task.cancel()

    def _tail(self, store_id: str) -> StoreTail:
        tail = self.tails.get(store_id)
        if tail is None:
            tail = StoreTail(store_id)
            self.tails[store_id] = tail
            tail.task = asyncio.create_task(self._run_tail(tail), name=f"store-tail:{store_id}")
        return tail

    # --- per connection: replay, then live ---------------------------------------------

    async def _serve(self, conn: StoreConnection, tail: StoreTail, start: StreamId | None) -> None:
        try:
            await asyncio.wait_for(tail.ready.wait(), CONNECT_WAIT_S)
            await self._wait_connected(conn.sid)
            cursor = start if start is not None else tail.emitted
            replayed = 0
            while True:
                target = tail.emitted
                if cursor >= target:
                    # Caught up, and no await since reading tail.emitted: join now.
                    conn.cursor = cursor
                    conn.queue.put_nowait(
                        {"_event": SYNCED, "last_id": str(cursor), "replayed": replayed,
                         "ts": now_ms()}
                    )  # fmt: skip
                    tail.members[conn.sid] = conn
                    break
                batch = await self.store.read_range(conn.store_id, cursor, target, self.batch)
                if not batch:  # trimmed or deleted in between: nothing left up to target
                    cursor = target
                    continue
                await self._send_all(conn, [decode_entry(i, f) for i, f in batch])
                cursor = StreamId.parse(batch[-1][0])
                replayed += len(batch)
            while True:
                events = [await conn.queue.get()]
                while conn.batch and not conn.queue.empty() and len(events) < self.batch:
                    events.append(conn.queue.get_nowait())
                await self._send_all(conn, events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("store feed for %s (store %s) failed", conn.sid, conn.store_id)
            with contextlib.suppress(Exception):
                await self.sio.emit(
                    ERROR, {"detail": f"the store feed failed: {type(exc).__name__}; reconnect",
                            "ts": now_ms()},
                    to=conn.sid, namespace=STORE, ignore_queue=True,
                )  # fmt: skip
                await self.sio.disconnect(conn.sid, namespace=STORE, ignore_queue=True)

    async def _send_all(self, conn: StoreConnection, events: list[dict[str, Any]]) -> None:
        """Send entries in order: one by one, or as one ``store.batch`` where the connection
        asked for batches (``store.synced`` always on its own, after what precedes it)."""
        out: list[tuple[str, dict[str, Any]]] = []
        for event in events:
            name = event.get("_event")
            if name is not None:
                payload = {k: v for k, v in event.items() if k != "_event"}
            else:
                if conn.guide_id is not None and not for_guide(event, conn.guide_id):
                    continue
                name, payload = event["type"], event
            out.append((name, payload))
        while out:
            if conn.batch and out[0][0] != SYNCED:
                run = [out.pop(0)]
                while out and out[0][0] != SYNCED:
                    run.append(out.pop(0))
                if len(run) > 1:
                    batch = {"events": [{"event": n, "data": p} for n, p in run], "ts": now_ms()}
                    await self.sio.emit(
                        BATCH, batch, to=conn.sid, namespace=STORE, ignore_queue=True
                    )
                    for _name, payload in run:
                        self._sent(conn, _name, payload)
                    continue
                name, payload = run[0]
            else:
                name, payload = out.pop(0)
            await self.sio.emit(name, payload, to=conn.sid, namespace=STORE, ignore_queue=True)
            self._sent(conn, name, payload)

    @staticmethod
    def _sent(conn: StoreConnection, name: str, payload: dict[str, Any]) -> None:
        if "id" in payload and name != SYNCED:
            conn.sent = StreamId.parse(payload["id"])
        elif name == SYNCED:
            conn.sent = max(conn.sent, StreamId.parse(payload["last_id"]))

    async def _wait_connected(self, sid: str) -> None:
        """The hook runs inside the connect handler, before Socket.IO has sent CONNECT;
        wait (bounded) until it has, so the first replayed entry follows it."""
        manager = self.sio.manager
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONNECT_WAIT_S
        while not manager.is_connected(sid, STORE):
            if loop.time() > deadline:
                raise TimeoutError(f"{sid} never finished connecting")
            await asyncio.sleep(0.002)

    # --- per store: the tail -----------------------------------------------------------

    async def _run_tail(self, tail: StoreTail) -> None:
        backoff = 0.1
        while not cancel_requested():
            try:
                if not tail.ready.is_set():
                    tail.emitted = await self.store.last_id(tail.store_id)
                    tail.ready.set()
                found = await self.store.wait_after(
                    tail.store_id, tail.emitted, self.batch, self.block_ms
                )
                for entry_id, fields in found:
                    tail.hand_out(StreamId.parse(entry_id), decode_entry(entry_id, fields))
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                if cancel_requested():  # the cancel came back as an error: stop, not retry
                    break
                log.warning("store tail %s: read failed; retrying", tail.store_id, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    # --- acks ------------------------------------------------------------------------

    async def on_ack(self, sid: str, claims: Claims, data: Any) -> dict[str, Any]:
        """Client event ``ack`` ``{"id": "<stream id>"}`` (or the id alone)."""
        conn = self.connections.get(sid)
        if conn is None:
            return {"error": "not connected to a store"}
        raw = data.get("id") if isinstance(data, dict) else data
        try:
            wanted = StreamId.parse(str(raw))
        except InvalidStreamId as exc:
            return {"error": str(exc)}
        if wanted > conn.sent:
            return {"error": f"{wanted} was not sent to this connection (last sent {conn.sent})"}
        return {"acked": await self.service.ack(conn.store_id, conn.token_id, wanted)}
