"""Booking domain: request/response shapes, slot rules, errors. Pure, no I/O."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from live_server.core import keys
from live_server.core.errors import BadRequest, Conflict, NotFound, Unprocessable
from live_server.rooms.models import FeaturedItem
from live_server.stores.models import Store, StoreId

Day = date  # a field below is named ``date``
MAX_DAYS_AHEAD = 90
_BOOKING_ID = re.compile(r"^b_([A-Za-z0-9_.-]{1,64})_([0-9a-f]{10})$")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


# --- errors ------------------------------------------------------------------------------
class SlotFull(Conflict):
    title, slug = "Slot is full", "slot-full"


class AlreadyBooked(Conflict):
    title, slug = "You already booked this slot", "already-booked"


class StoreClosed(Conflict):
    title, slug = "Store is closed", "store-closed"


class NotASlot(BadRequest):
    title, slug = "Not a slot of this store", "not-a-slot"


class SlotInPast(BadRequest):
    title, slug = "Slot has already started", "slot-in-past"


class ServiceNotOffered(BadRequest):
    title, slug = "Service not offered here", "service-not-offered"


class BadIdempotencyKey(BadRequest):
    title, slug = "Invalid Idempotency-Key", "idempotency-key-invalid"


class IdempotencyKeyReused(Unprocessable):
    title, slug = "Idempotency-Key reused for another request", "idempotency-key-reused"


class BookingNotFound(NotFound):
    title, slug = "Booking not found", "booking-not-found"


class StoreNotFound(NotFound):
    title, slug = "Store not found", "store-not-found"


class BookingNotCancellable(Conflict):
    title, slug = "Booking cannot be cancelled", "booking-not-cancellable"


# --- shapes ------------------------------------------------------------------------------
class BookingRequest(BaseModel):
    """What the widget sends: the store, the slot (its ``start`` from the slots list, or
    unix seconds), the product/service (an id from the room's featured list) and an
    optional phone."""

    model_config = ConfigDict(extra="forbid")
    store_id: StoreId
    slot: str | int = Field(description="slot start: ISO-8601 with offset, or unix seconds")
    service: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    contact: str | None = Field(
        default=None, max_length=40, pattern=r"^[0-9+()\- ]{3,40}$", description="phone"
    )


class Booking(BaseModel):
    id: str
    status: Literal["confirmed", "cancelled", "arrived", "no_show"]
    room_id: str
    store_id: str
    slot: str = Field(description="slot start, ISO-8601 with the store's UTC offset")
    slot_end: str
    service: str
    service_name: str
    viewer_id: str
    contact: str | None = None
    created_at: str
    cancelled_at: str | None = None
    arrived_at: str | None = None
    product: str | None = Field(
        None, description="the product on screen in the live room when it was booked"
    )
    source: Literal["live", "preview"] = Field(
        "live",
        description="preview: booked while the room was scheduled (from its preview in the "
        "community groups); counted apart in the funnel",
    )


def confirmed_booking(
    *, id: str, room_id: str, store_id: str, slot: str, slot_end: str, service: str,
    service_name: str, viewer_id: str, contact: str | None, created_at: str,
    product: str | None = None, source: str = "live",
) -> dict[str, Any]:  # fmt: skip
    """A new booking as :class:`Booking` dumps it (same keys, same order), without a
    validation pass: the booking hot path builds it from values it has already checked.
    tests/live_server/test_bookings.py holds it to ``Booking.model_dump``."""
    return {
        "id": id, "status": "confirmed", "room_id": room_id, "store_id": store_id,
        "slot": slot, "slot_end": slot_end, "service": service, "service_name": service_name,
        "viewer_id": viewer_id, "contact": contact, "created_at": created_at,
        "cancelled_at": None, "arrived_at": None, "product": product, "source": source,
    }  # fmt: skip


class SlotsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: Day | None = Field(default=None, description="local day YYYY-MM-DD (default: today)")
    room: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="the room asking (the widget's): only a store of the room's brand",
    )  # fmt: skip


class Slot(BaseModel):
    start: str
    end: str
    capacity: int
    remaining: int


class DaySlots(BaseModel):
    store_id: str
    date: str
    timezone: str
    slots: list[Slot]


# --- rules -------------------------------------------------------------------------------
_ID_BYTES = 5
_id_random = memoryview(b"")


def new_booking_id(store_id: str) -> str:
    """Booking ids carry their store so a lookup knows the Redis hash tag. The random part
    is 5 bytes of ``os.urandom``, drawn 4 KiB at a time (one syscall per ~800 ids)."""
    global _id_random
    if len(_id_random) < _ID_BYTES:
        _id_random = memoryview(os.urandom(4096 - 4096 % _ID_BYTES))
    part, _id_random = _id_random[:_ID_BYTES], _id_random[_ID_BYTES:]
    return f"b_{store_id}_{part.hex()}"


def _forget_id_random() -> None:
    global _id_random
    _id_random = memoryview(b"")


os.register_at_fork(after_in_child=_forget_id_random)  # a forked worker draws its own


def store_of_booking(booking_id: str) -> str:
    match = _BOOKING_ID.match(booking_id)
    if match is None:
        raise BookingNotFound(f"no booking {booking_id!r}")
    return match.group(1)


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise BadIdempotencyKey("Idempotency-Key: 1-100 characters of A-Z a-z 0-9 _ . : -")
    return key


def request_fingerprint(req: BookingRequest, slot_ts: int) -> str:
    """What makes two requests 'the same' for an Idempotency-Key."""
    text = f"{req.store_id}\x1f{slot_ts}\x1f{req.service}\x1f{req.contact or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def parse_slot_time(value: str | int, store: Store) -> datetime:
    """A request's slot as an aware datetime in the store's timezone."""
    try:
        if isinstance(value, int) or value.strip().lstrip("-").isdigit():
            moment = datetime.fromtimestamp(int(value), UTC)
        else:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError) as exc:
        raise NotASlot(f"slot {value!r}: use the slot's start (ISO-8601) or unix seconds") from exc
    if moment.tzinfo is None:
        raise NotASlot(f"slot {value!r} has no UTC offset; use the start the slots list gives")
    return moment.astimezone(store.tz)


_SLOT_INSTANTS: dict[tuple[int, date], tuple[Store, frozenset[float]]] = {}


def _slot_instants(store: Store, day: date) -> frozenset[float]:
    """The day's slot starts as unix instants, computed once per store record and day.

    Store records are frozen and replaced (not changed) by an update, so the record itself
    is the cache key; it is kept in the entry, so its id cannot be reused while cached."""
    hit = _SLOT_INSTANTS.get((id(store), day))
    if hit is not None and hit[0] is store:
        return hit[1]
    instants = frozenset(s.timestamp() for s in store.slot_starts(day))
    if len(_SLOT_INSTANTS) > 4096:
        _SLOT_INSTANTS.clear()
    _SLOT_INSTANTS[(id(store), day)] = (store, instants)
    return instants


@dataclass(frozen=True, slots=True)
class RequestedSlot:
    """A requested slot start of one store, with what a booking of it writes. ``end`` is
    None when the moment is not one of the store's slot starts."""

    start: datetime  # in the store's timezone
    ts: int  # unix seconds
    start_iso: str
    end: datetime | None
    end_iso: str
    day: str  # the store's local day, YYYY-MM-DD
    expire_at: int  # of the booking: a day after the slot, then BOOKING_RETENTION_S
    day_expire_at: int  # of the day's seat/holder hashes: outlives every booking of the day


def _describe(store: Store, start: datetime) -> RequestedSlot:
    # Compare instants: equal wall times in one zone compare equal even across a DST fold.
    is_slot = start.timestamp() in _slot_instants(store, start.date())
    end = store.slot_end(start) if is_slot else None
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return RequestedSlot(
        start=start, ts=int(start.timestamp()), start_iso=start.isoformat(), end=end,
        end_iso=end.isoformat() if end is not None else "", day=start.date().isoformat(),
        expire_at=int((start + timedelta(days=1)).timestamp()) + keys.BOOKING_RETENTION_S,
        day_expire_at=int((midnight + timedelta(days=2)).timestamp()) + keys.BOOKING_RETENTION_S,
    )  # fmt: skip


_REQUESTED: dict[tuple[int, str | int], tuple[Store, RequestedSlot]] = {}


def requested_slot(store: Store, value: str | int) -> RequestedSlot:
    """:func:`parse_slot_time` and what follows from the moment, remembered per store record
    and requested value (a flash crowd books the same few slots); not yet checked against
    the clock or the store's status (:func:`check_requested`)."""
    hit = _REQUESTED.get((id(store), value))
    if hit is not None and hit[0] is store:
        return hit[1]
    slot = _describe(store, parse_slot_time(value, store))
    if len(_REQUESTED) > 4096:
        _REQUESTED.clear()
    _REQUESTED[(id(store), value)] = (store, slot)
    return slot


def check_requested(store: Store, slot: RequestedSlot, now: float) -> datetime:
    """The slot's end, or the reason the slot cannot be booked at ``now`` (unix seconds)."""
    if store.status != "open":
        raise StoreClosed(f"store {store.id!r} is closed and takes no bookings")
    if slot.end is None:
        raise NotASlot(
            f"{slot.start_iso} is not a slot start of store {store.id!r} "
            f"(GET /api/v1/stores/{store.id}/slots lists them)"
        )
    if slot.ts <= now:
        raise SlotInPast(f"the slot {slot.start_iso} has already started")
    if slot.ts - now > MAX_DAYS_AHEAD * 86400:
        raise NotASlot(f"bookings open at most {MAX_DAYS_AHEAD} days ahead")
    return slot.end


def check_slot(store: Store, start: datetime, now: datetime) -> datetime:
    """The slot's end, or the reason the slot cannot be booked."""
    return check_requested(store, _describe(store, start), now.timestamp())


def resolve_service(store: Store, service: str, featured: list[FeaturedItem]) -> str:
    """The display name of the booked product/service, or ServiceNotOffered.

    A service must be one the store offers; a featured *product* of the room can be
    booked at any store (try it, pick it up).
    """
    item = next((f for f in featured if f.id == service), None)
    if service in store.services or (item is not None and item.kind == "product"):
        return item.name if item is not None else service
    offered = ", ".join(store.services) or "none"
    raise ServiceNotOffered(f"store {store.id!r} does not offer {service!r} (offers: {offered})")


def day_slots(store: Store, day: date, now: datetime, taken: dict[int, int]) -> list[Slot]:
    """The bookable slots of a local day: none in the past, none while closed, none more
    than MAX_DAYS_AHEAD ahead (a slot offered is a slot a booking may name)."""
    slots: list[Slot] = []
    if abs((day - now.date()).days) > MAX_DAYS_AHEAD + 1:  # 0001-01-01 has no UTC instant
        return slots
    last = now + timedelta(days=MAX_DAYS_AHEAD)
    for start in store.slot_starts(day):
        if start <= now or start > last:
            continue
        used = taken.get(int(start.timestamp()), 0)
        slots.append(
            Slot(
                start=start.isoformat(),
                end=store.slot_end(start).isoformat(),
                capacity=store.capacity,
                remaining=max(0, store.capacity - used),
            )
        )
    return slots


def booking_from_hash(raw: dict[bytes, bytes]) -> Booking:
    text: dict[str, Any] = {k.decode(): v.decode() for k, v in raw.items()}
    return Booking(
        id=text["id"], status=text["status"], room_id=text["room_id"],
        store_id=text["store_id"], slot=text["slot"], slot_end=text.get("slot_end", ""),
        service=text["service"], service_name=text.get("service_name", text["service"]),
        viewer_id=text["viewer_id"], contact=text.get("contact") or None,
        product=text.get("product") or None, source=text.get("source") or "live",
        created_at=text["created_at"], cancelled_at=text.get("cancelled_at") or None,
        arrived_at=text.get("arrived_at") or None,
    )  # fmt: skip
