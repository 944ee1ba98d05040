"""A booking step's follow-ups on other hash tags, counted exactly once, and their repair.

The step itself (book.lua's cluster form, cancel.lua, arrive.lua) runs on the store's tag
``{store:S}`` and records what it owes in the store's pending set
(``keys.store_follow_ups``: ``"<kind>|<booking>"`` by the step's time). The follow-ups are
one ``follow_up.lua`` call per other tag: the room's funnel, booked/arrived slots and guide
row (``{room:R}``), the customer's counters (``{cust:V}``), the brand's leaderboard
(``{brand:B}``). Each call writes the tag's "applied" marker in the same step as its
counters, so running a follow-up twice counts once. When every tag has answered, the
pending member is removed.

A process killed between the step and its follow-ups leaves the member pending:
:class:`FollowUpRepair` (a :class:`~live_server.core.tasks.Periodic`, one pass per
interval across all nodes through a lease) rebuilds the follow-up from the booking hash
(its own tag, so it is there) and applies it. On one node book.lua counts a booking's
follow-ups in its own call and records nothing; cancel.lua and arrive.lua record theirs on
both.

This module is the named interface the store streams use for a check-in's follow-ups.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import raw_hash, scored
from live_server.core.scripts import KeysArgv, Script, ScriptArg
from live_server.core.tasks import Periodic
from live_server.core.util import as_text, now_ms
from live_server.stores.store import StoreRegistry

log = logging.getLogger(__name__)

FOLLOW_UP = Script(__file__, "follow_up.lua")

KILL_SWITCH_ENV = "LIVE_TEST_KILL_BEFORE_FOLLOW_UPS"
"""Tests only: ``<kind>:<n>`` (e.g. ``created:3``) makes the process SIGKILL itself right
after the n-th step of that kind succeeded, before any of its follow-ups: the crash the
repair pass is for (tests/cluster/test_follow_up_repair.py). Never set in production."""


class FollowUpKind(StrEnum):
    """Which step a follow-up belongs to (the pending member's prefix)."""

    CREATED = "created"
    CANCELLED = "cancelled"
    ARRIVED = "arrived"


class Applied(StrEnum):
    """follow_up.lua's answer."""

    APPLIED = "applied"  # counted now
    ALREADY = "already"  # counted before (the request or another repair)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One booking step's counters on other tags, by name; its builders answer
    follow_up.lua's KEYS and ARGV for each tag (None: nothing to count there)."""

    kind: FollowUpKind
    booking_id: str
    store_id: str
    room_id: str  # "" when the booking names no room
    viewer_id: str
    at: str  # the step's time, ISO in the store's offset: created_at, cancelled_at, arrived_at
    at_ms: int  # the same, in ms (the customer's last visit)
    slot_ts: int = 0
    guide_id: str = ""  # created: the task's guide; arrived: the guide who served ("": none)
    task: bool = False  # created: the booking made a guide task
    source: str = "live"  # created: "preview" when booked from a scheduled room's preview
    brand: str = ""  # the store's brand ("": no leaderboard row)

    @property
    def member(self) -> str:
        """The store's pending member and the markers' name: ``<kind>|<booking>``."""
        return f"{self.kind.value}|{self.booking_id}"

    def room_call(self) -> KeysArgv | None:
        """The room's funnel ({room:R})."""
        if not self.room_id:
            return None
        store, room, kind = self.store_id, self.room_id, self.kind
        marker = keys.room_follow_up_applied(room, self.member)
        entry = f"{store}|{self.booking_id}"
        stats = keys.room_stats(room)
        ttl = keys.FOLLOW_UP_APPLIED_TTL_S
        if kind is FollowUpKind.CREATED:
            guide = f"guide:{store}:{self.guide_id}:tasks" if self.guide_id else ""
            return [marker, stats, keys.room_booked_slots(room)], [
                "created-room", ttl, f"total:{keys.STAT_BOOKINGS}",
                f"{store}:{keys.STAT_BOOKINGS}", self.slot_ts, entry, guide, self.source,
                f"{store}:preview_bookings",
            ]  # fmt: skip
        if kind is FollowUpKind.CANCELLED:
            return [marker, stats, keys.room_booked_slots(room)], [
                "cancelled-room", ttl, f"total:{keys.STAT_CANCELLATIONS}",
                f"{store}:{keys.STAT_CANCELLATIONS}", entry,
            ]  # fmt: skip
        guide = f"guide:{store}:{self.guide_id}:arrivals" if self.guide_id else ""
        return [marker, stats, keys.room_arrived_slots(room)], [
            "arrived-room", ttl, f"total:{keys.STAT_ARRIVALS}", f"{store}:{keys.STAT_ARRIVALS}",
            self.slot_ts, entry, guide,
        ]  # fmt: skip

    def customer_call(self) -> KeysArgv | None:
        """The customer's counters ({cust:V})."""
        viewer, store = self.viewer_id, self.store_id
        if not viewer:
            return None
        marker = keys.customer_follow_up_applied(viewer, self.member)
        profile, booked = keys.customer(viewer), keys.customer_booked_stores(viewer)
        ttl = keys.FOLLOW_UP_APPLIED_TTL_S
        if self.kind is FollowUpKind.CREATED:
            return [marker, profile, booked], [
                "created-customer", ttl, f"active:{store}", self.at, store,
            ]  # fmt: skip
        if self.kind is FollowUpKind.CANCELLED:
            return [marker, profile, booked], ["cancelled-customer", ttl, f"active:{store}", store]
        return [marker, profile], ["arrived-customer", ttl, self.at_ms]

    def board_call(self) -> KeysArgv | None:
        """The brand's leaderboard of the step's local day ({brand:B}): a booking's task,
        an arrival; a cancellation counts nothing there."""
        store, guide = self.store_id, self.guide_id
        if not self.brand or self.kind is FollowUpKind.CANCELLED:
            return None
        metric = "tasks" if self.kind is FollowUpKind.CREATED else "arrivals"
        if self.kind is FollowUpKind.CREATED and not self.task:
            return None
        fields: list[ScriptArg] = [f"s|{store}|{metric}"]
        if guide:
            fields.append(f"g|{store}|{guide}|{metric}")
        return [
            keys.brand_follow_up_applied(self.brand, self.member),
            keys.brand_leaderboard(self.brand, self.at[:10]),
        ], ["board", keys.FOLLOW_UP_APPLIED_TTL_S, keys.LEADERBOARD_RETENTION_S, *fields]

    @staticmethod
    def read(reply: list[Any]) -> tuple[Applied, int]:
        """follow_up.lua's reply: applied now or before, the room's total bookings."""
        return Applied(as_text(reply[0])), int(reply[1])


def follow_up_of(
    kind: FollowUpKind, booking_id: str, booking: Mapping[bytes, bytes], at_ms: int, brand: str
) -> FollowUp | None:
    """The follow-up a step owes, rebuilt from the booking hash (the repair pass, and a
    cancellation whose booking's own follow-ups are still pending). None: the booking is
    gone (expired) or never reached that state."""
    text = {k.decode(): v.decode() for k, v in booking.items()}
    if not text:
        return None
    at_field = {"created": "created_at", "cancelled": "cancelled_at", "arrived": "arrived_at"}
    at = text.get(at_field[kind.value], "")
    if not at:
        return None
    return FollowUp(
        kind=kind, booking_id=booking_id, store_id=text.get("store_id", ""),
        room_id=text.get("room_id", ""), viewer_id=text.get("viewer_id", ""), at=at,
        at_ms=at_ms, slot_ts=int(text.get("slot_ts") or 0),
        guide_id=text.get("task_guide" if kind is FollowUpKind.CREATED else "arrived_guide", ""),
        task="task_guide" in text, source=text.get("source") or "live", brand=brand,
    )  # fmt: skip


class KillSwitch:
    """Tests only (:data:`KILL_SWITCH_ENV`): SIGKILL this process after the n-th step of
    one kind, before its follow-ups."""

    def __init__(self, spec: str) -> None:
        kind, _, n = spec.partition(":")
        self.kind = FollowUpKind(kind)
        self.left = int(n or 1)

    @classmethod
    def from_env(cls) -> KillSwitch | None:
        spec = os.environ.get(KILL_SWITCH_ENV, "")
        return cls(spec) if spec else None

    def step_done(self, kind: FollowUpKind) -> None:
        if kind is not self.kind:
            return
        self.left -= 1
        if self.left <= 0:
            log.warning("%s: killing this process before the %s follow-ups", KILL_SWITCH_ENV, kind)
            os.kill(os.getpid(), signal.SIGKILL)


class FollowUps:
    """Applies follow-ups (one follow_up.lua call per tag, concurrently) and confirms them."""

    def __init__(self, redis: RedisClient, kill_switch: KillSwitch | None = None) -> None:
        self.redis = redis
        self._call = FOLLOW_UP.bind(redis)
        self.kill_switch = kill_switch

    def step_done(self, kind: FollowUpKind) -> None:
        """The step on the store's tag succeeded; its follow-ups come next (tests may
        crash here, see :data:`KILL_SWITCH_ENV`)."""
        if self.kill_switch is not None:
            self.kill_switch.step_done(kind)

    async def apply(self, follow_up: FollowUp) -> int:
        """Count the follow-up on every tag (once, whoever else runs it), then remove it
        from the store's pending set. Answers the room's total bookings (created)."""
        calls = [
            call
            for call in (follow_up.room_call(), follow_up.customer_call(), follow_up.board_call())
            if call is not None
        ]
        replies = await asyncio.gather(*(self._call(*call) for call in calls))
        await self.redis.zrem(keys.store_follow_ups(follow_up.store_id), follow_up.member)
        total = 0
        if follow_up.room_id and replies:
            _applied, total = FollowUp.read(replies[0])
        return total

    async def booking(self, store_id: str, booking_id: str) -> dict[bytes, bytes]:
        return raw_hash(await self.redis.hgetall(keys.store_booking(store_id, booking_id)))

    async def pending(
        self, store_ids: list[str], before_ms: int, count: int
    ) -> list[tuple[str, list[tuple[str, int]]]]:
        """Each store's pending members older than ``before_ms`` (oldest first, at most
        ``count`` a store), stores with none left out: one pipeline (split per node)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for store_id in store_ids:
                pipe.zrangebyscore(
                    keys.store_follow_ups(store_id), "-inf", before_ms, start=0, num=count,
                    withscores=True,
                )  # fmt: skip
            replies = await pipe.execute()
        return [
            (store_id, [(as_text(member), int(score)) for member, score in scored(reply)])
            for store_id, reply in zip(store_ids, replies, strict=True)
            if reply
        ]

    async def forget(self, store_id: str, member: str) -> None:
        await self.redis.zrem(keys.store_follow_ups(store_id), member)

    async def take_lease(self, holder: str, ms: int) -> bool:
        """This interval's repair pass, for one process across every node."""
        return bool(await self.redis.set(keys.FOLLOW_UP_REPAIR_LEASE, holder, nx=True, px=ms))


class FollowUpRepair(Periodic):
    """Applies the follow-ups a crash left pending (older than ``grace_s``: a live request
    finishes its own well within that), every ``interval_s``, on one process at a time."""

    name = "follow-up-repair"

    def __init__(
        self, follow_ups: FollowUps, stores: StoreRegistry, *, interval_s: float,
        grace_s: float, batch: int = 500,
    ) -> None:  # fmt: skip
        super().__init__(interval_s)
        self.follow_ups = follow_ups
        self.stores = stores  # every store in the registry, open or closed, is looked at
        self.grace_ms = int(grace_s * 1000)
        self.batch = batch
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    async def run_once(self, now: int | None = None, *, lease: bool = True) -> int:
        """One pass: answers how many follow-ups it applied (tests call it directly)."""
        now = now_ms() if now is None else now
        if lease and not await self.follow_ups.take_lease(
            self.holder, max(1, int(self.interval_s * 1000))
        ):
            return 0
        ids = sorted(store.id for store in self.stores.all())
        repaired = 0
        for start in range(0, len(ids), self.batch):
            found = await self.follow_ups.pending(
                ids[start : start + self.batch], now - self.grace_ms, 100
            )
            for store_id, members in found:
                for member, at_ms in members:  # oldest first: a booking before its cancellation
                    repaired += await self._repair(store_id, member, at_ms, now)
        if repaired:
            log.warning("follow-up repair: applied %d follow-ups left by a crash", repaired)
        return repaired

    async def _repair(self, store_id: str, member: str, at_ms: int, now: int) -> int:
        kind_text, _, booking_id = member.partition("|")
        try:
            kind = FollowUpKind(kind_text)
        except ValueError:
            log.error("follow-up repair: unknown member %r at store %s", member, store_id)
            await self.follow_ups.forget(store_id, member)
            return 0
        if now - at_ms > keys.FOLLOW_UP_GIVE_UP_MS:
            log.error("follow-up repair: %s at store %s too old, dropped", member, store_id)
            await self.follow_ups.forget(store_id, member)
            return 0
        store = self.stores.get(store_id)
        booking = await self.follow_ups.booking(store_id, booking_id)
        follow_up = follow_up_of(kind, booking_id, booking, at_ms, store.brand if store else "")
        if follow_up is None:
            await self.follow_ups.forget(store_id, member)
            return 0
        await self.follow_ups.apply(follow_up)
        return 1
