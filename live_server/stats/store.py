"""Redis access of stats: the room's funnel counters and viewer numbers, the tap counter.
Every key is of the room's tag ({room:R})."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.util import as_text


@dataclass(frozen=True, slots=True)
class FunnelCounters:
    """What the room's funnel report is built from."""

    counters: Mapping[bytes | str, bytes | str]  # the stats hash: "<scope>:<counter>" -> n
    viewers_now: int  # the sum of the nodes' current viewer counts
    viewers_unique: int
    unique_tappers: int
    due: dict[str, tuple[int, int]]
    """per scope ("total", store ids): bookings not cancelled whose slot has started, and
    how many of them arrived"""


class StatsStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def funnel(self, room_id: str) -> FunnelCounters:
        # PFCOUNT stays out of the pipeline: redis-py's cluster pipeline refuses it, so it
        # is a call of its own on both kinds of client.
        now_s = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.room_stats(room_id))
            pipe.hgetall(keys.room_viewers(room_id))
            pipe.zrangebyscore(keys.room_booked_slots(room_id), "-inf", now_s)
            pipe.zrange(keys.room_arrived_slots(room_id), 0, -1)  # early arrivals count
            counters, per_node, booked, arrived = await pipe.execute()
        unique = await self.redis.pfcount(keys.room_unique_viewers(room_id))
        tappers = await self.redis.pfcount(keys.room_tappers(room_id))
        return FunnelCounters(
            counters=counters,
            viewers_now=_current_viewers(per_node),
            viewers_unique=int(unique),
            unique_tappers=int(tappers),
            due=_due(booked, arrived),
        )

    async def guide_names(self, store_ids: list[str]) -> dict[tuple[str, str], str]:
        """(store, guide) -> the guide's name, from the stores' rosters."""
        if not store_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for store_id in store_ids:
                pipe.hgetall(keys.store_guides(store_id))
            rosters = await pipe.execute()
        names = {}
        for store_id, roster in zip(store_ids, rosters, strict=True):
            for guide_id, record in roster.items():
                names[(store_id, as_text(guide_id))] = str(orjson.loads(record).get("name", ""))
        return names

    async def count_tap(self, room_id: str, viewer_id: str, store_id: str | None) -> int:
        """One booking-button tap (and the tapper, once); answers the room's taps."""
        stats = keys.room_stats(room_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(stats, f"total:{keys.STAT_BOOKING_TAPS}", 1)
            pipe.pfadd(keys.room_tappers(room_id), viewer_id)
            if store_id is not None:
                pipe.hincrby(stats, f"{store_id}:{keys.STAT_BOOKING_TAPS}", 1)
            replies = await pipe.execute()
        return int(replies[0])


def _due(booked: list[bytes], arrived: list[bytes]) -> dict[str, tuple[int, int]]:
    """Bookings whose outcome is known (the slot has started, or the customer came early)
    and their arrivals, per store and in total (members are ``"<store>|<booking>"``)."""
    came = {as_text(m) for m in arrived}
    out: dict[str, list[int]] = {"total": [0, 0]}
    for member in {as_text(m) for m in booked} | came:
        row = out.setdefault(member.partition("|")[0], [0, 0])
        for r in (row, out["total"]):
            r[0] += 1
            r[1] += member in came
    return {k: (v[0], v[1]) for k, v in out.items()}


def _current_viewers(per_node: dict[bytes, bytes]) -> int:
    """Sum of the nodes' counts (values are ``"<count>:<heartbeat ms>"``)."""
    total = 0
    for value in per_node.values():
        head = value.split(b":", 1)[0]
        if head.isdigit():
            total += int(head)
    return total
