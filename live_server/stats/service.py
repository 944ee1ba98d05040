"""The funnel report of one room and the tap counter the widget calls (rules on top of
:class:`~live_server.stats.store.StatsStore`; the arithmetic is ``funnel``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from live_server.core.errors import ValidationFailed
from live_server.core.redis_conn import RedisClient
from live_server.core.util import as_text
from live_server.guides.models import guide_rows
from live_server.rooms.service import RoomService
from live_server.stats.funnel import build_report
from live_server.stats.models import RoomStats
from live_server.stats.store import StatsStore
from live_server.stores.store import StoreRegistry


class StatsService:
    """The funnel of one room, and the tap counter the widget calls."""

    def __init__(
        self, redis: RedisClient, rooms: RoomService, stores: StoreRegistry, store_share: float
    ) -> None:
        self.store = StatsStore(redis)
        self.rooms = rooms
        self.stores = stores
        self.store_share = store_share
        self.group_rows: Callable[[str], Awaitable[list[dict[str, Any]]]] | None = None
        """The groups domain's per-group counters of a brand (linked in live_server.app)."""

    async def report(self, room_id: str) -> RoomStats:
        await self.rooms.status(room_id)  # 404 for an unknown room
        funnel = await self.store.funnel(room_id)
        guide_counters: dict[str, dict[str, int]] = {}
        for field, value in funnel.counters.items():
            scope, _, rest = as_text(field).partition(":")
            if scope == "guide" and rest.count(":") == 2:
                store_id, guide_id, metric = rest.split(":")
                guide_counters.setdefault(f"{store_id}|{guide_id}", {})[metric] = int(float(value))
        names = await self.store.guide_names(
            sorted({scope.partition("|")[0] for scope in guide_counters})
        )
        report = build_report(
            room_id,
            datetime.now(UTC).isoformat(timespec="seconds"),
            funnel.counters,
            store_share=self.store_share,
            viewers_peak=funnel.viewers_now,
            viewers_unique=funnel.viewers_unique,
            unique_tappers=funnel.unique_tappers,
            store_name=self._store_name,
            due=funnel.due,
            guides=guide_rows(guide_counters, names),
        )
        if self.group_rows is not None:
            room = await self.rooms.get(room_id)
            report.groups = await self.group_rows(room.brand)
        return report

    def _store_name(self, store_id: str) -> str | None:
        store = self.stores.get(store_id)
        return store.name if store is not None else None

    async def tap(self, room_id: str, viewer_id: str, store_id: str | None) -> int:
        """Count one booking-button tap (and the tapper, once); returns the room's taps."""
        await self.rooms.status(room_id)
        if store_id is not None and self.stores.get(store_id) is None:
            raise ValidationFailed(f"store_id: no store {store_id!r}")
        return await self.store.count_tap(room_id, viewer_id, store_id)
