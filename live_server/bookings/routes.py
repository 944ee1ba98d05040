"""HTTP surface of bookings: slots of a day, book, look up, cancel."""

from __future__ import annotations

from aiohttp import web

from live_server.bookings.models import (
    Booking,
    BookingRequest,
    DaySlots,
    SlotsQuery,
    StoreNotFound,
    check_idempotency_key,
)
from live_server.bookings.service import BOOKING_PER_VIEWER
from live_server.bookings.wiring import BOOKINGS
from live_server.core.errors import Forbidden
from live_server.core.tenancy import TENANCY
from live_server.core.tokens import Role
from live_server.web.api import Api, Call
from live_server.web.limits import Rule

api = Api()
TAG = "bookings"

BOOKING_PER_IP = Rule("booking-ip", "ip", 600, 60)


@api.get(
    "/api/v1/stores/{store}/slots", summary="A store's slots of a day with remaining seats",
    tag=TAG, query=SlotsQuery, response=DaySlots, errors=[404],
)  # fmt: skip
async def store_slots(call: Call[None, SlotsQuery]) -> DaySlots:
    """Slots from the opening hours in the store's timezone; ``start`` (ISO-8601 with the
    store's offset) is what a booking's ``slot`` names. No slots in the past or while the
    store is closed. In a room's context (``room``, as the widget asks) a store of another
    brand than the room's is not found."""
    store_id = call.path("store")
    if call.query.room is not None:
        tenancy = call.app[TENANCY]
        await tenancy.room_brand(call.query.room)
        if not await tenancy.store_of_room_brand(call.query.room, store_id):
            raise StoreNotFound(f"no store {store_id!r} in this room's brand")
    return await call.app[BOOKINGS].slots(store_id, call.query.date)


@api.post(
    "/api/v1/rooms/{room}/bookings", summary="Book a visit", tag=TAG, roles=[Role.VIEWER],
    scope="room", body=BookingRequest, response=Booking, status=201,
    errors=[403, 404, 409, 410, 422], headers=["Idempotency-Key"],
    limits=[BOOKING_PER_VIEWER, BOOKING_PER_IP],
)  # fmt: skip
async def create_booking(call: Call[BookingRequest, None]) -> web.Response:
    """One atomic step: the slot has a seat and the viewer holds no other booking of it;
    the seat is taken, the booking stored and ``booking.created`` appended to the store's
    stream. 409 slot full / already booked / store closed; 410 room ended; 409 room not
    live. A repeated ``Idempotency-Key`` answers the first 201 again. 403: the store is
    not one of the room's brand's."""
    if call.who.role is not Role.VIEWER:
        raise Forbidden("bookings are made with the viewer's own token")
    if not await call.app[TENANCY].store_of_room_brand(call.path("room"), call.body.store_id):
        raise Forbidden("this store is not one of the room's brand's stores")
    key = check_idempotency_key(call.request.headers.get("Idempotency-Key"))
    result = await call.app[BOOKINGS].book(call.path("room"), call.who.subject, call.body, key)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return web.Response(
        body=result.body, status=201, content_type="application/json", headers=headers
    )


@api.get(
    "/api/v1/bookings/{booking}", summary="One booking", tag=TAG,
    roles=[Role.VIEWER, Role.STAFF], response=Booking, errors=[404],
)  # fmt: skip
async def get_booking(call: Call[None, None]) -> Booking:
    """For the viewer who made it, the staff of its store, and ops."""
    return await call.app[BOOKINGS].get(call.path("booking"), call.who)


@api.delete(
    "/api/v1/bookings/{booking}", summary="Cancel a booking", tag=TAG,
    roles=[Role.VIEWER], response=Booking, errors=[404, 409],
)  # fmt: skip
async def cancel_booking(call: Call[None, None]) -> Booking:
    """The owner cancels before the slot starts: the seat is freed and
    ``booking.cancelled`` appended to the store's stream."""
    return await call.app[BOOKINGS].cancel(call.path("booking"), call.who)
