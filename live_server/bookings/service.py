"""Booking orchestration: validate against the registry and the room, then book.lua. On
one node that one call also counts the per-viewer limit, checks the room and bumps the
counters; a cluster reads, books and counts in steps (the counts are follow-ups the
booking step records, applied exactly once: ``follow_ups.py``). Then the host channel
and the coalesced ``booking.count``."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import msgpack
import orjson
from redis.exceptions import RedisError

from live_server.bookings.follow_ups import FollowUp, FollowUpKind, FollowUps, follow_up_of
from live_server.bookings.models import (
    AlreadyBooked,
    Booking,
    BookingNotCancellable,
    BookingNotFound,
    BookingRequest,
    DaySlots,
    IdempotencyKeyReused,
    RequestedSlot,
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
from live_server.bookings.store import (
    BookCall,
    BookingStore,
    BookOutcome,
    BookOutcomeKind,
    CancelCall,
    CancelOutcomeKind,
    OneNode,
)
from live_server.core.errors import Problem, ServiceUnavailable
from live_server.core.fastredis import FastRedis
from live_server.core.metrics import Metrics, labelled
from live_server.core.redis_conn import RedisClient
from live_server.core.tokens import Claims, Role
from live_server.core.util import as_text, now_ms
from live_server.guides.models import TaskTimes, task_plan
from live_server.realtime.server import Realtime
from live_server.rooms.models import FeaturedItem, RoomNotFound, RoomStatus, require_live
from live_server.stores.models import Store
from live_server.stores.store import StoreRegistry
from live_server.web import limits
from live_server.web.limits import Rule

log = logging.getLogger(__name__)

BOOKING_PER_VIEWER = Rule("booking-viewer", "viewer", 10, 60, by_route=True)
"""Counted by the booking itself: inside book.lua on one node, before its context reads
on a cluster."""


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class BookingResult:
    """The 201 body (bytes, so a retried key answers byte for byte the same)."""

    body: bytes
    replayed: bool


@dataclass(frozen=True, slots=True)
class _Request:
    room_id: str
    viewer_id: str
    req: BookingRequest
    idempotency_key: str | None
    store: Store
    slot: RequestedSlot
    fingerprint: str
    now_s: float


@dataclass(frozen=True, slots=True)
class _Booking:
    """One attempt's record (the 201 body) and its booking.created event."""

    dumped: dict[str, Any]
    body: bytes
    event: dict[str, Any]


class _Replay(Exception):
    def __init__(self, result: BookingResult) -> None:
        self.result = result


_OUTCOME_LABELS = {BookOutcomeKind.DUP: "replayed"}  # live_bookings_total{outcome}


class BookingService:
    def __init__(
        self, redis: RedisClient, stores: StoreRegistry, realtime: Realtime,
        fast: FastRedis | None = None, rate_rule: Rule | None = None,
        metrics: Metrics | None = None, task_times: TaskTimes | None = None,
        follow_ups: FollowUps | None = None,
    ) -> None:  # fmt: skip
        self.store = BookingStore(redis, fast)
        self.follow_ups = follow_ups or FollowUps(redis)
        """The counters of other tags a step owes: a cluster's booking, every cancellation."""
        self.task_times = task_times
        """When a booking's guide task is due to be accepted, reminded, marked no-show
        (None: bookings make no task; the bench compares both)."""
        self.outcomes = metrics.bookings if metrics is not None else None
        """``live_bookings_total{outcome}`` (core.metrics)."""
        self.rate_rule = rate_rule
        """The per-viewer booking limit, counted in book.lua on one node and before the
        context reads on a cluster (None: off)."""
        self.stores = stores
        self.realtime = realtime
        self._follow_ups: set[asyncio.Future[Any]] = set()
        # room id -> (featured, title, product, sha1 of the three): the one-node path's
        # copy, checked by book.lua against the room on every booking.
        self._rooms: dict[str, tuple[bytes, bytes, bytes, bytes, str]] = {}

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
        request = _Request(
            room_id, viewer_id, req, idempotency_key, store, slot,
            request_fingerprint(req, slot.ts), time.time(),
        )  # fmt: skip
        try:
            if self.store.fast is not None:
                return await self._book_one_node(request)
            return await self._book_in_steps(request)
        except _Replay as replay:
            return replay.result

    # --- one node: the whole booking is one call of book.lua ----------------------------

    async def _book_one_node(self, r: _Request) -> BookingResult:
        """Per-viewer limit, known key, room status, seat, booking, event with the customer
        context, counters: one script call on the auto-pipelined connection. The room's
        featured list and title (for the service's name and the event) come from a
        per-worker copy the script checks against the room (sha1); a stale copy is
        refreshed from the script's answer and the booking tried again."""
        room = self._rooms.get(r.room_id) or await self._load_room(r.room_id)
        rule = self.rate_rule
        rate_key = limits.rate_key(rule, r.viewer_id, int(r.now_s // rule.window_s)) if rule else ""
        for _ in range(3):
            status, featured, title, product, sha = room
            service_name = await self._validate(r, featured)
            booking = self._record(
                r, service_name, title.decode(), product.decode() or None,
                "preview" if status == b"scheduled" else "live",
            )  # fmt: skip
            one_node = OneNode(
                room_id=r.room_id, room_sha=sha, limit=rule.limit if rule else 0,
                rate_key=rate_key, rate_ttl_s=rule.window_s + 1 if rule else 0,
                created_at=booking.dumped["created_at"], brand=r.store.brand,
                local_day=booking.dumped["created_at"][:10],
            )  # fmt: skip
            outcome = await self.store.book(self._book_call(r, booking, one_node))
            kind = outcome.kind
            if kind is BookOutcomeKind.STALE:
                status, featured, title, product = outcome.room
                room = self._remember_room(r.room_id, status, featured, title, product)
                continue
            if kind is BookOutcomeKind.LIMITED:
                assert rule is not None
                limits.check(rule, outcome.count, r.now_s)
            if kind is BookOutcomeKind.ROOM:
                status = outcome.room[0]
                if not status:
                    raise RoomNotFound(f"no room {r.room_id!r}")
                require_live(RoomStatus(as_text(status)))
            result = self._answer(r, booking, outcome)
            if result.replayed:
                return result
            customer = _customer_context(r.viewer_id, list(outcome.customer))
            self._announce(booking, outcome, customer, r.store)
            self._count_published(r.room_id, outcome.room_total)
            return result
        raise ServiceUnavailable("the room is being updated; retry", retry_after=1)

    async def _load_room(self, room_id: str) -> tuple[bytes, bytes, bytes, bytes, str]:
        status, featured, title, product, _scheduled = await self.store.room_fields(room_id)
        if status is None:
            raise RoomNotFound(f"no room {room_id!r}")
        return self._remember_room(room_id, status, featured or b"", title or b"", product or b"")

    def _remember_room(
        self, room_id: str, status: bytes, featured: bytes, title: bytes, product: bytes
    ) -> tuple[bytes, bytes, bytes, bytes, str]:
        joined = b"\0".join((status, featured, title, product))
        room = (status, featured, title, product, hashlib.sha1(joined).hexdigest())
        if len(self._rooms) >= 10_000:
            self._rooms.clear()
        self._rooms[room_id] = room
        return room

    def _announce(
        self, booking: _Booking, outcome: BookOutcome, customer: dict[str, Any], store: Store
    ) -> None:
        """``booking.created`` to the host's feed: queued now, its reply collected by a
        callback (a failed publish is logged; the booking and its event stand)."""
        host_event = _host_event(booking, outcome, store)
        host_event["customer"] = customer
        published = asyncio.ensure_future(
            self.realtime.to_host_now(booking.dumped["room_id"], "booking.created", host_event)
        )
        self._follow_ups.add(published)
        published.add_done_callback(functools.partial(self._published, booking.dumped["id"]))

    def _published(self, booking_id: str, future: asyncio.Future[Any]) -> None:
        self._follow_ups.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error(
                "booking %s: host channel emit failed", booking_id, exc_info=future.exception()
            )

    # --- a cluster: read, book, count (the keys carry different hash tags) -------------

    async def _book_in_steps(self, r: _Request) -> BookingResult:
        rule = self.rate_rule
        if rule is not None:
            count = await limits.count_viewer(self.store.redis, rule, r.viewer_id, r.now_s)
            limits.check(rule, count, r.now_s)
        ctx = await self.store.context(r.room_id, r.viewer_id)
        status, featured, title, product, scheduled_at = ctx.room
        if status is None:
            raise await self._refused(r, RoomNotFound(f"no room {r.room_id!r}"))
        try:
            source = booking_source(RoomStatus(status.decode()), scheduled_at is not None)
        except Problem as problem:
            raise await self._refused(r, problem) from None
        service_name = await self._validate(r, featured or b"")
        booking = self._record(
            r, service_name, title.decode() if title else "",
            product.decode() if product else None, source,
        )  # fmt: skip
        customer = _customer_context(r.viewer_id, ctx.customer)
        booking.event["customer"] = customer
        outcome = await self.store.book(self._book_call(r, booking, customer=customer))
        result = self._answer(r, booking, outcome)
        if not result.replayed:
            self.follow_ups.step_done(FollowUpKind.CREATED)
            await self._follow_up_replies(booking, outcome, r.store, int(r.now_s * 1000))
        return result

    async def _follow_up_replies(
        self, booking: _Booking, outcome: BookOutcome, store: Store, at_ms: int
    ) -> None:
        """The host's feed, then the room, customer and leaderboard counters (recorded by
        book.lua as pending: the repair pass applies them if this process dies first): a
        failure is logged, the booking (and its event) stand."""
        dumped = booking.dumped
        try:
            await self.realtime.to_host_now(
                dumped["room_id"], "booking.created", _host_event(booking, outcome, store)
            )
        except Exception:  # the booking stands; the host channel is best effort
            log.exception("booking %s: host channel emit failed", dumped["id"])
        try:
            total = await self.follow_ups.apply(
                FollowUp(
                    kind=FollowUpKind.CREATED, booking_id=dumped["id"], store_id=store.id,
                    room_id=dumped["room_id"], viewer_id=dumped["viewer_id"],
                    at=dumped["created_at"], at_ms=at_ms, slot_ts=booking.event["slot_ts"],
                    guide_id=outcome.task_guide, task=bool(outcome.task_stream_id),
                    source=dumped["source"], brand=store.brand,
                )
            )  # fmt: skip
        except RedisError:
            log.exception("booking %s: funnel counters not updated", dumped["id"])
            return
        self._count_published(dumped["room_id"], total)

    # --- shared -----------------------------------------------------------------------

    async def _validate(self, r: _Request, featured: bytes) -> str:
        """The service's display name, or the first result of a retried tap that the
        checks would now refuse (the room ended, the slot started), or the refusal."""
        try:
            check_requested(r.store, r.slot, r.now_s)
            return resolve_service(r.store, r.req.service, _featured(featured or b"\x90"))
        except Problem as problem:
            raise await self._refused(r, problem) from None

    async def _refused(self, r: _Request, problem: Problem) -> Exception:
        """``problem``, unless the request is a retried tap whose first answer was a 201:
        then that answer (raised as :class:`_Replay`, answered by :meth:`book`)."""
        if r.idempotency_key is not None:
            prior = await self.store.prior(r.store.id, r.viewer_id, r.idempotency_key)
            if prior is not None:
                return _Replay(self._replay(prior.fingerprint, r.fingerprint, prior.response))
        return problem

    def _record(
        self, r: _Request, service_name: str, title: str, product: str | None, source: str
    ) -> _Booking:
        store, slot = r.store, r.slot
        booking_id = new_booking_id(store.id)
        now = datetime.fromtimestamp(r.now_s, store.tz)
        # Every value here is ours or already validated (the request body): the record is
        # built as a dict in Booking's field order, not validated again by pydantic.
        dumped = confirmed_booking(
            id=booking_id, room_id=r.room_id, store_id=store.id, slot=slot.start_iso,
            slot_end=slot.end_iso, service=r.req.service, service_name=service_name,
            viewer_id=r.viewer_id, contact=r.req.contact, created_at=iso(now), product=product,
            source=source,
        )  # fmt: skip
        body = orjson.dumps(dumped)
        event = {
            **dumped,
            "booking_id": booking_id,
            "slot_ts": slot.ts,
            "room": {"id": r.room_id, "title": title, "product": product},
            "coupon": None,  # no viewer -> held coupon lookup offered by coupons yet
            # Last, and None here: on one node book.lua puts the customer context in place
            # of this value (the msgpack's last byte); a cluster fills it before.
            "customer": None,
        }
        return _Booking(dumped, body, event)

    def _book_call(
        self, r: _Request, booking: _Booking, one_node: OneNode | None = None,
        customer: dict[str, Any] | None = None,
    ) -> BookCall:  # fmt: skip
        """book.lua's parameters for this attempt (``one_node``: its one-node form; else
        ``customer``: the context read before, for the task)."""
        store, slot, dumped = r.store, r.slot, booking.dumped
        plan = b""
        if self.task_times is not None:
            plan = task_plan(
                booking_id=dumped["id"], store_id=store.id, room_id=r.room_id,
                viewer_id=r.viewer_id, due_at=slot.start_iso, slot_ts=slot.ts,
                slot_end_ts=int(slot.end.timestamp()) if slot.end else slot.ts,
                created_at=dumped["created_at"], now_ms=int(r.now_s * 1000),
                expire_at=slot.expire_at, times=self.task_times,
                service_name=dumped["service_name"], room_title=booking.event["room"]["title"],
                product=dumped["product"], customer=customer,
            )  # fmt: skip
        return BookCall(
            store_id=store.id, day=slot.day, slot_ts=slot.ts, capacity=store.capacity,
            viewer_id=r.viewer_id, booking_id=dumped["id"], idempotency_key=r.idempotency_key,
            fingerprint=r.fingerprint, response=booking.body, event=booking.event,
            record=dumped, now_ms=int(r.now_s * 1000), expire_at=slot.expire_at,
            day_expire_at=slot.day_expire_at, one_node=one_node, task_plan=plan,
        )  # fmt: skip

    def _answer(self, r: _Request, booking: _Booking, outcome: BookOutcome) -> BookingResult:
        kind = outcome.kind
        if self.outcomes is not None:
            labelled(self.outcomes, _OUTCOME_LABELS.get(kind, kind.value)).inc()
        if kind is BookOutcomeKind.DUP:
            return self._replay(outcome.fingerprint, r.fingerprint, outcome.response)
        if kind is BookOutcomeKind.HELD:
            raise AlreadyBooked(
                f"you already hold booking {outcome.booking_id} for this slot",
                booking_id=outcome.booking_id,
            )
        if kind is BookOutcomeKind.FULL:
            raise SlotFull(
                f"all {r.store.capacity} seats of {r.slot.start_iso} at {r.store.name} are "
                "taken; pick another slot", capacity=r.store.capacity,
            )  # fmt: skip
        return BookingResult(body=booking.body, replayed=False)

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

    def _count_published(self, room_id: str, total: int) -> None:
        self.realtime.counter(
            room_id,
            "booking.count",
            "all",
            {"room_id": room_id, "bookings": int(total)},
            gated=int(total),
        )

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
        at_ms = now_ms()
        event = {
            "id": booking.id, "booking_id": booking.id, "status": "cancelled",
            "room_id": booking.room_id, "store_id": booking.store_id, "slot": booking.slot,
            "service": booking.service, "viewer_id": booking.viewer_id,
            "cancelled_at": cancelled_at,
        }  # fmt: skip
        outcome = await self.store.cancel(
            CancelCall(
                store_id=booking.store_id, day=start.date().isoformat(), booking_id=booking.id,
                cancelled_at=cancelled_at, event=event, now_ms=at_ms,
            )
        )  # fmt: skip
        if outcome.kind is CancelOutcomeKind.MISSING:
            raise BookingNotFound(f"no booking {booking_id!r}")
        if outcome.kind is CancelOutcomeKind.STATE:
            raise BookingNotCancellable("the booking changed meanwhile; it cannot be cancelled")
        if outcome.kind is CancelOutcomeKind.OK:
            self.follow_ups.step_done(FollowUpKind.CANCELLED)
        fields = await self.store.get(booking.store_id, booking.id)
        if outcome.kind is CancelOutcomeKind.OK:
            try:
                await self._count_cancellation(booking.id, fields, at_ms, outcome.created_pending)
                await self.realtime.to_host(
                    booking.room_id, "booking.cancelled", {**event, "stream_id": outcome.stream_id}
                )
            except Exception:  # recorded as pending by cancel.lua: the repair pass counts it
                log.exception("booking %s: cancellation follow-ups failed", booking.id)
        return booking_from_hash(fields)

    async def _count_cancellation(
        self, booking_id: str, fields: dict[bytes, bytes], at_ms: int, created_pending: bool
    ) -> None:
        """The room's and the customer's counters of a cancellation; first the booking's
        own, when a crash left them pending (so a cancellation never counts before its
        booking: the booked slot stays removed, the customer's active count right)."""
        store = self.stores.get(store_of_booking(booking_id))
        brand = store.brand if store is not None else ""
        kinds = [FollowUpKind.CREATED] if created_pending else []
        for kind in [*kinds, FollowUpKind.CANCELLED]:
            follow_up = follow_up_of(kind, booking_id, fields, at_ms, brand)
            if follow_up is not None:
                await self.follow_ups.apply(follow_up)


def booking_source(status: RoomStatus, scheduled: bool) -> str:
    """``live`` in a live room; ``preview`` in a scheduled room with a time (its preview
    went out to the groups with booking open); else the room's refusal."""
    if status is RoomStatus.SCHEDULED and scheduled:
        return "preview"
    require_live(status)
    return "live"


def _host_event(booking: _Booking, outcome: BookOutcome, store: Store) -> dict[str, Any]:
    """The host's ``booking.created``: the stream event with its stream id and the seats left."""
    return {
        **booking.event, "stream_id": outcome.stream_id,
        "remaining": max(0, store.capacity - outcome.seats_taken),
    }  # fmt: skip


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

    bookings, visits, cancellations, since, *more = raw
    no_shows, orders, cents = [*more, None, None, None][:3]
    earlier, visited = count(bookings), count(visits)
    return {
        "viewer_id": viewer_id,
        "earlier_bookings": earlier,
        "visits": visited,
        "cancellations": count(cancellations),
        "returning": earlier > 0 or visited > 0,
        "since": since.decode() if since else None,
        "no_shows": count(no_shows),
        "orders": count(orders),
        "amount": count(cents) / 100,
    }
