"""Redis access of the group channel: member events, join-gift decisions, the per-group
outbox and its delivery states, store posts, automations, timers. One builder per script
(KEYS and ARGV from named parameters); every script touches one hash tag
(``{group:G}``, ``{store:S}`` or ``{gtimers}``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from redis.exceptions import ResponseError

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import entries, scored
from live_server.core.scripts import Script
from live_server.core.util import as_text

MEMBER = Script(__file__, "member.lua")
ENQUEUE = Script(__file__, "enqueue.lua")
SETTLE = Script(__file__, "settle.lua")
FIRE = Script(__file__, "fire.lua")


@dataclass(frozen=True, slots=True)
class MemberOutcome:
    """member.lua's answer."""

    applied: bool
    changed: bool
    gift: bool
    viewer_id: str


class Settlement(StrEnum):
    """What one delivery attempt came to (settle.lua)."""

    DELIVERED = "delivered"
    SKIPPED = "skipped"  # the group has no callback_url
    RETRYING = "retrying"
    DEAD = "dead"


class GroupStore:
    """Reads and writes of the groups domain (no rules, no events)."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._member = MEMBER.bind(redis)
        self._enqueue = ENQUEUE.bind(redis)
        self._settle = SETTLE.bind(redis)
        self._fire = FIRE.bind(redis)

    # --- members -------------------------------------------------------------------------
    async def member_event(
        self, *, group_id: str, event_id: str, kind: str, member_id: str, viewer_id: str,
        name: str, at_ms: int, gift_on: bool, holder: str,
    ) -> MemberOutcome:  # fmt: skip
        reply = await self._member(
            [keys.group_seen(group_id), keys.group_members(group_id), keys.group_stats(group_id),
             keys.group_gifted(group_id), keys.group_gifts_pending(group_id)],
            [event_id, kind, member_id, viewer_id, name, at_ms, "1" if gift_on else "0", holder],
        )  # fmt: skip
        return MemberOutcome(
            bool(int(reply[0])), bool(int(reply[1])), bool(int(reply[2])), as_text(reply[3])
        )

    async def prefer_guide(self, store_id: str, viewer_id: str, guide_id: str) -> None:
        """The group's owner guide becomes the member's guide at the group's store: the
        guides' affinity hash (``keys.store_guide_of``, GUIDES.md), which book.lua reads
        first. Never over a guide who has served the customer since (HSETNX)."""
        await self.redis.hsetnx(keys.store_guide_of(store_id), viewer_id, guide_id)

    async def set_customer_group(self, viewer_id: str, group_id: str, member: bool) -> None:
        """The idempotent follow-up on the customer's tag (OneID: who is in which group)."""
        if member:
            await self.redis.sadd(keys.customer_groups(viewer_id), group_id)
        else:
            await self.redis.srem(keys.customer_groups(viewer_id), group_id)

    async def customer_groups(self, viewer_id: str) -> set[str]:
        return {as_text(g) for g in await self.redis.smembers(keys.customer_groups(viewer_id))}

    async def member_of_viewer(self, group_id: str, viewer_id: str) -> str | None:
        found = await self.redis.hget(keys.group_members(group_id), f"v:{viewer_id}")
        return as_text(found) if found else None

    # --- join gifts ----------------------------------------------------------------------
    async def gift_config(self, group_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(keys.group_gift(group_id))
        if not raw:
            return None
        f = {as_text(k): as_text(v) for k, v in raw.items()}
        return {
            "campaign_id": f["campaign_id"], "title": f["title"], "value": float(f["value"]),
            "valid_days": int(f["valid_days"]), "store_ids": orjson.loads(f["store_ids"]),
        }  # fmt: skip

    async def put_gift_config(self, group_id: str, gift: dict[str, Any]) -> None:
        await self.redis.hset(keys.group_gift(group_id), mapping={
            "campaign_id": gift["campaign_id"], "title": gift["title"],
            "value": repr(float(gift["value"])), "valid_days": str(gift["valid_days"]),
            "store_ids": orjson.dumps(gift["store_ids"]),
        })  # fmt: skip

    async def gifts_pending(self, group_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(keys.group_gifts_pending(group_id))
        return {as_text(k): as_text(v) for k, v in raw.items()}

    async def gift_sent(self, group_id: str, holder: str, code: str) -> None:
        """The gift's notice is queued: the holder's code, and nothing left to repair."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.group_gifted(group_id), holder, code)
            pipe.hdel(keys.group_gifts_pending(group_id), holder)
            await pipe.execute()

    # --- outbox --------------------------------------------------------------------------
    async def enqueue(
        self, group_id: str, notice_key: str, kind: str, body: dict[str, Any], now_ms: int
    ) -> bool:
        """Queue a notice once (by key); True when queued now. Lists the group for the
        delivery workers (an idempotent follow-up on another tag)."""
        reply = await self._enqueue(
            [keys.group_notices(group_id), keys.group_outbox(group_id)],
            [notice_key, kind, orjson.dumps(body), now_ms],
        )
        await self.redis.sadd(keys.GROUP_OUTBOXES, group_id)
        return bool(int(reply[1]))

    async def settle(
        self, *, group_id: str, entry_id: str, notice_key: str, outcome: Settlement,
        attempts: int, error: str, now_ms: int, kind: str, body: str,
    ) -> None:  # fmt: skip
        await self._settle(
            [keys.group_outbox(group_id), keys.group_notices(group_id),
             keys.group_outbox_dead(group_id)],
            [entry_id, notice_key, outcome.value, attempts, error[:300], now_ms, kind, body,
             keys.GROUP_OUTBOX_GROUP],
        )  # fmt: skip

    async def outbox_groups(self) -> list[str]:
        return sorted(as_text(g) for g in await self.redis.smembers(keys.GROUP_OUTBOXES))

    async def ensure_outbox(self, group_id: str) -> None:
        try:
            await self.redis.xgroup_create(
                keys.group_outbox(group_id), keys.GROUP_OUTBOX_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def notice_states(self, group_id: str, notice_keys: list[str]) -> list[dict[str, Any]]:
        if not notice_keys:
            return []
        found = await self.redis.hmget(keys.group_notices(group_id), notice_keys)
        return [orjson.loads(v) if v else {} for v in found]

    async def dead_letters(self, group_id: str, count: int = 20) -> list[dict[str, str]]:
        found = entries(await self.redis.xrevrange(keys.group_outbox_dead(group_id), count=count))
        return [
            {"id": as_text(i), **{as_text(k): as_text(v) for k, v in f.items()}} for i, f in found
        ]

    # --- store posts ---------------------------------------------------------------------
    async def save_post(self, store_id: str, post: dict[str, Any], created_ms: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:  # one tag: {store:S}
            pipe.hset(keys.store_post(store_id, post["post_id"]), mapping={
                k: orjson.dumps(v) for k, v in post.items()
            })  # fmt: skip
            pipe.zadd(keys.store_posts(store_id), {post["post_id"]: created_ms})
            await pipe.execute()

    async def post(self, store_id: str, post_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(keys.store_post(store_id, post_id))
        return {as_text(k): orjson.loads(v) for k, v in raw.items()} if raw else None

    async def mark_post_sent(self, store_id: str, post_id: str) -> None:
        await self.redis.hset(keys.store_post(store_id, post_id), "status", orjson.dumps("sent"))

    async def post_ids(self, store_id: str, limit: int = 100) -> list[str]:
        found = await self.redis.zrevrange(keys.store_posts(store_id), 0, limit - 1)
        return [as_text(p) for p in found]

    # --- automations ---------------------------------------------------------------------
    async def automations(self, brand: str) -> list[dict[str, Any]]:
        raw = await self.redis.get(keys.brand_automations(brand))
        return list(orjson.loads(raw)) if raw else []

    async def put_automations(self, brand: str, automations: list[dict[str, Any]]) -> None:
        await self.redis.set(keys.brand_automations(brand), orjson.dumps(automations))

    async def first_visit(self, viewer_id: str, at_ms: int) -> bool:
        """True the first time a check-in of this customer is seen (once, ever)."""
        return bool(await self.redis.hsetnx(keys.GROUP_FIRST_VISITS, viewer_id, at_ms))

    # --- timers --------------------------------------------------------------------------
    async def arm(self, member: str, due_ms: int) -> None:
        await self.redis.zadd(keys.GROUP_TIMERS, {member: due_ms})

    async def take_due(self, now_ms: int, batch: int = 100) -> list[str]:
        taken = await self._fire(
            [keys.GROUP_TIMERS, keys.GROUP_TIMERS_FIRING],
            [now_ms, keys.GROUP_TIMER_LEASE_MS, batch],
        )
        return [as_text(m) for m in taken]

    async def done(self, member: str) -> None:
        await self.redis.hdel(keys.GROUP_TIMERS_FIRING, member)

    async def schedule_room(self, brand: str, room_id: str, scheduled_ms: int) -> None:
        await self.redis.zadd(keys.brand_scheduled_rooms(brand), {room_id: scheduled_ms})

    async def scheduled_rooms(self, brand: str, after_ms: int) -> list[tuple[str, int]]:
        found = await self.redis.zrangebyscore(
            keys.brand_scheduled_rooms(brand), after_ms, "+inf", start=0, num=20, withscores=True
        )
        return [(as_text(m), int(s)) for m, s in scored(found)]

    async def timers(self) -> list[tuple[str, int]]:
        found = await self.redis.zrange(keys.GROUP_TIMERS, 0, -1, withscores=True)
        return [(as_text(m), int(s)) for m, s in scored(found)]

    # --- stats ---------------------------------------------------------------------------
    async def count(self, group_id: str, field: str, by: int = 1) -> None:
        await self.redis.hincrby(keys.group_stats(group_id), field, by)

    async def count_once(self, group_id: str, field: str, dedupe: str) -> None:
        """Count an event read from a store stream once per group (consumer groups deliver
        at least once): the entry id is remembered in the group's seen hash."""
        if await self.redis.hsetnx(keys.group_seen(group_id), f"stream:{dedupe}", "1"):
            await self.redis.hincrby(keys.group_stats(group_id), field, 1)

    async def stats(self, group_id: str) -> dict[str, int]:
        raw = await self.redis.hgetall(keys.group_stats(group_id))
        return {as_text(k): int(v) for k, v in raw.items()}

    async def campaign_redeemed(self, campaign_id: str) -> int:
        """Redemptions of a join gift's campaign (the coupons domain's counter)."""
        found = await self.redis.hget(keys.campaign(campaign_id), "redeemed")
        return int(found or 0)
