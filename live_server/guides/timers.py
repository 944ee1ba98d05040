"""Task timers: accept window, reminder, no-show. Each is a member of the store's timer set
(``keys.store_task_timers``), written in the same step as its task, so it survives a
restart with Redis. Every node looks for due members about once a second and fires each
with fire.lua, which removes the member in the same step as it acts: on many nodes, a
timer fires once.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from redis.exceptions import RedisError

from live_server.core.metrics import Metrics
from live_server.core.tasks import Periodic
from live_server.core.util import now_ms
from live_server.guides.models import TaskTimes
from live_server.guides.store import GuideStore, Outcome
from live_server.stores.store import StoreRegistry

log = logging.getLogger(__name__)


class TaskTimers(Periodic):
    """One per process: finds due timers of every store and fires them."""

    name = "task-timers"

    def __init__(
        self, store: GuideStore, stores: StoreRegistry, times: TaskTimes, poll_s: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:  # fmt: skip
        super().__init__(poll_s)
        self.store = store
        self.stores = stores
        self.times = times
        self.fired: dict[str, int] = {}
        """outcome kind -> timers this process fired (tests and the log read it)."""
        self.counted = (
            metrics.counter(
                "live_task_timers_total",
                "Task timers fired: reassigned (not accepted in time), overdue (no other "
                "guide: the manager is told), reminded, no_show, skip (nothing left to do), "
                "gone (another node fired it)",
                ("outcome",),
            )
            if metrics is not None
            else None
        )

    async def run_once(self, at_ms: int | None = None) -> list[tuple[str, Outcome]]:
        """Fire every timer due at ``at_ms`` (now); answers (store, outcome) of each."""
        at_ms = now_ms() if at_ms is None else at_ms
        stores = {s.id: s for s in self.stores.all()}
        fired: list[tuple[str, Outcome]] = []
        due = await self.store.due(list(stores), at_ms)
        for store_id, members in due.items():
            store = stores[store_id]
            now = datetime.fromtimestamp(at_ms / 1000, store.tz)
            for member in members:
                outcome = await self.store.fire(
                    store_id, member, now.isoformat(timespec="milliseconds"), at_ms,
                    self.times.accept_s * 1000,
                )  # fmt: skip
                self.fired[outcome.kind] = self.fired.get(outcome.kind, 0) + 1
                if self.counted is not None:
                    self.counted.labels(outcome.kind).inc()
                fired.append((store_id, outcome))
                if outcome.kind == "no_show":
                    with contextlib.suppress(RedisError):
                        await self._count_no_show(store_id, member, now)
                elif outcome.kind in ("reassigned", "overdue"):
                    log.info("task %s not accepted in time: %s", member, outcome.kind)
        return fired

    async def _count_no_show(self, store_id: str, member: str, now: datetime) -> None:
        store = self.stores.get(store_id)
        raw = await self.store.task(store_id, member.partition("|")[2])
        if store is None or not raw:
            return
        await self.store.count(
            room_id=raw.get(b"room_id", b"").decode(), store_id=store_id,
            guide_id=raw.get(b"guide_id", b"").decode(), brand=store.brand,
            day=now.date().isoformat(), metrics={"no_shows": 1},
            viewer_id=raw.get(b"viewer_id", b"").decode(), customer={"no_shows": 1},
        )  # fmt: skip
