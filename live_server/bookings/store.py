"""Redis access of bookings: the day's seats and the two Lua scripts of a booking step.

Every key of one booking step carries the store's tag ``{store:S}`` (cluster rule); the
room funnel (``{room:R}``), the customer (``{cust:V}``) and the leaderboard
(``{brand:B}``) are follow-ups on other tags, recorded by the step and counted exactly
once (``follow_ups.py``; on one node book.lua counts a booking's in its own call).

Each script has one builder here: :class:`BookCall` (book.lua), :class:`CancelCall`
(cancel.lua). A builder takes named parameters, answers KEYS and ARGV in the order its
script reads them, and reads the script's reply into a typed outcome; nothing else knows a
script's positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgpack

from live_server.core import keys
from live_server.core.fastredis import FastRedis
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import raw, raw_hash
from live_server.core.scripts import KeysArgv, Script, ScriptArg
from live_server.core.util import as_text
from live_server.guides.models import TASK_LUA, task_id_for, task_keys

BOOK = Script(__file__, "book.lua", libraries=[TASK_LUA])
CANCEL = Script(__file__, "cancel.lua", libraries=[TASK_LUA])

ROOM_FIELDS = ("status", "featured", "title", "product", "scheduled_at")
"""What a booking reads of the room record."""
CUSTOMER_FIELDS = (
    "bookings", "visits", "cancellations", "created_at", "no_shows", "orders", "amount_cents",
)  # fmt: skip
"""What a booking reads of the customer profile (OneID)."""


@dataclass(frozen=True, slots=True)
class Context:
    """What one pipelined read returns before a booking: the room's ROOM_FIELDS and the
    customer's CUSTOMER_FIELDS, in that order (None: not set; a missing room has no status)."""

    room: list[bytes | None]
    customer: list[bytes | None]


# --- book.lua ------------------------------------------------------------------------------
class BookOutcomeKind(StrEnum):
    """book.lua's answer (its reply's first value)."""

    OK = "ok"  # booked
    DUP = "dup"  # the Idempotency-Key was used before: its first response
    HELD = "held"  # the viewer already holds a booking of this slot
    FULL = "full"  # no seat left
    LIMITED = "limited"  # one node: over the per-viewer limit
    ROOM = "room"  # one node: the room is not live (or there is no such room)
    STALE = "stale"  # one node: the caller's copy of the room's featured list/title is old


_BOOK_KINDS: dict[bytes | str, BookOutcomeKind] = {
    **{kind.value.encode(): kind for kind in BookOutcomeKind},
    **{kind.value: kind for kind in BookOutcomeKind},
}
"""A reply's first value to its kind: one dict lookup on the hot path, bytes or text."""


@dataclass(frozen=True, slots=True)
class BookOutcome:
    kind: BookOutcomeKind
    seats_taken: int = 0  # ok, full
    stream_id: str = ""  # ok: the booking.created entry
    room_total: int = 0  # one node, ok: the room's bookings after this one
    customer: tuple[bytes | None, ...] = ()  # one node, ok: CUSTOMER_FIELDS before it
    room: tuple[bytes, bytes, bytes, bytes] = (b"", b"", b"", b"")
    """room/stale: status, featured, title, product"""
    task_guide: str = ""  # ok: the guide the booking's task went to ("": none active)
    task_priority: int = 0  # ok
    task_stream_id: str = ""  # ok: the task.assigned entry ("": no task made)
    count: int = 0  # limited: the viewer's count in the window
    booking_id: str = ""  # dup, held
    fingerprint: str = ""  # dup
    response: bytes = b""  # dup: the first 201 body


@dataclass(frozen=True, slots=True)
class OneNode:
    """What the one-node form of book.lua also takes: the booking is then one call with
    the per-viewer limit, the room's status and the counters of the other tags in it."""

    room_id: str
    room_sha: str  # sha1 of status, featured, title, product joined by NUL, as the caller used
    limit: int  # per-viewer bookings per window (0: no limit)
    rate_key: str  # the per-viewer counter of this window ("" with no limit)
    rate_ttl_s: int
    created_at: str  # the booking's, ISO: the customer's last_booking_at
    brand: str = ""  # the store's brand and local day: the leaderboard's task counters
    local_day: str = ""


@dataclass(slots=True)  # not frozen: a frozen __init__ costs three times as much per booking
class BookCall:
    """book.lua's named parameters, for one attempt at one booking.

    ``record`` is the booking as the API answers it: its values that are not None are the
    booking hash's fields (with ``slot_ts``). With ``one_node`` the call is the script's
    one-node form; ``event`` must then end with ``"customer": None``, which the script
    replaces with the customer context it reads."""

    store_id: str
    day: str  # the store's local day of the slot, YYYY-MM-DD (the seats/holders hashes)
    slot_ts: int
    capacity: int
    viewer_id: str
    booking_id: str
    idempotency_key: str | None
    fingerprint: str
    response: bytes  # the 201 body, answered again for a repeated Idempotency-Key
    event: dict[str, Any]  # booking.created data
    record: Mapping[str, Any]
    now_ms: int
    expire_at: int  # of the booking hash (unix s)
    day_expire_at: int  # of the day's seats and holders hashes (unix s)
    one_node: OneNode | None = None
    task_plan: bytes = b""  # the booking's task (guides.models.task_plan); b"": none

    def keys_argv(self) -> KeysArgv:
        """KEYS and ARGV in book.lua's order (see its header)."""
        store_id, one_node = self.store_id, self.one_node
        idem_key = keys.store_booking_idempotency(
            store_id, self.viewer_id, self.idempotency_key or "-"
        )
        booking_keys = [
            keys.store_slot_seats(store_id, self.day), keys.store_slot_holders(store_id, self.day),
            keys.store_booking(store_id, self.booking_id), idem_key, keys.store_stream(store_id),
            *task_keys(store_id, task_id_for(self.booking_id)),
        ]  # fmt: skip
        argv: list[ScriptArg] = [
            self.slot_ts, self.capacity, self.viewer_id, self.booking_id,
            self.fingerprint if self.idempotency_key else "", self.response,
            msgpack.packb(self.event), self.now_ms, keys.IDEMPOTENCY_TTL_S, self.expire_at,
            self.day_expire_at,
        ]  # fmt: skip
        one_node_argv: list[ScriptArg] = []
        if one_node is None:  # a cluster: the follow-ups are recorded with the booking
            booking_keys.append(keys.store_follow_ups(store_id))
        else:
            booking_keys += [
                keys.room(one_node.room_id),
                # KEYS[13] must be a key even with no limit (the script then leaves it alone).
                one_node.rate_key or keys.room(one_node.room_id),
                keys.customer(self.viewer_id), keys.customer_booked_stores(self.viewer_id),
                keys.room_stats(one_node.room_id), keys.room_booked_slots(one_node.room_id),
                keys.brand_leaderboard(one_node.brand, one_node.local_day),
            ]  # fmt: skip
            one_node_argv = [
                one_node.room_sha, one_node.limit, one_node.rate_ttl_s,
                f"total:{keys.STAT_BOOKINGS}", f"{store_id}:{keys.STAT_BOOKINGS}",
                f"active:{store_id}", one_node.created_at, store_id,
            ]  # fmt: skip
        # ARGV[12]: the (1-based) index of the first booking hash field, which follows
        # ARGV[12] itself, the task plan and the one-node arguments (14 on a cluster, 22 on
        # one node).
        argv.append(len(argv) + 2 + len(one_node_argv) + 1)
        argv.append(self.task_plan)
        argv += one_node_argv
        for field, value in self.record.items():
            if value is not None:
                argv += (field, value)
        argv += ("slot_ts", str(self.slot_ts))
        return booking_keys, argv

    def read(self, reply: list[Any]) -> BookOutcome:
        """book.lua's reply as a :class:`BookOutcome`."""
        kind = _BOOK_KINDS[reply[0]]
        if kind is BookOutcomeKind.OK:
            task = (as_text(reply[3]), int(reply[4]), as_text(reply[5]))
            if self.one_node is None:
                return BookOutcome(
                    kind, seats_taken=int(reply[1]), stream_id=as_text(reply[2]),
                    task_guide=task[0], task_priority=task[1], task_stream_id=task[2],
                )  # fmt: skip
            return BookOutcome(
                kind, seats_taken=int(reply[1]), stream_id=as_text(reply[2]),
                room_total=int(reply[6]), customer=tuple(v or None for v in reply[7:11]),
                task_guide=task[0], task_priority=task[1], task_stream_id=task[2],
            )  # fmt: skip
        if kind is BookOutcomeKind.LIMITED:
            return BookOutcome(kind, count=int(reply[1]))
        if kind is BookOutcomeKind.ROOM:  # status, or "" when there is no such room
            return BookOutcome(kind, room=(reply[1], b"", b"", b""))
        if kind is BookOutcomeKind.STALE:  # status, featured, title, product as they are now
            return BookOutcome(kind, room=(reply[1], reply[2], reply[3], reply[4]))
        if kind is BookOutcomeKind.DUP:
            return BookOutcome(
                kind, booking_id=as_text(reply[1]), fingerprint=as_text(reply[2]),
                response=reply[3] if isinstance(reply[3], bytes) else as_text(reply[3]).encode(),
            )  # fmt: skip
        if kind is BookOutcomeKind.HELD:
            return BookOutcome(kind, booking_id=as_text(reply[1]))
        return BookOutcome(kind, seats_taken=int(reply[1]))  # FULL


# --- cancel.lua ----------------------------------------------------------------------------
class CancelOutcomeKind(StrEnum):
    """cancel.lua's answer (its reply's first value)."""

    OK = "ok"  # cancelled now
    MISSING = "missing"  # no such booking
    ALREADY = "already"  # cancelled before
    STATE = "state"  # neither confirmed nor cancelled (arrived)


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    kind: CancelOutcomeKind
    stream_id: str = ""  # ok: the booking.cancelled entry
    status: str = ""  # state: the booking's status
    created_pending: bool = False  # ok: the booking's own follow-ups are not counted yet


@dataclass(frozen=True, slots=True)
class CancelCall:
    """cancel.lua's named parameters."""

    store_id: str
    day: str  # the store's local day of the slot, YYYY-MM-DD
    booking_id: str
    cancelled_at: str  # ISO
    event: dict[str, Any]  # booking.cancelled data
    now_ms: int

    def keys_argv(self) -> KeysArgv:
        """KEYS and ARGV in cancel.lua's order (see its header)."""
        store_id, day = self.store_id, self.day
        cancel_keys = [
            keys.store_booking(store_id, self.booking_id), keys.store_slot_seats(store_id, day),
            keys.store_slot_holders(store_id, day), keys.store_stream(store_id),
            *task_keys(store_id, task_id_for(self.booking_id)), keys.store_follow_ups(store_id),
        ]  # fmt: skip
        return cancel_keys, [
            self.booking_id,
            self.cancelled_at,
            msgpack.packb(self.event),
            self.now_ms,
        ]

    @staticmethod
    def read(reply: list[Any]) -> CancelOutcome:
        """cancel.lua's reply as a :class:`CancelOutcome`."""
        kind = CancelOutcomeKind(as_text(reply[0]))
        if kind is CancelOutcomeKind.OK:
            return CancelOutcome(
                kind, stream_id=as_text(reply[1]), created_pending=as_text(reply[2]) == "1"
            )
        if kind is CancelOutcomeKind.STATE:
            return CancelOutcome(kind, status=as_text(reply[1]))
        return CancelOutcome(kind)


class BookingStore:
    def __init__(self, redis: RedisClient, fast: FastRedis | None = None) -> None:
        self.redis = redis
        self.fast = fast
        """The hot path's auto-pipelined connection (single node), or None: redis-py."""
        self._book = BOOK.bind(redis, fast)
        self._cancel = CANCEL.bind(redis)

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
        """The room's ROOM_FIELDS (status, featured, title, product, scheduled_at): the
        one-node path's copy."""
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
        return BookOutcome(
            BookOutcomeKind.DUP, fingerprint=as_text(fingerprint), response=raw(response)
        )

    async def book(self, call: BookCall) -> BookOutcome:
        """The one atomic step: seat check, one booking per viewer per slot, take the seat,
        store the booking, remember the key, append ``booking.created``. In the one-node
        form (``call.one_node``, a single Redis, not a cluster) also the per-viewer limit
        and the room's status before, the customer context into the event, and the room
        and customer counters."""
        booking_keys, argv = call.keys_argv()
        return call.read(await self._book(booking_keys, argv))

    async def get(self, store_id: str, booking_id: str) -> dict[bytes, bytes]:
        return raw_hash(await self.redis.hgetall(keys.store_booking(store_id, booking_id)))

    async def cancel(self, call: CancelCall) -> CancelOutcome:
        """Free the seat, drop the holder, append ``booking.cancelled``: one step."""
        cancel_keys, argv = call.keys_argv()
        return call.read(await self._cancel(cancel_keys, argv))
