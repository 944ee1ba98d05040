"""Redis access of stats: the room's funnel counters and viewer numbers, the tap counter.
Every key is of the room's tag ({room:R})."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from live_server.core import keys
from live_server.core.redis_conn import RedisClient


@dataclass(frozen=True, slots=True)
class FunnelCounters:
    """What the room's funnel report is built from."""

    counters: Mapping[bytes | str, bytes | str]  # the stats hash: "<scope>:<counter>" -> n
    viewers_now: int  # the sum of the nodes' current viewer counts
    viewers_unique: int
    unique_tappers: int


class StatsStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def funnel(self, room_id: str) -> FunnelCounters:
        # PFCOUNT stays out of the pipeline: redis-py's cluster pipeline refuses it, so it
        # is a call of its own on both kinds of client.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.room_stats(room_id))
            pipe.hgetall(keys.room_viewers(room_id))
            counters, per_node = await pipe.execute()
        unique = await self.redis.pfcount(keys.room_unique_viewers(room_id))
        tappers = await self.redis.pfcount(keys.room_tappers(room_id))
        return FunnelCounters(
            counters=counters,
            viewers_now=_current_viewers(per_node),
            viewers_unique=int(unique),
            unique_tappers=int(tappers),
        )

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


def _current_viewers(per_node: dict[bytes, bytes]) -> int:
    """Sum of the nodes' counts (values are ``"<count>:<heartbeat ms>"``)."""
    total = 0
    for value in per_node.values():
        head = value.split(b":", 1)[0]
        if head.isdigit():
            total += int(head)
    return total
