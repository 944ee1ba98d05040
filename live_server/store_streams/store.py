"""Redis access of the store streams: the stream itself (replay and tail reads), staff
acks, consumer groups and dead letters, retention trimming, and the check-in.

Four Lua scripts, beside this module, each touching one ``{store:S}`` tag: ``arrive.lua``
(check-in), ``ack.lua`` (monotonic staff ack), ``dead_letter.lua`` (give up on an entry
for a group), ``trim.lua`` (retention). Each has one builder, a frozen dataclass of its
named inputs (``ArriveCall``, ``AckCall``, ``DeadLetterCall``, ``TrimCall``) whose
``keys_argv()`` lays them out as the KEYS and ARGV the script's header documents and whose
``read()`` turns the reply into a value; ``arrive.lua``'s code is the :class:`ArriveCode`
enum (the others answer ids and counts, not outcomes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from redis.exceptions import ResponseError

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import Entry, autoclaimed, entries, pending, raw, streams
from live_server.core.scripts import KeysArgv, Script
from live_server.core.util import as_text
from live_server.guides.models import TASK_LUA, task_id_for, task_keys
from live_server.store_streams.ids import ZERO, StreamId
from live_server.store_streams.models import TrimResult

ARRIVE = Script(__file__, "arrive.lua", libraries=[TASK_LUA])
ACK = Script(__file__, "ack.lua")
DEAD_LETTER = Script(__file__, "dead_letter.lua")
TRIM = Script(__file__, "trim.lua")

"""A script's KEYS and ARGV, as its builder lays them out."""


# --- arrive.lua ----------------------------------------------------------------------------


class ArriveCode(IntEnum):
    """What arrive.lua answered (its first reply element)."""

    ARRIVED = 1  # arrived now: this call made the transition
    ALREADY = 0  # had already arrived: the first check-in is returned
    NOT_FOUND = -1  # no such booking at this store
    CANCELLED = -2


@dataclass(frozen=True, slots=True)
class ArriveOutcome:
    code: ArriveCode
    arrived_at: str
    stream_id: str  # the booking.arrived entry
    room_id: str  # '' when the booking names none
    viewer_id: str
    guide_id: str = ""  # the guide of the booking's task ('' none)
    slot_ts: int = 0


@dataclass(frozen=True, slots=True)
class ArriveCall:
    """arrive.lua's input, by name."""

    store_id: str
    booking_id: str
    arrived_at: str  # ISO-8601
    now_ms: int
    staff: str  # the staff token's subject

    def keys_argv(self) -> KeysArgv:
        return (
            [
                keys.store_booking(self.store_id, self.booking_id),
                keys.store_stream(self.store_id),
                *task_keys(self.store_id, task_id_for(self.booking_id)),
                keys.store_follow_ups(self.store_id),
            ],
            [self.booking_id, self.store_id, self.arrived_at, self.now_ms, self.staff],
        )

    @staticmethod
    def read(reply: list[Any]) -> ArriveOutcome:
        """arrive.lua's reply as an :class:`ArriveOutcome`."""
        code, arrived_at, stream_id, room_id, viewer_id, guide_id, slot_ts = reply
        return ArriveOutcome(
            ArriveCode(int(code)), as_text(arrived_at), as_text(stream_id), as_text(room_id),
            as_text(viewer_id), as_text(guide_id), int(slot_ts or 0),
        )  # fmt: skip


# --- ack.lua -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AckCall:
    """ack.lua's input, by name."""

    store_id: str
    token_id: str
    entry_id: StreamId

    def keys_argv(self) -> KeysArgv:
        return [keys.store_acked(self.store_id)], [self.token_id, str(self.entry_id)]

    @staticmethod
    def read(reply: bytes) -> str:
        """ack.lua's reply: the id stored after the call."""
        return as_text(reply)


# --- dead_letter.lua -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetterCall:
    """dead_letter.lua's input, by name."""

    store_id: str
    group: str
    entry_id: str
    consumer: str
    deliveries: int
    now_ms: int

    def keys_argv(self) -> KeysArgv:
        return (
            [keys.store_stream(self.store_id), keys.store_dead_letter(self.store_id)],
            [self.group, self.entry_id, self.consumer, self.deliveries, self.now_ms],
        )

    @staticmethod
    def read(reply: int) -> bool:
        """dead_letter.lua's reply: moved (1), or no longer pending (0)."""
        return bool(reply)


# --- trim.lua ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrimCall:
    """trim.lua's input, by name."""

    store_id: str
    cutoff: StreamId  # entries before it are old enough to go
    approximate: bool  # "~": whole macro nodes only, far cheaper

    def keys_argv(self) -> KeysArgv:
        return (
            [keys.store_stream(self.store_id), keys.store_dead_letter(self.store_id)],
            [str(self.cutoff), "~" if self.approximate else "="],
        )

    def read(self, reply: list[Any]) -> TrimResult:
        """trim.lua's reply: entries trimmed, the MINID used."""
        trimmed, min_id = reply
        return TrimResult(self.store_id, int(trimmed), as_text(min_id))


# --- the store -----------------------------------------------------------------------------


class StreamStore:
    """Reads and writes of the store streams (no HTTP, no events).

    ``blocking``: the client for ``XREAD BLOCK`` (:meth:`wait_after`), whose socket timeout
    exceeds the block time; the main client when not given."""

    def __init__(self, redis: RedisClient, blocking: RedisClient | None = None) -> None:
        self.redis = redis
        self.blocking = blocking if blocking is not None else redis
        self._arrive = ARRIVE.bind(redis)
        self._ack = ACK.bind(redis)
        self._dead_letter = DEAD_LETTER.bind(redis)
        self._trim = TRIM.bind(redis)

    # --- the stream ------------------------------------------------------------------
    async def last_id(self, store_id: str) -> StreamId:
        """The id of the newest entry (ZERO for an empty or missing stream)."""
        last = entries(await self.redis.xrevrange(keys.store_stream(store_id), count=1))
        return StreamId.parse(last[0][0]) if last else ZERO

    async def read_range(
        self, store_id: str, after: StreamId, upto: StreamId, count: int
    ) -> list[Entry]:
        """At most ``count`` entries with ``after < id <= upto``, in order."""
        return entries(
            await self.redis.xrange(
                keys.store_stream(store_id), min=f"({after}", max=str(upto), count=count
            )
        )

    async def wait_after(
        self, store_id: str, after: StreamId, count: int, block_ms: int
    ) -> list[Entry]:
        """Entries after ``after``, waiting up to ``block_ms`` for one (on ``blocking``)."""
        reply = await self.blocking.xread(
            {keys.store_stream(store_id): str(after)}, count=count, block=block_ms
        )
        return [entry for _stream, found in streams(reply) or () for entry in found]

    # --- staff acks ------------------------------------------------------------------
    async def acked(self, store_id: str, token_id: str) -> StreamId | None:
        """The last id acked with this token, if any."""
        stored = await self.redis.hget(keys.store_acked(store_id), token_id)
        return StreamId.parse(raw(stored)) if stored is not None else None

    async def ack(self, call: AckCall) -> str:
        """Store the ack (never backwards); answers the id stored after the call."""
        return call.read(await self._ack(*call.keys_argv()))

    # --- consumer groups -------------------------------------------------------------
    async def create_group(self, store_id: str, group: str, start: str) -> bool:
        """Create the group (and the stream) if missing; True if it was created."""
        try:
            await self.redis.xgroup_create(keys.store_stream(store_id), group, id=start,
                                           mkstream=True)  # fmt: skip
            return True
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return False
            raise

    async def read_group(
        self, store_id: str, group: str, consumer: str, count: int, block_ms: int | None
    ) -> list[Entry]:
        """New entries for this member (``XREADGROUP >``); ``block_ms`` None: no wait."""
        reply = await self.redis.xreadgroup(
            group, consumer, {keys.store_stream(store_id): ">"}, count=count, block=block_ms
        )
        return [entry for _stream, found in streams(reply) or () for entry in found]

    async def claim_idle(
        self, store_id: str, group: str, consumer: str, min_idle_ms: int, cursor: str,
        count: int,
    ) -> tuple[str, list[Entry]]:  # fmt: skip
        """``XAUTOCLAIM``: (next cursor, entries idle that long taken over by ``consumer``);
        entries deleted while pending are left out."""
        reply = autoclaimed(await self.redis.xautoclaim(
            keys.store_stream(store_id), group, consumer, min_idle_time=min_idle_ms,
            start_id=cursor, count=count,
        ))  # fmt: skip
        # [next cursor, entries, ids deleted while pending (Redis >= 7)]
        return as_text(reply[0]), [
            (entry_id, fields) for entry_id, fields in reply[1] if fields is not None
        ]

    async def delivery_counts(
        self, store_id: str, group: str, consumer: str, entry_ids: list[str], count: int
    ) -> dict[str, int]:
        """How often each of this member's pending entries in ``entry_ids``' range was
        delivered."""
        rows = pending(await self.redis.xpending_range(
            keys.store_stream(store_id), group, min=entry_ids[0], max=entry_ids[-1],
            count=count, consumername=consumer,
        ))  # fmt: skip
        return {as_text(row["message_id"]): int(row["times_delivered"]) for row in rows}

    async def ack_entry(self, store_id: str, group: str, entry_id: str) -> None:
        await self.redis.xack(keys.store_stream(store_id), group, entry_id)

    async def dead_letter(self, call: DeadLetterCall) -> bool:
        """Ack the entry and copy it to the dead-letter stream; False if it was no longer
        pending (another member handled it)."""
        return call.read(await self._dead_letter(*call.keys_argv()))

    # --- retention -------------------------------------------------------------------
    async def trim(self, call: TrimCall) -> TrimResult:
        return call.read(await self._trim(*call.keys_argv()))

    # --- the store's notice webhook ------------------------------------------------------
    async def set_webhook(self, store_id: str, url: str, secret: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.store_webhook(store_id), mapping={"url": url, "secret": secret})
            pipe.sadd(keys.STORES_WITH_WEBHOOK, store_id)
            await pipe.execute()

    async def delete_webhook(self, store_id: str) -> bool:
        """Stop the store's notices; whether it had a webhook."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys.store_webhook(store_id))
            pipe.srem(keys.STORES_WITH_WEBHOOK, store_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def webhook(self, store_id: str) -> tuple[str, str] | None:
        url, secret = await self.redis.hmget(keys.store_webhook(store_id), ["url", "secret"])
        if not url:
            return None
        return as_text(url), as_text(secret or b"")

    async def webhook_stores(self) -> list[str]:
        return sorted(as_text(s) for s in await self.redis.smembers(keys.STORES_WITH_WEBHOOK))

    # --- check-in ----------------------------------------------------------------------
    async def arrive(self, call: ArriveCall) -> ArriveOutcome:
        return call.read(await self._arrive(*call.keys_argv()))
