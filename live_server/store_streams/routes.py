"""HTTP surface of the store streams: check-in."""

from __future__ import annotations

from pydantic import BaseModel

from live_server.core.tokens import Role
from live_server.store_streams.wiring import STORE_FEED
from live_server.web.api import Api, Call

api = Api()
TAG = "stores"


class Arrival(BaseModel):
    """The booking after check-in (``first`` is false when it had already arrived)."""

    booking_id: str
    store_id: str
    room_id: str | None
    status: str
    arrived_at: str
    stream_id: str
    first: bool


@api.post(
    "/api/v1/stores/{store}/bookings/{booking}/arrive", summary="Check a booking in",
    tag=TAG, roles=[Role.STAFF], scope="store", response=Arrival, errors=[404, 409],
)  # fmt: skip
async def arrive(call: Call[None, None]) -> Arrival:
    """Staff of the booking's store mark the visitor arrived; appends ``booking.arrived``
    to the store stream. Idempotent: a repeated call returns the first check-in; 409 if
    the booking was cancelled."""
    result = await call.app[STORE_FEED].checkin.arrive(
        call.path("store"), call.path("booking"), call.who.subject
    )
    return Arrival(**result)
