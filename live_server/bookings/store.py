"""Redis access of bookings: the day's seats, the two Lua scripts, the follow-up counters.

Every key of one booking step carries the store's tag ``{store:S}`` (cluster rule); the
room funnel (``{room:R}``) and the customer (``{cust:V}``) are idempotent-enough
follow-ups run once, by the request whose Lua call made the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import msgpack

from live_server.core import keys
from live_server.core.fastredis import FastRedis, FastScript
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import raw, raw_hash
from live_server.core.util import as_text

_HERE = Path(__file__).parent


ROOM_FIELDS = ("status", "featured", "title")
"""What a booking reads of the room record."""
CUSTOMER_FIELDS = ("bookings", "visits", "cancellations", "created_at")
"""What a booking reads of the customer profile (OneID)."""


@dataclass(frozen=True, slots=True)
class Context:
    """What one pipelined read returns before a booking: the room's ROOM_FIELDS and the
    customer's CUSTOMER_FIELDS, in that order (None: not set; a missing room has no status)."""

    room: list[bytes | None]
    customer: list[bytes | None]


@dataclass(frozen=True, slots=True)
class OneNode:
    """What the one-node form of book.lua also takes: the booking is then one call with
    the per-viewer limit, the room's status and the counters of the other tags in it."""

    room_id: str
    room_sha: str  # sha1 of featured + b"\0" + title, as the caller used them
    limit: int  # per-viewer bookings per window (0: no limit)
    rate_key: str
    rate_ttl_s: int
    created_at: str


@dataclass(frozen=True, slots=True)
class BookOutcome:
    outcome: str  # ok | dup | held | full; one node also: limited | room | stale
    seats_taken: int = 0
    stream_id: str = ""
    room_total: int = 0  # one node, ok: the room's bookings after this one
    customer: tuple[bytes | None, ...] = ()  # one node, ok: CUSTOMER_FIELDS before it
    room: tuple[bytes, bytes, bytes] = (b"", b"", b"")  # room/stale: status, featured, title
    count: int = 0  # limited: the viewer's count in the window
    booking_id: str = ""
    fingerprint: str = ""
    response: bytes = b""


class BookingStore:
    def __init__(self, redis: RedisClient, fast: FastRedis | None = None) -> None:
        self.redis = redis
        self.fast = fast
        """The hot path's auto-pipelined connection (single node), or None: redis-py."""
        book_lua = (_HERE / "book.lua").read_text()
        self._book: Callable[..., Awaitable[Any]] = (
            FastScript(fast, book_lua) if fast is not None else redis.register_script(book_lua)
        )
        self._cancel = redis.register_script((_HERE / "cancel.lua").read_text())
        # A cluster's follow-up counters (on one node book.lua counts them itself).
        self._count = redis.register_script((_HERE / "count.lua").read_text())

    async def seats_taken(self, store_id: str, day: str) -> dict[int, int]:
        raw = await self.redis.hgetall(keys.store_slot_seats(store_id, day))
        return {int(k): int(v) for k, v in raw.items()}

    async def context(self, room_id: str, viewer_id: str) -> Context:
        """Room record and customer profile before a booking on a cluster: one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.room(room_id), ROOM_FIELDS)
            pipe.hmget(keys.customer(viewer_id), CUSTOMER_FIELDS)
            room, customer = await pipe.execute()
        return Context(room=room, customer=customer)

    async def room_fields(self, room_id: str) -> list[bytes | None]:
        """The room's ROOM_FIELDS (status, featured, title), for the one-node path's copy."""
        assert self.fast is not None, "the one-node path runs on the auto-pipelined connection"
        return list(await self.fast.execute("HMGET", keys.room(room_id), *ROOM_FIELDS))

    async def prior(
        self, store_id: str, viewer_id: str, idempotency_key: str
    ) -> BookOutcome | None:
        """The first result stored for this key (fingerprint, response), if any. Read only
        when a request is refused before the booking script runs: a retried tap whose room
        has ended since still gets its first answer (the script itself answers the rest)."""
        fingerprint, response = await self.redis.hmget(
            keys.store_booking_idempotency(store_id, viewer_id, idempotency_key),
            ["fingerprint", "response"],
        )
        if fingerprint is None or response is None:
            return None
        return BookOutcome("dup", fingerprint=as_text(fingerprint), response=raw(response))

    async def book(
        self, *, store_id: str, day: str, slot_ts: int, capacity: int, viewer_id: str,
        booking_id: str, idempotency_key: str | None, fingerprint: str, response: bytes,
        event: dict[str, Any], now_ms: int, expire_at: int, day_expire_at: int,
        fields: dict[str, str], one_node: OneNode | None = None,
    ) -> BookOutcome:  # fmt: skip
        """The one atomic step: seat check, one booking per viewer per slot, take the seat,
        store the booking, remember the key, append ``booking.created``. With ``one_node``
        (a single Redis, not a cluster) also the per-viewer limit and the room's status
        before, the customer context into the event, and the room and customer counters."""
        idem_key = keys.store_booking_idempotency(store_id, viewer_id, idempotency_key or "-")
        booking_keys = [
            keys.store_slot_seats(store_id, day), keys.store_slot_holders(store_id, day),
            keys.store_booking(store_id, booking_id), idem_key, keys.store_stream(store_id),
        ]  # fmt: skip
        args: list[Any] = [
            slot_ts, capacity, viewer_id, booking_id, fingerprint if idempotency_key else "",
            response, msgpack.packb(event), now_ms, keys.IDEMPOTENCY_TTL_S, expire_at,
            day_expire_at, 13 if one_node is None else 21,
        ]  # fmt: skip
        if one_node is not None:
            booking_keys += [
                keys.room(one_node.room_id), one_node.rate_key, keys.customer(viewer_id),
                keys.customer_booked_stores(viewer_id), keys.room_stats(one_node.room_id),
            ]  # fmt: skip
            args += [
                one_node.room_sha, one_node.limit, one_node.rate_ttl_s,
                f"total:{keys.STAT_BOOKINGS}", f"{store_id}:{keys.STAT_BOOKINGS}",
                f"active:{store_id}", one_node.created_at, store_id,
            ]  # fmt: skip
        args.extend(chain.from_iterable(fields.items()))
        result = await self._book(keys=booking_keys, args=args)
        outcome = as_text(result[0])
        if outcome == "ok":
            if one_node is None:
                return BookOutcome("ok", seats_taken=int(result[1]), stream_id=as_text(result[2]))
            return BookOutcome(
                "ok", seats_taken=int(result[1]), stream_id=as_text(result[2]),
                room_total=int(result[3]), customer=tuple(v or None for v in result[4:8]),
            )  # fmt: skip
        if outcome == "limited":
            return BookOutcome("limited", count=int(result[1]))
        if outcome == "room":  # status, or "" when there is no such room
            return BookOutcome("room", room=(result[1], b"", b""))
        if outcome == "stale":  # status, featured, title as they are now
            return BookOutcome("stale", room=(result[1], result[2], result[3]))
        if outcome == "dup":
            return BookOutcome(
                "dup", booking_id=as_text(result[1]), fingerprint=as_text(result[2]),
                response=result[3] if isinstance(result[3], bytes) else as_text(result[3]).encode(),
            )  # fmt: skip
        if outcome == "held":
            return BookOutcome("held", booking_id=as_text(result[1]))
        return BookOutcome("full", seats_taken=int(result[1]))

    async def get(self, store_id: str, booking_id: str) -> dict[bytes, bytes]:
        return raw_hash(await self.redis.hgetall(keys.store_booking(store_id, booking_id)))

    async def cancel(
        self, *, store_id: str, day: str, booking_id: str, cancelled_at: str,
        event: dict[str, Any], now_ms: int,
    ) -> tuple[str, str]:  # fmt: skip
        result = await self._cancel(
            keys=[
                keys.store_booking(store_id, booking_id), keys.store_slot_seats(store_id, day),
                keys.store_slot_holders(store_id, day), keys.store_stream(store_id),
            ],
            args=[booking_id, cancelled_at, msgpack.packb(event), now_ms],
        )  # fmt: skip
        return as_text(result[0]), as_text(result[1]) if len(result) > 1 else ""

    def count_booking(
        self, room_id: str, store_id: str, viewer_id: str, at: str
    ) -> tuple[Awaitable[int], Awaitable[Any]]:
        """Follow-up after a booking on a cluster (other tags): room funnel and customer
        counters, one ``count.lua`` call per tag: (the room's total bookings, the customer's
        reply). On one node book.lua counts them itself."""
        return (
            self._count(
                keys=[keys.room_stats(room_id)],
                args=["room", f"total:{keys.STAT_BOOKINGS}", f"{store_id}:{keys.STAT_BOOKINGS}"],
            ),
            self._count(
                keys=[keys.customer(viewer_id), keys.customer_booked_stores(viewer_id)],
                args=["customer", f"active:{store_id}", at, store_id],
            ),
        )

    async def count_cancellation(self, room_id: str, store_id: str, viewer_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(keys.room_stats(room_id), f"total:{keys.STAT_CANCELLATIONS}", 1)
            pipe.hincrby(keys.room_stats(room_id), f"{store_id}:{keys.STAT_CANCELLATIONS}", 1)
            pipe.hincrby(keys.customer(viewer_id), "cancellations", 1)
            pipe.hincrby(keys.customer(viewer_id), f"active:{store_id}", -1)
            results = await pipe.execute()
        if int(results[3]) <= 0:
            await self.redis.srem(keys.customer_booked_stores(viewer_id), store_id)
