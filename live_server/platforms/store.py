"""Redis access of live platforms: bindings (both sides), the batch counter script
(ingest.lua: dedupe by message id + room counters, one call per push) and the engagement
read behind a once-a-second gate (engagement.lua).

Bindings live under two tags: ``{platforms}`` (platform room id -> binding, what a push
looks up) and ``{room:R}`` (the room's own list). Binding writes the room side first, then
the lookup (a follow-up, idempotent); unbinding removes the lookup first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import msgpack
import orjson

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import raw_hash, raw_or_none
from live_server.core.scripts import KeysArgv, Script
from live_server.core.util import as_text
from live_server.platforms.models import Binding, PlatformMessage

INGEST = Script(__file__, "ingest.lua")
ENGAGEMENT = Script(__file__, "engagement.lua")

ENGAGEMENT_GATE_MS = 1000


def _lookup_field(platform: str, platform_room_id: str) -> str:
    return f"{platform}:{platform_room_id}"


@dataclass(frozen=True, slots=True)
class IngestCall:
    """ingest.lua's input, by name: the room and its batch (dedup id, counters)."""

    room_id: str
    batch: list[tuple[PlatformMessage, dict[str, int]]]
    now_s: float

    def keys_argv(self) -> KeysArgv:
        bucket = int(self.now_s) // keys.PLATFORM_SEEN_BUCKET_S
        return (
            [
                keys.room(self.room_id), keys.room_stats(self.room_id),
                keys.platform_seen(self.room_id, bucket),
                keys.platform_seen(self.room_id, bucket - 1),
                keys.platform_seen(self.room_id, bucket - 2),
            ],
            [
                keys.PLATFORM_SEEN_BUCKET_S * 3,
                orjson.dumps([[m.dedup_id, counters or {"": 0}] for m, counters in self.batch]),
            ],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    room_status: str  # "" no such room: nothing counted
    new: list[bool]  # per message of the batch: counted now (False: a repeat)


class PlatformStore:
    """Reads and writes of the platforms domain (no rules, no events)."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._ingest = INGEST.bind(redis)
        self._engagement = ENGAGEMENT.bind(redis)

    # --- bindings ------------------------------------------------------------------------
    async def bind(self, binding: Binding, previous: Binding | None) -> None:
        packed = msgpack.packb(binding.record())
        await self.redis.hset(keys.room_platforms(binding.room_id), binding.platform.value, packed)
        if previous is not None and previous.platform_room_id != binding.platform_room_id:
            await self.redis.hdel(
                keys.PLATFORM_ROOMS, _lookup_field(previous.platform, previous.platform_room_id)
            )
        await self.redis.hset(
            keys.PLATFORM_ROOMS, _lookup_field(binding.platform, binding.platform_room_id), packed
        )

    async def unbind(self, binding: Binding) -> None:
        await self.redis.hdel(
            keys.PLATFORM_ROOMS, _lookup_field(binding.platform, binding.platform_room_id)
        )
        await self.redis.hdel(keys.room_platforms(binding.room_id), binding.platform.value)

    async def room_binding(self, room_id: str, platform: str) -> Binding | None:
        raw = raw_or_none(await self.redis.hget(keys.room_platforms(room_id), platform))
        return None if raw is None else Binding.from_record(msgpack.unpackb(raw))

    async def room_bindings(self, room_id: str) -> list[Binding]:
        found = raw_hash(await self.redis.hgetall(keys.room_platforms(room_id)))
        return [Binding.from_record(msgpack.unpackb(v)) for _, v in sorted(found.items())]

    async def binding_of(self, platform: str, platform_room_id: str) -> Binding | None:
        """The binding a push from this platform room belongs to."""
        raw = raw_or_none(
            await self.redis.hget(keys.PLATFORM_ROOMS, _lookup_field(platform, platform_room_id))
        )
        return None if raw is None else Binding.from_record(msgpack.unpackb(raw))

    # --- counting ------------------------------------------------------------------------
    async def ingest(self, call: IngestCall) -> IngestOutcome:
        status, flags = await self._ingest(*call.keys_argv())
        return IngestOutcome(as_text(status), [f == "1" for f in as_text(flags)])

    async def engagement(self, room_id: str) -> dict[str, int] | None:
        """The room's engagement counters if this worker may send them now (at most one
        send a second per room, across workers), else None."""
        fields = [f"total:{name}" for name in keys.ENGAGEMENT_COUNTERS]
        values = await self._engagement(
            [keys.platform_engagement_gate(room_id), keys.room_stats(room_id)],
            [ENGAGEMENT_GATE_MS, *fields],
        )
        if not values:
            return None
        return {
            name: int(float(as_text(v))) if v is not None else 0
            for name, v in zip(keys.ENGAGEMENT_COUNTERS, values, strict=True)
        }


def now_s() -> float:
    return time.time()
