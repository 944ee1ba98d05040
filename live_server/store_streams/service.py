"""The store-stream rules: check-in (arrive), where a staff connection starts and how it
acks, when a consumer group gives an entry up (dead letters), and retention.

Check-in: the booking hash and the stream share the ``{store:S}`` tag, so the status
change and the ``booking.arrived`` append are one Lua call, which also records the
follow-ups it owes on other tags: the room's funnel (``{room:R}``), the brand's
leaderboard (``{brand:B}``) and the customer's visits (``{cust:V}``), applied exactly once
by the call that made the transition, or by the repair pass after a crash
(``bookings.follow_ups``, the named interface).

Retention trims each store's stream by age (``XTRIM MINID``) but never below what any
consumer group still needs: the oldest entry pending in it, or the first one not yet
delivered to it. The floor is computed and the trim done in one Lua call, so a delivery
cannot slip in between.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from live_server.bookings.follow_ups import FollowUp, FollowUpKind, FollowUps
from live_server.core import keys
from live_server.core.errors import BadRequest
from live_server.core.tasks import cancel_and_wait, cancel_requested
from live_server.core.util import now_ms as clock_ms
from live_server.store_streams.ids import InvalidStreamId, StreamId
from live_server.store_streams.models import (
    Arrival,
    BookingCancelled,
    BookingNotFound,
    ConsumerConfig,
    TrimResult,
)
from live_server.store_streams.store import AckCall, ArriveCall, ArriveCode, StreamStore, TrimCall
from live_server.stores.store import StoreRegistry

log = logging.getLogger(__name__)


class StoreStreamService:
    """Check-in and the staff feed's start and acks (one per process)."""

    def __init__(
        self, store: StreamStore, stores: StoreRegistry | None = None,
        follow_ups: FollowUps | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.stores = stores  # the registry: a store's brand and timezone (leaderboard)
        self.follow_ups = follow_ups or FollowUps(store.redis)

    # --- check-in ------------------------------------------------------------------------
    async def arrive(self, store_id: str, booking_id: str, staff: str) -> Arrival:
        """Mark a booking arrived (idempotent: a repeated call returns the first check-in)."""
        store = self.stores.get(store_id) if self.stores is not None else None
        now = datetime.now(store.tz if store is not None else UTC)  # the store's offset
        at_ms = int(now.timestamp() * 1000)
        outcome = await self.store.arrive(ArriveCall(
            store_id=store_id, booking_id=booking_id,
            arrived_at=now.isoformat(timespec="milliseconds"), now_ms=at_ms, staff=staff,
        ))  # fmt: skip
        if outcome.code is ArriveCode.NOT_FOUND:
            raise BookingNotFound(f"no booking {booking_id!r} at store {store_id!r}")
        if outcome.code is ArriveCode.CANCELLED:
            raise BookingCancelled(f"booking {booking_id!r} was cancelled; it cannot check in")
        first = outcome.code is ArriveCode.ARRIVED
        if first:
            self.follow_ups.step_done(FollowUpKind.ARRIVED)
            # The leaderboard's day is the arrival's local day (arrived_at's date).
            await self.follow_ups.apply(FollowUp(
                kind=FollowUpKind.ARRIVED, booking_id=booking_id, store_id=store_id,
                room_id=outcome.room_id, viewer_id=outcome.viewer_id, at=outcome.arrived_at,
                at_ms=at_ms, slot_ts=outcome.slot_ts, guide_id=outcome.guide_id,
                brand=store.brand if store is not None else "",
            ))  # fmt: skip
        return Arrival(
            booking_id=booking_id,
            store_id=store_id,
            room_id=outcome.room_id or None,
            status="arrived",
            arrived_at=outcome.arrived_at,
            stream_id=outcome.stream_id,
            first=first,
        )

    # --- the staff feed ------------------------------------------------------------------
    async def start_point(self, store_id: str, token_id: str, last_id: Any) -> StreamId | None:
        """Where a /store connection starts replaying; None: live entries only.

        An explicit ``last_id`` wins (``"0"``: every entry kept); none (or ``""``) resumes
        after the token's last ack, live only if it never acked; ``"$"`` is live only."""
        if last_id not in (None, "", "$"):
            try:
                return StreamId.parse(str(last_id))
            except InvalidStreamId as exc:
                raise BadRequest(
                    f"last_id: {exc}; use an id you received, or '0' for every entry kept"
                ) from None
        if last_id is None or last_id == "":
            return await self.store.acked(store_id, token_id)
        return None

    async def ack(self, store_id: str, token_id: str, entry_id: StreamId) -> str:
        """Remember ``entry_id`` as the token's last ack, never moving it backwards;
        answers the id kept."""
        return await self.store.ack(
            AckCall(store_id=store_id, token_id=token_id, entry_id=entry_id)
        )


# --- consumer groups: the dead-letter policy -------------------------------------------------


def dead_letter_due(deliveries: int, config: ConsumerConfig) -> bool:
    """Delivered more often than ``max_deliveries``: move the entry to the dead letters
    instead of handing it out again, so a poison entry cannot block the group. (An entry
    that cannot be decoded goes there on its first delivery.)"""
    return deliveries > config.max_deliveries


# --- retention ---------------------------------------------------------------------------


class StreamRetention:
    """Trims store streams; ``start`` loops over the store ids every ``interval_s``."""

    def __init__(
        self,
        store: StreamStore,
        store_ids: Callable[[], Iterable[str]],
        *,
        max_age_ms: int = keys.STORE_STREAM_MAX_AGE_MS,
        interval_s: float = 300.0,
        approximate: bool = True,
    ) -> None:
        self.store = store
        self.store_ids = store_ids
        self.max_age_ms = max_age_ms
        self.interval_s = interval_s
        self.approximate = approximate  # "~": whole macro nodes only, far cheaper
        self._task: asyncio.Task[None] | None = None

    async def trim(self, store_id: str, now_ms: int | None = None) -> TrimResult:
        now_ms = clock_ms() if now_ms is None else now_ms
        cutoff = StreamId(max(0, now_ms - self.max_age_ms), 0)
        return await self.store.trim(
            TrimCall(store_id=store_id, cutoff=cutoff, approximate=self.approximate)
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
