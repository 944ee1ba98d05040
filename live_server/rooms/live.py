"""The realtime part of rooms: room broadcasts (lifecycle events, announcements) with
offsets and replay, ``room.state`` on join, the viewer count. Redis access is
:class:`~live_server.rooms.store.RoomStore`'s.

Offsets. Every room broadcast is first appended to the room's history stream
(``keys.room_history``, trimmed to ``ROOM_HISTORY_MAXLEN``) and carries the entry id as
``offset``. A viewer that reconnects with ``auth={"token", "offset"}`` gets every later
broadcast again, in order, before live ones; a client ignores an offset it has already
seen (a broadcast racing the hand-off may arrive twice, never out of the window). An
offset older than the window (or unknown) gets a fresh ``room.state`` instead.

Viewer count. Each node counts its own viewers per room in memory and, at most once a
second, writes its count into the room's hash (field = node id, value = count and time)
and sends the room total to its own viewers (local emit, no pub/sub): one HSET and one
HGETALL per room per node per second, however many viewers join.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from redis.exceptions import RedisError

from live_server.core.tasks import cancel_and_wait, cancel_requested
from live_server.core.tokens import Claims, Role
from live_server.core.util import now_ms
from live_server.realtime.server import (
    HOST,
    HOST_BATCH,
    LIVE,
    Realtime,
    batch_channel,
    room_channel,
)
from live_server.rooms.models import Room, RoomStatus
from live_server.rooms.service import RoomService
from live_server.rooms.store import NODE_STALE_MS
from live_server.web.http import NODE_ID

log = logging.getLogger(__name__)

STATE_TTL_S = 0.5
COUNT_VIEWERS_PER_S = 2000
"""``room.viewers`` to a big room goes out at most every (this node's viewers / 2000)
seconds, at least every second (10,000 viewers: every 5 s). Each one is a frame to every
viewer: at 10,000 that is ~100 ms of the worker's loop and as many messages for the
clients, once a second through a whole join storm, and the count of a big room moves
by a fraction of a percent in a second."""
COUNT_QUIET_S = 0.5
COUNT_MAX_DEFER_S = 10.0
"""Nor within COUNT_QUIET_S of a room broadcast (a coupon drop, an announcement), unless
it has waited COUNT_MAX_DEFER_S: for the clients a count to every viewer costs as much as
the broadcast, and one that lands in the same instant doubles the broadcast's tail."""

StateContributor = Callable[[str, Claims], Awaitable[dict[str, Any]]]


class LiveRooms:
    """Room broadcasts with offsets, room.state for joiners, and the viewer count."""

    def __init__(self, rooms: RoomService, realtime: Realtime) -> None:
        self.store = rooms.store
        self.rooms = rooms
        self.rt = realtime
        self.node_id = NODE_ID
        self.local_viewers: dict[str, int] = defaultdict(int)
        self._dirty: set[str] = set()
        self._last_total: dict[str, int] = {}
        # Other domains add parts of room.state (open campaigns, pinned question, ...).
        self.state_contributors: list[StateContributor] = []
        self._task: asyncio.Task[None] | None = None
        self._state_cache: dict[str, tuple[float, asyncio.Future[dict[str, Any]]]] = {}
        self._count_sent_at: dict[str, float] = {}
        self._broadcast_at: dict[str, float] = {}  # room -> last room broadcast seen here
        # Every room emit delivered on this node (ours or another node's) drops the room's
        # cached state: a joiner whose snapshot is still cached after its join missed
        # nothing (see _on_viewer_join). Without the hook, every joiner asks Redis.
        watch = getattr(realtime.sio.manager, "add_room_emit_hook", None)
        self._emits_watched = watch is not None
        if watch is not None:
            watch(self._room_emitted)
        realtime.live.on_join.append(self._on_viewer_join)
        realtime.live.on_leave.append(self._on_viewer_leave)
        realtime.broadcaster = self.broadcast

    # --- broadcasts ----------------------------------------------------------------
    async def broadcast(self, room_id: str, event: str, data: dict[str, Any]) -> str:
        """Send an event to every viewer of the room, recorded in the room's history."""
        data.setdefault("ts", now_ms())
        # The room changed: the next joiner gets a fresh state. (A broadcast made on
        # another node is covered by the replay after the snapshot's offset.)
        self._state_cache.pop(room_id, None)
        offset = await self.store.append_history(room_id, event, data)
        data["offset"] = offset
        await self.rt.sio.emit(event, data, to=room_channel(room_id), namespace=LIVE)
        return offset

    async def move(self, room_id: str, wanted: RoomStatus) -> Room:
        """Start or end the room (:meth:`RoomService.move`), then ``room.started`` /
        ``room.ended`` {room_id, status} to its viewers (recorded, with an offset) and its
        host."""
        room = await self.rooms.move(room_id, wanted)
        event = "room.ended" if wanted is RoomStatus.ENDED else "room.started"
        payload = {"room_id": room.room_id, "status": room.status.value}
        await self.broadcast(room.room_id, event, dict(payload))
        await self.rt.to_host(room.room_id, event, dict(payload))
        return room

    async def announce(self, room_id: str, text: str) -> str:
        """``room.announcement`` {room_id, text} to the viewers of a live room; its offset."""
        await self.rooms.require_live(room_id)
        return await self.broadcast(
            room_id, "room.announcement", {"room_id": room_id, "text": text}
        )

    async def missed_since(
        self, room_id: str, offset: str
    ) -> list[tuple[str, dict[str, Any]]] | None:
        """Broadcasts after ``offset``; None if the offset is outside the window."""
        oldest = await self.store.oldest_offset(room_id)
        if oldest is None:
            return None
        if offset != "0-0" and _id_lt(offset, oldest):  # "0-0": from the very start
            return None
        return await self.store.history_after(room_id, offset)

    # --- joining -------------------------------------------------------------------
    async def room_state(self, room_id: str, claims: Claims) -> dict[str, Any]:
        room = await self.rooms.get(room_id)
        last = await self.store.latest_offset(room_id)
        state: dict[str, Any] = {
            "room_id": room.room_id,
            "title": room.title,
            "status": room.status.value,
            # a scheduled room with a time takes pre-bookings (the widget opens booking)
            "scheduled_at": room.scheduled_at,
            "featured": [f.model_dump() for f in room.featured],
            "campaigns": [],
            "pinned": None,
            "viewers": await self.viewer_count(room_id),
            "offset": last or "0-0",
            "node": self.node_id,
            "ts": now_ms(),
        }
        for contribute in self.state_contributors:
            try:
                state.update(await contribute(room_id, claims))
            except Exception:  # one broken part must not block joining
                log.exception("room.state contributor failed for room %s", room_id)
        return state

    async def shared_state(self, room_id: str, claims: Claims) -> dict[str, Any]:
        """room.state built at most every STATE_TTL_S per room and shared by every joiner
        of that moment (a burst of 1,000 joins costs one build, not 6,000 Redis calls).
        Contributors must therefore not personalise the state."""
        return (await self._snapshot(room_id, claims))[1]

    async def _snapshot(
        self, room_id: str, claims: Claims
    ) -> tuple[tuple[float, asyncio.Future[dict[str, Any]]], dict[str, Any]]:
        """:meth:`shared_state` with its cache entry (which a room emit drops)."""
        now = time.monotonic()
        cached = self._state_cache.get(room_id)
        if cached is not None and cached[0] > now:
            return cached, await cached[1]
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        entry = (now + STATE_TTL_S, future)
        self._state_cache[room_id] = entry
        try:
            future.set_result(await self.room_state(room_id, claims))
        except BaseException as exc:
            if self._state_cache.get(room_id) is entry:
                self._state_cache.pop(room_id, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        return entry, future.result()

    def _room_emitted(self, namespace: str, room: str) -> None:
        """An emit to a room was delivered on this node: its cached state is stale."""
        if namespace == LIVE and room.startswith("room:"):
            room_id = room[len("room:") :]
            self._state_cache.pop(room_id, None)
            if room_id in self._count_sent_at:  # a big room (see _publish_counts)
                self._broadcast_at[room_id] = time.monotonic()

    async def _on_viewer_join(
        self, sio: socketio.AsyncServer, sid: str, claims: Claims, auth: dict[str, Any]
    ) -> None:
        room_id = claims.scope
        if claims.role is Role.VIEWER:
            self.local_viewers[room_id] += 1
            self._dirty.add(room_id)
        offset = auth.get("offset") if isinstance(auth, dict) else None
        missed = None
        if isinstance(offset, str) and offset:
            with contextlib.suppress(ValueError):
                missed = await self.missed_since(room_id, offset)
        if missed is None:
            entry, shared = await self._snapshot(room_id, claims)
            state = dict(shared)
            state["ts"] = now_ms()
            await sio.emit("room.state", state, to=sid, namespace=LIVE)
            if self._emits_watched and self._state_cache.get(room_id) is entry:
                # No room emit reached this node since the snapshot's build began (each
                # drops it from the cache): a broadcast after its offset reaches this
                # node later, and this viewer with it (it joined the room before this
                # hook ran). Nothing to replay, no Redis call for this join.
                missed = []
            else:
                # The snapshot may be up to STATE_TTL_S old: send what was broadcast since.
                missed = await self.missed_since(room_id, state["offset"]) or []
        for event, data in missed:
            await sio.emit(event, data, to=sid, namespace=LIVE)

    async def _on_viewer_leave(self, sio: socketio.AsyncServer, sid: str, claims: Claims) -> None:
        if claims.role is Role.VIEWER:
            self.local_viewers[claims.scope] = max(0, self.local_viewers[claims.scope] - 1)
            self._dirty.add(claims.scope)

    # --- viewer count ---------------------------------------------------------------
    async def viewer_count(self, room_id: str) -> int:
        counts = await self.store.node_counts(room_id)
        now = now_ms()
        total = 0
        for node, value in counts.items():
            count, _, seen = value.partition(b":")
            if node.decode() == self.node_id:
                total += self.local_viewers.get(room_id, 0)
            elif now - int(seen or 0) < NODE_STALE_MS:
                total += int(count)
        if self.node_id.encode() not in counts:
            total += self.local_viewers.get(room_id, 0)
        return total

    async def _publish_counts(self) -> None:
        now = now_ms()
        rooms = [r for r, n in self.local_viewers.items() if n > 0] + list(self._dirty)
        self._dirty.clear()
        for room_id in set(rooms):
            local = self.local_viewers.get(room_id, 0)
            total = await self.store.publish_viewer_count(room_id, self.node_id, local, now)
            if local == 0:
                self.local_viewers.pop(room_id, None)
            if local == 0:
                self._count_sent_at.pop(room_id, None)
                self._broadcast_at.pop(room_id, None)
            if self._last_total.get(room_id) == total:
                continue
            every = local / COUNT_VIEWERS_PER_S  # seconds; this loop runs every second
            sent_at = self._count_sent_at.get(room_id)
            clock = time.monotonic()
            if every > 1.0 and sent_at is not None:
                if clock - sent_at < every - 0.1:
                    continue  # a big room: this change goes out with a later pass
                recent = clock - self._broadcast_at.get(room_id, 0.0) < COUNT_QUIET_S
                if recent and clock - sent_at < COUNT_MAX_DEFER_S:
                    continue  # not on top of a broadcast: with the next quiet pass
            self._count_sent_at[room_id] = clock
            self._last_total[room_id] = total
            payload = {"room_id": room_id, "viewers": total, "ts": now}
            # Local only: every node tells its own viewers; no pub/sub storm.
            for namespace in (LIVE, HOST):
                await self.rt.sio.manager.emit_local(
                    "room.viewers", payload, namespace=namespace, room=room_channel(room_id)
                )
            batch = {"room_id": room_id, "events": [{"event": "room.viewers", "data": payload}],
                     "ts": now}  # fmt: skip
            await self.rt.sio.manager.emit_local(
                HOST_BATCH, batch, namespace=HOST, room=batch_channel(room_id)
            )

    async def _count_loop(self) -> None:
        while not cancel_requested():  # a cancel swallowed by redis-py still stops it
            await asyncio.sleep(1.0)
            try:
                await self._publish_counts()
            except RedisError as exc:
                log.debug("viewer count publish failed: %s", exc)
            except Exception:
                log.exception("viewer count loop error")

    async def start(self) -> None:
        self._task = asyncio.create_task(self._count_loop(), name="viewer-count")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        # Leave the count: this node no longer holds viewers.
        with contextlib.suppress(RedisError, OSError):
            for room_id in list(self.local_viewers):
                await self.store.forget_node(room_id, self.node_id)


def _id_lt(a: str, b: str) -> bool:
    ams, _, aseq = a.partition("-")
    bms, _, bseq = b.partition("-")
    return (int(ams), int(aseq or 0)) < (int(bms), int(bseq or 0))
