"""Check-in: staff mark a booking arrived; ``booking.arrived`` joins the store stream.

The booking hash and the stream share the ``{store:S}`` tag, so the status change and
the append are one Lua call. The funnel counter (``{room:R}``) and the customer's visit
count (``{cust:V}``) are other tags: idempotent follow-ups, done only by the call that
made the transition.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from live_server.core import keys
from live_server.core.errors import Conflict, NotFound
from live_server.core.redis_conn import RedisClient
from live_server.core.util import as_text

_ARRIVE = (Path(__file__).parent / "arrive.lua").read_text()


class BookingNotFound(NotFound):
    title, slug = "Booking not found", "booking-not-found"


class BookingCancelled(Conflict):
    title, slug = "Booking was cancelled", "booking-cancelled"


def booking_key(store_id: str, booking_id: str) -> str:
    """The booking record (hash), owned by the bookings domain; in the store's tag.

    Uses ``keys.store_booking(store, id)`` once bookings defines it; until then the
    documented shape ``{store:S}:booking:<id>`` (fields: status, store_id, room_id,
    viewer_id, slot, service, created_at)."""
    named = getattr(keys, "store_booking", None)
    if named is not None:
        return str(named(store_id, booking_id))
    return f"{{store:{store_id}}}:booking:{booking_id}"


class CheckIn:
    """Mark bookings arrived (idempotent)."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._arrive = redis.register_script(_ARRIVE)

    async def arrive(self, store_id: str, booking_id: str, staff: str) -> dict[str, Any]:
        """Returns ``{booking_id, store_id, status, arrived_at, stream_id, first}``."""
        now = datetime.now(UTC)
        code, arrived_at, stream_id, room_id, viewer_id = await self._arrive(
            keys=[booking_key(store_id, booking_id), keys.store_stream(store_id)],
            args=[booking_id, store_id, now.isoformat(timespec="milliseconds"),
                  int(now.timestamp() * 1000), staff],
        )  # fmt: skip
        code = int(code)
        if code == -1:
            raise BookingNotFound(f"no booking {booking_id!r} at store {store_id!r}")
        if code == -2:
            raise BookingCancelled(f"booking {booking_id!r} was cancelled; it cannot check in")
        room, viewer = as_text(room_id), as_text(viewer_id)
        if code == 1:
            await self._count_arrival(store_id, room, viewer)
        return {
            "booking_id": booking_id,
            "store_id": store_id,
            "room_id": room or None,
            "status": "arrived",
            "arrived_at": as_text(arrived_at),
            "stream_id": as_text(stream_id),
            "first": code == 1,
        }

    async def _count_arrival(self, store_id: str, room_id: str, viewer_id: str) -> None:
        # Follow-ups on other tags; run once, by the call that made the transition.
        if room_id:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(keys.room_stats(room_id), f"total:{keys.STAT_ARRIVALS}", 1)
                pipe.hincrby(keys.room_stats(room_id), f"{store_id}:{keys.STAT_ARRIVALS}", 1)
                await pipe.execute()
        if viewer_id:
            await self.redis.hincrby(keys.customer(viewer_id), "visits", 1)
            await self.redis.hset(
                keys.customer(viewer_id), "last_visit_ms", int(time.time() * 1000)
            )
