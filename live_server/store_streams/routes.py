"""HTTP surface of the store streams: check-in."""

from __future__ import annotations

from live_server.core.tokens import Role
from live_server.store_streams.models import Arrival
from live_server.store_streams.wiring import STORE_STREAMS
from live_server.web.api import Api, Call

api = Api()
TAG = "stores"


@api.post(
    "/api/v1/stores/{store}/bookings/{booking}/arrive", summary="Check a booking in",
    tag=TAG, roles=[Role.STAFF], scope="store", response=Arrival, errors=[404, 409],
)  # fmt: skip
async def arrive(call: Call[None, None]) -> Arrival:
    """Staff of the booking's store mark the visitor arrived; appends ``booking.arrived``
    to the store stream. Idempotent: a repeated call returns the first check-in; 409 if
    the booking was cancelled."""
    return await call.app[STORE_STREAMS].arrive(
        call.path("store"), call.path("booking"), call.who.subject
    )
