"""Reads the room's funnel counters and counts booking taps (Redis access of stats)."""

from __future__ import annotations

from datetime import UTC, datetime

from live_server.core import keys
from live_server.core.errors import ValidationFailed
from live_server.core.redis_conn import RedisClient
from live_server.rooms.service import RoomService
from live_server.stats.funnel import build_report
from live_server.stats.models import RoomStats
from live_server.stores.store import StoreRegistry


class StatsService:
    """The funnel of one room, and the tap counter the widget calls."""

    def __init__(
        self, redis: RedisClient, rooms: RoomService, stores: StoreRegistry, store_share: float
    ) -> None:
        self.redis = redis
        self.rooms = rooms
        self.stores = stores
        self.store_share = store_share

    async def report(self, room_id: str) -> RoomStats:
        await self.rooms.status(room_id)  # 404 for an unknown room
        # All of one tag ({room:R}). PFCOUNT stays out of the pipeline: redis-py's
        # cluster pipeline refuses it, so it is a call of its own on both kinds of client.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.room_stats(room_id))
            pipe.hgetall(keys.room_viewers(room_id))
            raw, per_node = await pipe.execute()
        unique = await self.redis.pfcount(keys.room_unique_viewers(room_id))
        tappers = await self.redis.pfcount(keys.room_tappers(room_id))
        return build_report(
            room_id,
            datetime.now(UTC).isoformat(timespec="seconds"),
            raw,
            store_share=self.store_share,
            viewers_peak=_current_viewers(per_node),
            viewers_unique=int(unique),
            unique_tappers=int(tappers),
            store_name=self._store_name,
        )

    def _store_name(self, store_id: str) -> str | None:
        store = self.stores.get(store_id)
        return store.name if store is not None else None

    async def tap(self, room_id: str, viewer_id: str, store_id: str | None) -> int:
        """Count one booking-button tap (and the tapper, once); returns the room's taps."""
        await self.rooms.status(room_id)
        if store_id is not None and self.stores.get(store_id) is None:
            raise ValidationFailed(f"store_id: no store {store_id!r}")
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
