"""Retention of store streams: a background task trims each store's stream by age
(``XTRIM MINID``) but never below what any consumer group still needs: the oldest entry
pending in it, or the first one not yet delivered to it. The floor is computed and the
trim done in one Lua call, so a delivery cannot slip in between."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.tasks import cancel_and_wait, cancel_requested

log = logging.getLogger(__name__)

_TRIM = (Path(__file__).parent / "trim.lua").read_text()


@dataclass(frozen=True, slots=True)
class TrimResult:
    store_id: str
    trimmed: int
    min_id: str


class StreamRetention:
    """Trims store streams; ``run`` loops over the store ids every ``interval_s``."""

    def __init__(
        self,
        redis: RedisClient,
        store_ids: Callable[[], Iterable[str]],
        *,
        max_age_ms: int = keys.STORE_STREAM_MAX_AGE_MS,
        interval_s: float = 300.0,
        approximate: bool = True,
    ) -> None:
        self.redis = redis
        self.store_ids = store_ids
        self.max_age_ms = max_age_ms
        self.interval_s = interval_s
        self.approximate = approximate  # "~": whole macro nodes only, far cheaper
        self._trim = redis.register_script(_TRIM)
        self._task: asyncio.Task[None] | None = None

    async def trim(self, store_id: str, now_ms: int | None = None) -> TrimResult:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = f"{max(0, now_ms - self.max_age_ms)}-0"
        trimmed, min_id = await self._trim(
            keys=[keys.store_stream(store_id), keys.store_dead_letter(store_id)],
            args=[cutoff, "~" if self.approximate else "="],
        )
        return TrimResult(
            store_id, int(trimmed), min_id.decode() if isinstance(min_id, bytes) else str(min_id)
        )

    async def trim_all(self) -> int:
        total = 0
        for store_id in list(self.store_ids()):
            try:
                total += (await self.trim(store_id)).trimmed
            except Exception:  # one bad store must not stop the others
                log.exception("retention: trimming store %s failed", store_id)
        return total

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="store-stream-retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _loop(self) -> None:
        while not cancel_requested():  # a cancel swallowed by redis-py still stops it
            await asyncio.sleep(self.interval_s)
            trimmed = await self.trim_all()
            if trimmed:
                log.info("retention: trimmed %d store-stream entries", trimmed)
