"""Redis access of guides and tasks: the roster, task reads, the scripts that move a task
(action.lua, fire.lua; book.lua, cancel.lua and arrive.lua make and end tasks with the
same tk_* functions), orders, the store's webhook, and the follow-up counters.

Every key of a store's guides, tasks, timers and orders carries its tag ``{store:S}``;
the room's guide counters (``{room:R}``), the brand's leaderboard (``{brand:B}``) and the
customer (``{cust:V}``) are follow-ups run once by the call whose script made the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import raw_hash
from live_server.core.scripts import KeysArgv, Script
from live_server.core.util import as_text
from live_server.guides.models import TASK_LUA, booking_of_task, task_keys

ROSTER = Script(__file__, "roster.lua", libraries=[TASK_LUA])
ACTION = Script(__file__, "action.lua", libraries=[TASK_LUA])
FIRE = Script(__file__, "fire.lua", libraries=[TASK_LUA])
ORDER = Script(__file__, "order.lua")
DUE_BATCH = 100


@dataclass(frozen=True, slots=True)
class ActionCall:
    """action.lua's named parameters."""

    store_id: str
    task_id: str
    action: str  # accept|contact|no_show|reassign
    role: str  # guide|manager
    actor: str
    now_iso: str
    now_ms: int
    accept_ms: int
    to_guide: str = ""

    def keys_argv(self) -> KeysArgv:
        return [
            *task_keys(self.store_id, self.task_id), keys.store_stream(self.store_id),
            keys.store_booking(self.store_id, booking_of_task(self.task_id)),
        ], [
            self.action, self.role, self.actor, self.now_iso, self.now_ms, self.accept_ms,
            self.to_guide,
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Outcome:
    """A script's reply: its kind and the rest as text."""

    kind: str
    values: tuple[str, ...]

    @classmethod
    def read(cls, reply: Sequence[Any]) -> Outcome:
        return cls(as_text(reply[0]), tuple(as_text(v) for v in reply[1:]))


@dataclass(frozen=True, slots=True)
class OrderCall:
    store_id: str
    order_id: str
    amount_cents: int
    booking_id: str
    coupon_code: str
    viewer_id: str
    store_share: float
    now_iso: str
    now_ms: int
    fingerprint: str
    room_id: str
    expire_at: int

    def keys_argv(self) -> KeysArgv:
        booking = self.booking_id or "-"
        return [
            keys.store_order(self.store_id, self.order_id),
            keys.store_booking(self.store_id, booking),
            keys.store_task(self.store_id, f"t_{booking}"), keys.store_stream(self.store_id),
        ], [
            self.order_id, self.amount_cents, self.booking_id, self.coupon_code,
            self.viewer_id, self.store_share, self.now_iso, self.now_ms, self.fingerprint,
            self.room_id, self.expire_at,
        ]  # fmt: skip


class GuideStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._roster = ROSTER.bind(redis)
        self._action = ACTION.bind(redis)
        self._fire = FIRE.bind(redis)
        self._order = ORDER.bind(redis)

    # --- roster ----------------------------------------------------------------------------
    async def set_roster(self, store_id: str, guides: Iterable[dict[str, Any]]) -> int:
        argv: list[str | bytes] = []
        for guide in guides:
            argv += [guide["id"], orjson.dumps(guide), "1" if guide["active"] else "0"]
        return int(
            await self._roster([*task_keys(store_id, "t_-"), keys.store_guides(store_id)], argv)
        )

    async def roster(self, store_id: str) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
        """The roster (id -> record) and every guide's open tasks."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.store_guides(store_id))
            pipe.hgetall(keys.store_guide_meta(store_id))
            guides, meta = await pipe.execute()
        roster = {as_text(k): orjson.loads(v) for k, v in guides.items()}
        open_tasks = {
            as_text(k)[5:]: int(v) for k, v in meta.items() if as_text(k).startswith("open:")
        }
        return roster, open_tasks

    # --- tasks -----------------------------------------------------------------------------
    async def task(self, store_id: str, task_id: str) -> dict[bytes, bytes]:
        return raw_hash(await self.redis.hgetall(keys.store_task(store_id, task_id)))

    async def tasks_between(
        self, store_id: str, lo_s: float, hi_s: float
    ) -> list[dict[bytes, bytes]]:
        """The store's tasks whose slot starts in [lo, hi) (unix s), by slot."""
        ids = await self.redis.zrangebyscore(keys.store_tasks(store_id), lo_s, f"({hi_s}")
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hgetall(keys.store_task(store_id, as_text(task_id)))
            found = await pipe.execute()
        return [raw_hash(h) for h in found if h]

    async def act(self, call: ActionCall) -> Outcome:
        return Outcome.read(await self._action(*call.keys_argv()))

    # --- timers ----------------------------------------------------------------------------
    async def due(self, store_ids: Sequence[str], now_ms: int) -> dict[str, list[str]]:
        """Due timer members per store (at most DUE_BATCH each), one pipelined pass."""
        if not store_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for store_id in store_ids:
                pipe.zrangebyscore(
                    keys.store_task_timers(store_id), "-inf", now_ms, start=0, num=DUE_BATCH
                )
            found = await pipe.execute()
        return {s: [as_text(m) for m in f] for s, f in zip(store_ids, found, strict=True) if f}

    async def fire(
        self, store_id: str, member: str, now_iso: str, now_ms: int, accept_ms: int
    ) -> Outcome:
        task_id = member.partition("|")[2]
        try:
            booking_key = keys.store_booking(store_id, booking_of_task(task_id))
        except Exception:  # not a task id: drop the member
            await self.redis.zrem(keys.store_task_timers(store_id), member)
            return Outcome("skip", ("",))
        reply = await self._fire(
            [*task_keys(store_id, task_id), keys.store_stream(store_id), booking_key],
            [member, now_iso, now_ms, accept_ms],
        )
        return Outcome.read(reply)

    # --- orders ----------------------------------------------------------------------------
    async def record_order(self, call: OrderCall) -> tuple[str, list[Any]]:
        reply = await self._order(*call.keys_argv())
        return as_text(reply[0]), list(reply[1:])

    # --- follow-ups (other tags) ---------------------------------------------------------------
    async def count(
        self, *, room_id: str, store_id: str, guide_id: str, brand: str, day: str,
        metrics: dict[str, int], viewer_id: str = "", customer: dict[str, int] | None = None,
    ) -> None:  # fmt: skip
        """Bump the room's guide row, the brand's leaderboard of the day (guide and store)
        and the customer's profile: one pipeline of idempotent-enough increments."""
        board = keys.brand_leaderboard(brand, day)
        async with self.redis.pipeline(transaction=False) as pipe:
            for metric, n in metrics.items():
                if room_id and guide_id:
                    pipe.hincrby(
                        keys.room_stats(room_id), f"guide:{store_id}:{guide_id}:{metric}", n
                    )
                if guide_id:
                    pipe.hincrby(board, f"g|{store_id}|{guide_id}|{metric}", n)
                pipe.hincrby(board, f"s|{store_id}|{metric}", n)
            pipe.expire(board, keys.LEADERBOARD_RETENTION_S)
            for field, n in (customer or {}).items():
                pipe.hincrby(keys.customer(viewer_id), field, n)
            await pipe.execute()

    async def count_room_sale(
        self, room_id: str, store_id: str, cents: int, live_cents: int
    ) -> None:
        """The room's sales from its bookings (the credit split's basis in its stats)."""
        stats = keys.room_stats(room_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(stats, "total:sales_cents", cents)
            pipe.hincrby(stats, f"{store_id}:sales_cents", cents)
            pipe.hincrby(stats, "total:live_credit_cents", live_cents)
            pipe.hincrby(stats, f"{store_id}:live_credit_cents", live_cents)
            await pipe.execute()

    async def leaderboard_days(self, brand: str, days: Sequence[str]) -> list[dict[str, int]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for day in days:
                pipe.hgetall(keys.brand_leaderboard(brand, day))
            found = await pipe.execute()
        return [{as_text(k): int(v) for k, v in h.items()} for h in found]

    async def room_guide_counters(self, room_id: str) -> dict[str, int]:
        raw = await self.redis.hgetall(keys.room_stats(room_id))
        return {
            as_text(k): int(float(v)) for k, v in raw.items() if as_text(k).startswith("guide:")
        }

    async def customer(self, viewer_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(keys.customer(viewer_id))
        return {as_text(k): as_text(v) for k, v in raw.items()}

    async def customer_groups(self, viewer_id: str) -> list[str]:
        """The community groups the customer is a member of (OneID, the groups domain)."""
        found = await self.redis.smembers(keys.customer_groups(viewer_id))
        return sorted(as_text(g) for g in found)

    async def customer_rooms(self, viewer_id: str) -> list[str]:
        return sorted(as_text(r) for r in await self.redis.smembers(keys.customer_rooms(viewer_id)))
