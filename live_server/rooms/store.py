"""Redis access of rooms: the room record and its lifecycle script, viewer identities, the
room's broadcast history (offsets) and the per-node viewer counts (viewer_count.lua).

Each script's KEYS and ARGV are built, and its reply read, in the one method that runs it:
:meth:`RoomStore.transition` (transition.lua), :meth:`RoomStore.publish_viewer_count`
(viewer_count.lua).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import msgpack
import orjson

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import Fields, entries, raw, raw_hash, raw_or_none
from live_server.core.scripts import Script
from live_server.core.util import optional_text, parse_time_ms
from live_server.rooms.models import CreateRoom, FeaturedItem, Room, RoomStatus

TRANSITION = Script(__file__, "transition.lua")
VIEWER_COUNT = Script(__file__, "viewer_count.lua")
CLEAR_LIVE = Script(__file__, "clear_live.lua")

NODE_STALE_MS = 5_000
"""A node's viewer count stops counting this long after its last write."""
VIEWERS_TTL_MS = 60_000
"""The per-node viewer counts hash expires this long after the last write of any node."""

_STAMP_FIELD = {RoomStatus.LIVE: "started_at", RoomStatus.ENDED: "ended_at"}
"""The record's field stamped when the room moves to a status."""


class TransitionOutcome(IntEnum):
    """transition.lua's answer (its reply's first value)."""

    MISSING = -1  # no such room
    REFUSED = 0  # the room's status does not allow the move
    MOVED = 1
    UNCHANGED = 2  # the room already has the wanted status


@dataclass(frozen=True, slots=True)
class Transition:
    outcome: TransitionOutcome
    current: RoomStatus | None  # the status before the call (None: no such room)


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RoomStore:
    """Reads and writes of the rooms domain (no rules, no events)."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._transition = TRANSITION.bind(redis)
        self._viewer_count = VIEWER_COUNT.bind(redis)
        self._clear_store_room = CLEAR_LIVE.bind(redis)

    # --- the room record -----------------------------------------------------------------
    async def create(self, room_id: str, spec: CreateRoom) -> None:
        fields: Fields = {
            "title": spec.title,
            "brand": spec.brand,
            "status": RoomStatus.SCHEDULED.value,
            "featured": msgpack.packb([f.model_dump() for f in spec.featured]),
            "created_at": iso_now(),
        }
        if spec.store_id is not None:
            fields["store"] = spec.store_id
        if spec.scheduled_at is not None:
            fields["scheduled_at"] = parse_time_ms(spec.scheduled_at)
        await self.redis.hset(keys.room(room_id), mapping=fields)
        await self.redis.zadd(keys.ROOMS, {room_id: datetime.now(UTC).timestamp()})

    async def get(self, room_id: str) -> Room | None:
        fields = raw_hash(await self.redis.hgetall(keys.room(room_id)))
        if not fields:
            return None
        return Room(
            room_id=room_id,
            title=fields[b"title"].decode(),
            brand=fields.get(b"brand", b"default").decode(),
            store_id=optional_text(fields.get(b"store")),
            status=RoomStatus(fields[b"status"].decode()),
            featured=[FeaturedItem(**f) for f in msgpack.unpackb(fields.get(b"featured", b"\x90"))],
            created_at=fields[b"created_at"].decode(),
            started_at=optional_text(fields.get(b"started_at")),
            ended_at=optional_text(fields.get(b"ended_at")),
            scheduled_at=datetime.fromtimestamp(int(fields[b"scheduled_at"]) / 1000, UTC).isoformat(
                timespec="milliseconds"
            )
            if fields.get(b"scheduled_at")
            else None,
        )

    async def status(self, room_id: str) -> RoomStatus | None:
        status = raw_or_none(await self.redis.hget(keys.room(room_id), "status"))
        return None if status is None else RoomStatus(status.decode())

    async def transition(
        self, room_id: str, wanted: RoomStatus, allowed_from: Iterable[RoomStatus]
    ) -> Transition:
        """Move the room to ``wanted`` if its status is one of ``allowed_from``, stamping
        ``started_at`` / ``ended_at``: one step (transition.lua)."""
        code, current = await self._transition(
            [keys.room(room_id)],
            [
                wanted.value,
                ",".join(s.value for s in allowed_from),
                _STAMP_FIELD[wanted],
                iso_now(),
            ],
        )
        outcome = TransitionOutcome(int(code))
        if outcome is TransitionOutcome.MISSING:
            return Transition(outcome, None)
        return Transition(outcome, RoomStatus(raw(current).decode()))

    # --- the brand's live rooms (another hash tag: a follow-up, idempotent) ------------------
    async def set_live_room(self, brand: str, store_id: str | None, room_id: str) -> None:
        """The room is live: its store's studio, or one of the brand's main rooms."""
        if store_id is not None:
            await self.redis.hset(keys.brand_store_rooms(brand), store_id, room_id)
        else:  # NX: a repeated start keeps the room's place among the main rooms
            await self.redis.zadd(
                keys.brand_main_rooms(brand), {room_id: datetime.now(UTC).timestamp()}, nx=True
            )

    async def clear_live_room(self, brand: str, store_id: str | None, room_id: str) -> None:
        """Forget the room among the brand's live rooms (only its own entry: another room
        that is live stays routed)."""
        await self._clear_store_room(
            [keys.brand_store_rooms(brand), keys.brand_main_rooms(brand)],
            [store_id or "", room_id],
        )

    async def live_room(self, brand: str, store_id: str | None = None) -> str | None:
        """The live room of the brand's store if it has one, else the brand's main room
        (the earliest-started live room with no store)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.brand_store_rooms(brand), store_id or "-")
            pipe.zrange(keys.brand_main_rooms(brand), 0, 0)
            own, main = await pipe.execute()
        if store_id is not None and own is not None:
            return optional_text(raw_or_none(own))
        return optional_text(main[0]) if main else None

    # --- the product on screen (the platform's product card) ---------------------------------
    async def set_product(self, room_id: str, product_id: str) -> None:
        await self.redis.hset(keys.room(room_id), "product", product_id)

    async def product_on_screen(self, room_id: str) -> str | None:
        """The product the platform's product card shows now (None: none shown yet)."""
        return optional_text(raw_or_none(await self.redis.hget(keys.room(room_id), "product")))

    # --- viewers -------------------------------------------------------------------------
    async def add_viewer(self, room_id: str, viewer_id: str) -> None:
        """The customer profile (created once, OneID) and the room's unique viewers."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(keys.customer(viewer_id), "created_at", iso_now())
            pipe.hset(keys.customer(viewer_id), "last_room", room_id)
            pipe.sadd(keys.customer_rooms(viewer_id), room_id)
            await pipe.execute()
        await self.redis.pfadd(keys.room_unique_viewers(room_id), viewer_id)

    # --- the broadcast history (offsets) ---------------------------------------------------
    async def append_history(self, room_id: str, event: str, data: dict[str, Any]) -> str:
        """Record one broadcast; answers its offset (the history entry's id)."""
        entry_id = await self.redis.xadd(
            keys.room_history(room_id),
            {"e": event, "d": orjson.dumps(data)},
            maxlen=keys.ROOM_HISTORY_MAXLEN,
            approximate=True,
        )
        return raw(entry_id).decode()

    async def oldest_offset(self, room_id: str) -> str | None:
        """The offset of the oldest broadcast still in the history (None: no history)."""
        first = entries(await self.redis.xrange(keys.room_history(room_id), count=1))
        return first[0][0].decode() if first else None

    async def latest_offset(self, room_id: str) -> str | None:
        """The offset of the latest broadcast (None: no history)."""
        last = entries(await self.redis.xrevrange(keys.room_history(room_id), count=1))
        return last[0][0].decode() if last else None

    async def history_after(self, room_id: str, offset: str) -> list[tuple[str, dict[str, Any]]]:
        """The broadcasts after ``offset``, in order: (event, data with its ``offset``)."""
        later = entries(await self.redis.xrange(keys.room_history(room_id), min=f"({offset}"))
        missed = []
        for entry_id, fields in later:
            data = orjson.loads(fields[b"d"])
            data["offset"] = entry_id.decode()
            missed.append((fields[b"e"].decode(), data))
        return missed

    # --- viewer counts ---------------------------------------------------------------------
    async def node_counts(self, room_id: str) -> dict[bytes, bytes]:
        """Node id -> ``b"<count>:<seen ms>"``, as viewer_count.lua writes them."""
        return raw_hash(await self.redis.hgetall(keys.room_viewers(room_id)))

    async def publish_viewer_count(
        self, room_id: str, node_id: str, viewers: int, now_ms: int
    ) -> int:
        """Write this node's count and answer the room's total (nodes not seen for
        NODE_STALE_MS left out), raising the room's peak: one step (viewer_count.lua)."""
        total = await self._viewer_count(
            [keys.room_viewers(room_id), keys.room_stats(room_id)],
            [node_id, viewers, now_ms, NODE_STALE_MS, VIEWERS_TTL_MS],
        )
        return int(total)

    async def forget_node(self, room_id: str, node_id: str) -> None:
        """Drop this node's count (it no longer holds viewers of the room)."""
        await self.redis.hdel(keys.room_viewers(room_id), node_id)
