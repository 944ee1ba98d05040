"""Booking orchestration: validate against the registry and the room, one Lua call, then
the follow-ups (funnel and customer counters, host channel, coalesced count)."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import msgpack
import orjson
from redis.exceptions import RedisError

from geo.models import Store
from geo.registry import StoreRegistry
from live_server import limits
from live_server.errors import Problem
from live_server.fastredis import FastRedis
from live_server.limits import Rule
from live_server.realtime import Realtime
from live_server.redis_conn import RedisClient
from live_server.rooms.models import FeaturedItem, RoomNotFound, RoomStatus, require_live
from live_server.tokens import Claims, Role

from .models import (
    AlreadyBooked,
    Booking,
    BookingNotCancellable,
    BookingNotFound,
    BookingRequest,
    DaySlots,
    IdempotencyKeyReused,
    SlotFull,
    StoreNotFound,
    booking_from_hash,
    check_requested,
    confirmed_booking,
    day_slots,
    new_booking_id,
    request_fingerprint,
    requested_slot,
    resolve_service,
    store_of_booking,
)
from .store import BookingStore

log = logging.getLogger(__name__)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class BookingResult:
    """The 201 body (bytes, so a retried key answers byte for byte the same)."""

    body: bytes
    replayed: bool


class BookingService:
    def __init__(
        self, redis: RedisClient, stores: StoreRegistry, realtime: Realtime,
        fast: FastRedis | None = None, rate_rule: Rule | None = None,
    ) -> None:  # fmt: skip
        self.store = BookingStore(redis, fast)
        self.rate_rule = rate_rule
        """The per-viewer booking limit, counted here with the context reads (None: off)."""
        self.stores = stores
        self.realtime = realtime
        self._follow_ups: set[asyncio.Future[Any]] = set()

    def _store(self, store_id: str) -> Store:
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFound(f"no store {store_id!r}")
        return store

    async def slots(self, store_id: str, day: date | None) -> DaySlots:
        """The day's slots with ``remaining`` seats (none past, none while closed)."""
        store = self._store(store_id)
        now = datetime.now(store.tz)
        day = day or now.date()
        taken = await self.store.seats_taken(store_id, day.isoformat())
        return DaySlots(
            store_id=store_id, date=day.isoformat(), timezone=store.timezone,
            slots=day_slots(store, day, now, taken),
        )  # fmt: skip

    async def book(
        self, room_id: str, viewer_id: str, req: BookingRequest, idempotency_key: str | None
    ) -> BookingResult:
        store = self._store(req.store_id)
        slot = requested_slot(store, req.slot)
        fingerprint = request_fingerprint(req, slot.ts)
        rule, now_s = self.rate_rule, time.time()
        counted = None
        if rule is not None and self.store.fast is not None:
            # Queued now, so the context reads below leave in the same write.
            counted = limits.queue_viewer_count(self.store.fast, rule, viewer_id, now_s)
        elif rule is not None:
            limits.check(rule, await limits.count_viewer(self.store.redis, rule, viewer_id, now_s), now_s)
        ctx = await self.store.context(room_id, viewer_id)
        if rule is not None and counted is not None:
            limits.check(rule, await counted, now_s)  # over the limit: only reads happened
        title = ctx.room[2]
        try:
            status = ctx.room[0]
            if status is None:
                raise RoomNotFound(f"no room {room_id!r}")
            require_live(RoomStatus(status.decode()))
            check_requested(store, slot, now_s)
            featured = _featured(ctx.room[1] or b"\x90")
            service_name = resolve_service(store, req.service, featured)
        except Problem:
            # A retried tap whose first answer was a 201 gets it again, even if the room
            # has ended or the slot has started since (the booking script answers the
            # other retries itself).
            if idempotency_key is not None:
                prior = await self.store.prior(store.id, viewer_id, idempotency_key)
                if prior is not None:
                    return self._replay(prior.fingerprint, fingerprint, prior.response)
            raise

        booking_id = new_booking_id(store.id)
        now = datetime.fromtimestamp(now_s, store.tz)
        # Every value here is ours or already validated (the request body): the record is
        # built as a dict in Booking's field order, not validated again by pydantic.
        dumped = confirmed_booking(
            id=booking_id, room_id=room_id, store_id=store.id, slot=slot.start_iso,
            slot_end=slot.end_iso, service=req.service, service_name=service_name,
            viewer_id=viewer_id, contact=req.contact, created_at=iso(now),
        )  # fmt: skip
        body = orjson.dumps(dumped)
        customer = _customer_context(viewer_id, ctx.customer)
        event = {
            **dumped,
            "booking_id": booking_id,
            "slot_ts": slot.ts,
            "room": {"id": room_id, "title": title.decode() if title else ""},
            "customer": customer,
            "coupon": None,  # no viewer -> held coupon lookup offered by coupons yet
        }
        fields = {k: v for k, v in dumped.items() if v is not None}
        fields["slot_ts"] = str(slot.ts)
        outcome = await self.store.book(
            store_id=store.id, day=slot.day, slot_ts=slot.ts, capacity=store.capacity,
            viewer_id=viewer_id, booking_id=booking_id, idempotency_key=idempotency_key,
            fingerprint=fingerprint, response=body, event=event,
            now_ms=int(now_s * 1000), expire_at=slot.expire_at,
            day_expire_at=slot.day_expire_at, fields=fields,
        )  # fmt: skip
        if outcome.outcome == "dup":
            return self._replay(outcome.fingerprint, fingerprint, outcome.response)
        if outcome.outcome == "held":
            raise AlreadyBooked(
                f"you already hold booking {outcome.booking_id} for this slot",
                booking_id=outcome.booking_id,
            )
        if outcome.outcome == "full":
            raise SlotFull(
                f"all {store.capacity} seats of {slot.start_iso} at {store.name} are taken; "
                "pick another slot", capacity=store.capacity,
            )  # fmt: skip
        counted_total, customer_counted, published = self._after_booking(
            dumped, event, outcome.stream_id, outcome.seats_taken, store
        )
        if self.store.fast is None:
            await self._follow_up_replies(dumped, counted_total, customer_counted, published)
        else:
            # The booking and its store event are stored (one script): the 201 need not
            # wait for the other tags' counters and the host's feed, which are already
            # queued on the pipelined connection ahead of any later request. Their replies
            # are collected by callbacks (no task per booking).
            self._collect(dumped["id"], dumped["room_id"], counted_total, customer_counted, published)
        return BookingResult(body=body, replayed=False)

    async def drain(self) -> None:
        """Wait for the follow-ups still in flight (shutdown)."""
        while self._follow_ups:
            await asyncio.wait(list(self._follow_ups))

    @staticmethod
    def _replay(stored_fingerprint: str, fingerprint: str, response: bytes) -> BookingResult:
        if stored_fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used for a different booking request; use a new key"
            )
        return BookingResult(body=response, replayed=True)

    def _after_booking(
        self, booking: dict[str, Any], event: dict[str, Any], stream_id: str, seats_taken: int, store: Store
    ) -> tuple[Awaitable[int] | None, Awaitable[Any] | None, Awaitable[Any]]:
        """Follow-ups on other tags; a failure here leaves the booking (and its event) intact.
        The commands are queued now (on the pipelined connection they leave with this tick's
        other commands): (room total, customer counters, host feed publish) to collect."""
        host_event = {
            **event, "stream_id": stream_id,
            "remaining": max(0, store.capacity - seats_taken),
        }  # fmt: skip
        try:
            room, customer = self.store.count_booking(
                booking["room_id"], booking["store_id"], booking["viewer_id"], booking["created_at"]
            )
        except RedisError:
            log.exception("booking %s: funnel counters not updated", booking["id"])
            room = customer = None
        published = self.realtime.to_host_now(booking["room_id"], "booking.created", host_event)
        return room, customer, published

    async def _follow_up_replies(
        self, booking: dict[str, Any], room: Awaitable[int] | None,
        customer: Awaitable[Any] | None, published: Awaitable[Any],
    ) -> None:  # fmt: skip
        """The follow-ups' replies, awaited (redis-py: cluster mode)."""
        try:
            await published
        except Exception:  # the booking stands; the host channel is best effort
            log.exception("booking %s: host channel emit failed", booking["id"])
        if room is None:
            return
        try:
            total = await room
            if customer is not None:
                await customer
        except RedisError:
            log.exception("booking %s: funnel counters not updated", booking["id"])
            return
        self._count_published(booking["room_id"], total)

    def _collect(
        self, booking_id: str, room_id: str, room: Awaitable[int] | None,
        customer: Awaitable[Any] | None, published: Awaitable[Any],
    ) -> None:  # fmt: skip
        """The same, by callbacks on the queued commands' futures."""
        pending = self._follow_ups

        def done(what: str, future: asyncio.Future[Any]) -> None:
            pending.discard(future)
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                log.error("booking %s: %s failed", booking_id, what, exc_info=error)
            elif what == "room counters":
                self._count_published(room_id, future.result())

        for what, awaitable in (
            ("host channel emit", published), ("room counters", room), ("customer counters", customer),
        ):  # fmt: skip
            if awaitable is None:
                continue
            future = asyncio.ensure_future(awaitable)  # the queued command's own future
            pending.add(future)
            future.add_done_callback(functools.partial(done, what))

    def _count_published(self, room_id: str, total: int) -> None:
        self.realtime.counter(room_id, "booking.count", "all", {"room_id": room_id, "bookings": int(total)})

    async def get(self, booking_id: str, who: Claims) -> Booking:
        """The booking, for its owner, the staff of its store, or ops (404 for anyone else)."""
        store_id = store_of_booking(booking_id)
        raw = await self.store.get(store_id, booking_id)
        if not raw:
            raise BookingNotFound(f"no booking {booking_id!r}")
        booking = booking_from_hash(raw)
        allowed = (
            who.role is Role.OPS
            or (who.role is Role.VIEWER and who.subject == booking.viewer_id)
            or (who.role is Role.STAFF and who.scope == booking.store_id)
        )
        if not allowed:
            raise BookingNotFound(f"no booking {booking_id!r}")
        return booking

    async def cancel(self, booking_id: str, who: Claims) -> Booking:
        """Cancel before the slot starts: frees the seat, appends ``booking.cancelled``.
        Cancelling a cancelled booking answers it again (idempotent)."""
        booking = await self.get(booking_id, who)
        if who.role is Role.STAFF:
            raise BookingNotFound(f"no booking {booking_id!r}")  # staff do not cancel
        if booking.status == "cancelled":
            return booking
        if booking.status != "confirmed":
            raise BookingNotCancellable(f"the booking is {booking.status}; it cannot be cancelled")
        start = datetime.fromisoformat(booking.slot)
        now = datetime.now(UTC)
        if start <= now:
            raise BookingNotCancellable("the slot has already started; it cannot be cancelled")
        cancelled_at = iso(now.astimezone(start.tzinfo))
        event = {
            "id": booking.id, "booking_id": booking.id, "status": "cancelled",
            "room_id": booking.room_id, "store_id": booking.store_id, "slot": booking.slot,
            "service": booking.service, "viewer_id": booking.viewer_id,
            "cancelled_at": cancelled_at,
        }  # fmt: skip
        outcome, stream_id = await self.store.cancel(
            store_id=booking.store_id, day=start.date().isoformat(), booking_id=booking.id,
            cancelled_at=cancelled_at, event=event, now_ms=int(time.time() * 1000),
        )  # fmt: skip
        if outcome == "missing":
            raise BookingNotFound(f"no booking {booking_id!r}")
        if outcome == "state":
            raise BookingNotCancellable("the booking changed meanwhile; it cannot be cancelled")
        if outcome == "ok":
            try:
                await self.store.count_cancellation(booking.room_id, booking.store_id, booking.viewer_id)
                await self.realtime.to_host(
                    booking.room_id, "booking.cancelled", {**event, "stream_id": stream_id}
                )
            except Exception:
                log.exception("booking %s: cancellation follow-ups failed", booking.id)
        return booking_from_hash(await self.store.get(booking.store_id, booking.id))


_FEATURED: dict[bytes, list[FeaturedItem]] = {}


def _featured(packed: bytes) -> list[FeaturedItem]:
    """The room's featured list, parsed once per distinct stored value (every booking of a
    room reads the same bytes; a change to the list is a new key here)."""
    items = _FEATURED.get(packed)
    if items is None:
        items = [FeaturedItem(**f) for f in msgpack.unpackb(packed)]
        if len(_FEATURED) > 1024:
            _FEATURED.clear()
        _FEATURED[packed] = items
    return items


def _customer_context(viewer_id: str, raw: list[bytes | None]) -> dict[str, Any]:
    """OneID: the same customer across rooms; what staff see with a booking. ``raw``: the
    profile's CUSTOMER_FIELDS (bookings, visits, cancellations, created_at)."""

    def count(value: bytes | None) -> int:
        try:
            return int(value or 0)
        except ValueError:
            return 0

    bookings, visits, cancellations, since = raw
    earlier, visited = count(bookings), count(visits)
    return {
        "viewer_id": viewer_id,
        "earlier_bookings": earlier,
        "visits": visited,
        "cancellations": count(cancellations),
        "returning": earlier > 0 or visited > 0,
        "since": since.decode() if since else None,
    }
