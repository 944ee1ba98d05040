"""Guides and tasks: shapes, rules and errors. Pure, no I/O.

This module is the guides domain's named interface: bookings build a booking's
:class:`TaskPlan` with it (the task is made in book.lua, in the same step as the booking),
and store streams run :data:`TASK_LUA` inside their arrive and cancel scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

import msgpack
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

from live_server.core import keys
from live_server.core.errors import BadRequest, Conflict, Forbidden, NotFound
from live_server.core.scripts import Script

TASK_LUA = Script(__file__, "task.lua")
"""The task functions (tk_*) every script that moves a task starts with."""

Day = date  # a field below is named ``date``
GUIDE_ID = r"^[A-Za-z0-9_.-]{1,64}$"
_BOOKING_ID = re.compile(r"^b_([A-Za-z0-9_.-]{1,64})_[0-9a-f]{10}$")
_TASK_ID = re.compile(r"^t_(b_([A-Za-z0-9_.-]{1,64})_[0-9a-f]{10})$")
MAX_GUIDES = 200


class TaskStatus(StrEnum):
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    CONTACTED = "contacted"
    ARRIVED = "arrived"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({TaskStatus.ASSIGNED, TaskStatus.ACCEPTED, TaskStatus.CONTACTED})


class TaskAction(StrEnum):
    ACCEPT = "accept"
    CONTACT = "contact"
    NO_SHOW = "no-show"
    REASSIGN = "reassign"


# --- errors ------------------------------------------------------------------------------
class StoreNotFound(NotFound):
    title, slug = "Store not found", "store-not-found"


class TaskNotFound(NotFound):
    title, slug = "Task not found", "task-not-found"


class GuideNotFound(NotFound):
    title, slug = "Guide not found", "guide-not-found"


class TaskConflict(Conflict):
    title, slug = "Task cannot do that now", "task-state"


class NotYourTask(Forbidden):
    title, slug = "Not your task", "task-forbidden"


class NoOtherGuide(Conflict):
    title, slug = "No other active guide", "no-other-guide"


class OrderConflict(Conflict):
    title, slug = "Order id used for another sale", "order-id-reused"


class BadBookingForOrder(BadRequest):
    title, slug = "Booking cannot take this order", "order-booking"


# --- ids -----------------------------------------------------------------------------------
def task_id_for(booking_id: str) -> str:
    """One task per booking: its id is the booking's, prefixed."""
    return f"t_{booking_id}"


def store_of_task(task_id: str) -> str:
    match = _TASK_ID.match(task_id)
    if match is None:
        raise TaskNotFound(f"no task {task_id!r}")
    return match.group(2)


def store_of_booking(booking_id: str) -> str | None:
    """The store a booking id names (bookings' id rule), or None for no booking id."""
    match = _BOOKING_ID.match(booking_id)
    return match.group(1) if match else None


def booking_of_task(task_id: str) -> str:
    match = _TASK_ID.match(task_id)
    if match is None:
        raise TaskNotFound(f"no task {task_id!r}")
    return match.group(1)


def task_keys(store_id: str, task_id: str) -> list[str]:
    """The keys tk_keys() reads, in its order (all on the store's tag)."""
    return [
        keys.store_task(store_id, task_id), keys.store_tasks(store_id),
        keys.store_guide_load(store_id), keys.store_guide_meta(store_id),
        keys.store_guide_of(store_id), keys.store_task_timers(store_id),
    ]  # fmt: skip


# --- priority --------------------------------------------------------------------------------
def nearness(slot_ts: int, now_s: float) -> int:
    """The slot's part of a task's priority (0-60): the sooner the visit, the higher."""
    ahead = slot_ts - now_s
    if ahead <= 3600:
        return 60
    if ahead <= 3 * 3600:
        return 45
    if ahead <= 12 * 3600:
        return 30
    if ahead <= 48 * 3600:
        return 15
    return 5


def customer_value(visits: int, orders: int, bookings: int, no_shows: int) -> int:
    """The customer's part of a task's priority (0-40); book.lua computes the same."""
    return max(0, min(40, 10 * visits + 5 * orders + 2 * bookings - 5 * no_shows))


@dataclass(frozen=True, slots=True)
class TaskTimes:
    """When a task's timers fire (settings): accept window, reminder lead, no-show grace."""

    accept_s: int = 300
    remind_s: int = 1800
    no_show_grace_s: int = 900


class _TaskSettings(Protocol):
    @property
    def tasks(self) -> bool: ...
    @property
    def task_accept_s(self) -> int: ...
    @property
    def task_remind_s(self) -> int: ...
    @property
    def task_no_show_grace_s(self) -> int: ...


def task_times(settings: _TaskSettings) -> TaskTimes | None:
    """The deployment's task timers (None: LIVE_TASKS=0, bookings make no task)."""
    if not settings.tasks:
        return None
    return TaskTimes(
        accept_s=settings.task_accept_s, remind_s=settings.task_remind_s,
        no_show_grace_s=settings.task_no_show_grace_s,
    )  # fmt: skip


def talking_points(
    room_title: str, service_name: str, product: str | None, customer: dict[str, Any] | None
) -> list[str]:
    """What the guide can open with: what they watched and booked, and who they are
    (``customer`` None: not known here, so nothing is said about them)."""
    points = []
    if room_title:
        points.append(f"来自直播间「{room_title}」 / watched “{room_title}”")
    if service_name:
        points.append(f"预约了「{service_name}」 / booked {service_name}")
    if product and product != service_name:
        points.append(f"下单时屏幕上是「{product}」 / on screen: {product}")
    if customer is None:
        return points
    visits = int(customer.get("visits") or 0)
    if visits:
        points.append(f"老顾客，到店 {visits} 次 / returning: {visits} visits")
    elif not customer.get("earlier_bookings"):
        points.append("第一次预约，欢迎新客 / first booking: welcome them")
    if customer.get("no_shows"):
        points.append(f"曾爽约 {customer['no_shows']} 次，提前确认 / confirm ahead")
    return points


_INFO: dict[tuple[str, str, str | None], bytes] = {}


def _info(
    room_title: str, service_name: str, product: str | None, customer: dict[str, Any] | None
) -> bytes:
    """The task's ``info`` (msgpack): the same bytes for every booking of a room's service
    and product on one node (the talking points then name no customer fact)."""
    if customer is not None:  # a cluster: the points know the customer
        return _pack_info(room_title, service_name, product, customer)
    key = (room_title, service_name, product)
    packed = _INFO.get(key)
    if packed is None:
        if len(_INFO) > 4096:
            _INFO.clear()
        packed = _INFO[key] = _pack_info(room_title, service_name, product, None)
    return packed


def _pack_info(
    room_title: str, service_name: str, product: str | None, customer: dict[str, Any] | None
) -> bytes:
    packed: bytes = msgpack.packb({
        "room_title": room_title, "product": product, "service_name": service_name,
        "talking_points": talking_points(room_title, service_name, product, customer),
    }, use_bin_type=False)  # fmt: skip
    return packed


def task_plan(
    *,
    booking_id: str,
    store_id: str,
    room_id: str,
    viewer_id: str,
    due_at: str,
    slot_ts: int,
    slot_end_ts: int,
    created_at: str,
    now_ms: int,
    expire_at: int,
    times: TaskTimes,
    service_name: str,
    room_title: str,
    product: str | None,
    owner: str = "",
    customer: dict[str, Any] | None = None,
) -> bytes:
    """book.lua's task plan (its ARGV[13]): msgpack. ``customer`` only on a cluster (book.lua
    reads it itself on one node), where its value part is computed here.

    What does not depend on the guide or the customer is laid out here, once: the task
    hash's fixed fields and the fixed entries of its task.assigned event (msgpack map
    entries without the header; tk_create adds guide, priority, accept_by, customer)."""
    task_id = task_id_for(booking_id)
    info = _info(room_title, service_name, product, customer)
    fields = [
        "id", task_id, "booking_id", booking_id, "store_id", store_id, "room_id", room_id,
        "viewer_id", viewer_id, "due_at", due_at, "slot_ts", slot_ts,
        "slot_end_ts", slot_end_ts, "created_at", created_at, "updated_at", created_at,
        "service_name", service_name,
    ]  # fmt: skip
    event = {
        "task_id": task_id, "booking_id": booking_id, "store_id": store_id, "room_id": room_id,
        "viewer_id": viewer_id, "status": "assigned", "due_at": due_at, "slot_ts": slot_ts,
        "created_at": created_at, "updated_at": created_at, "reassigned": 0,
        "service_name": service_name, "action": "created",
    }  # fmt: skip
    packed_event = msgpack.packb(event, use_bin_type=False)
    # the map's header is 1 byte under 16 entries: the entries follow it (tk_create adds
    # info, sent once, to both the hash and the event)
    event_body = packed_event[1:]
    plan: dict[str, Any] = {
        "id": task_id, "viewer_id": viewer_id, "owner": owner,
        "priority": nearness(slot_ts, now_ms / 1000), "now_ms": now_ms,
        "accept_ms": times.accept_s * 1000, "remind_ms": (slot_ts - times.remind_s) * 1000,
        "noshow_ms": (slot_end_ts + times.no_show_grace_s) * 1000, "slot_ts": slot_ts,
        "expire_at": expire_at, "fields": fields, "event": event_body,
        "event_n": len(event), "info": info,
    }  # fmt: skip
    if customer is not None:
        plan["customer"] = msgpack.packb(customer, use_bin_type=False)
        plan["value"] = customer_value(
            int(customer.get("visits") or 0), int(customer.get("orders") or 0),
            int(customer.get("earlier_bookings") or 0), int(customer.get("no_shows") or 0),
        )  # fmt: skip
    # Lua's cmsgpack knows no bin type: bytes travel as raw strings.
    packed: bytes = msgpack.packb(plan, use_bin_type=False)
    return packed


# --- API shapes ----------------------------------------------------------------------------
class GuideIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(pattern=GUIDE_ID)
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32, pattern=r"^\+?[0-9 -]{3,32}$")
    active: bool = True


class Guide(BaseModel):
    id: str
    name: str
    phone: str | None = None
    active: bool = True
    open_tasks: int = 0


class GuideList(BaseModel):
    store_id: str
    guides: list[Guide]


class StaffTokenIn(BaseModel):
    """``POST /api/v1/stores/{store}/staff-tokens``: a guide's token names its guide."""

    model_config = ConfigDict(extra="forbid", strict=True)
    guide_id: str | None = Field(default=None, pattern=GUIDE_ID)
    role: Literal["guide", "manager"] | None = None


class StaffToken(BaseModel):
    token: str
    store_id: str
    role: Literal["guide", "manager"]
    guide_id: str | None = None
    expires_at: str


class TaskCustomer(BaseModel):
    """Customer 360 (OneID): who they are across rooms, groups and stores."""

    model_config = ConfigDict(extra="allow")
    viewer_id: str
    earlier_bookings: int = 0
    visits: int = 0
    cancellations: int = 0
    no_shows: int = 0
    orders: int = 0
    amount: float = 0.0
    returning: bool = False
    since: str | None = None


class Task(BaseModel):
    id: str
    booking_id: str
    store_id: str
    room_id: str
    viewer_id: str
    guide_id: str | None
    guide_name: str | None = None
    status: TaskStatus
    priority: int
    due_at: str
    slot_ts: int
    created_at: str
    updated_at: str
    accept_by: str | None = Field(None, description="ISO time the accept window closes")
    reassigned: int = 0
    service_name: str = ""
    customer: dict[str, Any]
    info: dict[str, Any] = Field(
        default_factory=dict, description="room, product on screen, talking points"
    )


class TaskList(BaseModel):
    store_id: str
    tasks: list[Task]


class TaskQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    guide: str | None = Field(default=None, pattern=GUIDE_ID)
    status: TaskStatus | None = None
    date: Day | None = Field(
        default=None,
        description="the store's local day of the visits (default: today and the 30 days after)",
    )


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    guide_id: str | None = Field(default=None, pattern=GUIDE_ID)


class OrderIn(BaseModel):
    """``POST /api/v1/stores/{store}/orders``: one sale, idempotent by ``order_id``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    order_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    amount: StrictFloat | StrictInt = Field(ge=0, le=10_000_000)
    booking_id: str | None = Field(default=None, max_length=100)
    coupon_code: str | None = Field(default=None, max_length=200)
    viewer_id: str | None = Field(default=None, max_length=100)

    @field_validator("amount")
    @classmethod
    def _cents(cls, value: float) -> float:
        """Money in cents: 100.005 is a mistake at the till, not a sale of 100.00 or 100.01."""
        if abs(value * 100 - round(value * 100)) > 1e-6:
            raise ValueError("at most two decimals (cents)")
        return value


class Order(BaseModel):
    order_id: str
    store_id: str
    amount: float
    booking_id: str | None = None
    coupon_code: str | None = None
    viewer_id: str | None = None
    room_id: str | None = None
    guide_id: str | None = None
    store_credit: float = Field(description="the store side's share (LIVE_CREDIT_STORE_SHARE)")
    live_credit: float = Field(description="the live team's share")
    recorded_at: str
    first: bool = True


class LeaderboardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # "from" is a keyword: the route maps it.
    start: Day | None = Field(default=None, alias="from")
    end: Day | None = Field(default=None, alias="to")


class GuideRow(BaseModel):
    guide_id: str
    guide_name: str | None = None
    store_id: str
    tasks: int = 0
    accepted: int = 0
    arrivals: int = 0
    no_shows: int = 0
    orders: int = 0
    amount: float = 0.0
    credit: float = 0.0


class StoreRow(BaseModel):
    store_id: str
    store_name: str | None = None
    tasks: int = 0
    arrivals: int = 0
    no_shows: int = 0
    orders: int = 0
    amount: float = 0.0
    credit: float = 0.0


class Leaderboard(BaseModel):
    brand: str
    start: str = Field(serialization_alias="from")
    end: str = Field(serialization_alias="to")
    store_share: float
    guides: list[GuideRow]
    stores: list[StoreRow]
    live_team_credit: float = 0.0
    generated_at: str


METRICS = ("tasks", "accepted", "arrivals", "no_shows", "orders", "amount_cents", "credit_cents")


def guide_rows(
    counters: dict[str, dict[str, int]], names: dict[tuple[str, str], str]
) -> list[GuideRow]:
    """``{"<store>|<guide>": {metric: n}}`` -> rows, best first (credit, arrivals, tasks)."""
    rows = []
    for scope, c in counters.items():
        store_id, _, guide_id = scope.partition("|")
        rows.append(GuideRow(
            guide_id=guide_id, guide_name=names.get((store_id, guide_id)), store_id=store_id,
            tasks=c.get("tasks", 0), accepted=c.get("accepted", 0),
            arrivals=c.get("arrivals", 0), no_shows=c.get("no_shows", 0),
            orders=c.get("orders", 0), amount=c.get("amount_cents", 0) / 100,
            credit=c.get("credit_cents", 0) / 100,
        ))  # fmt: skip
    rows.sort(key=lambda r: (-r.credit, -r.arrivals, -r.tasks, r.store_id, r.guide_id))
    return rows


def iso_from_ms(ms: int, tz: Any) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="milliseconds")


# --- store notices (store_streams delivers them to the store's webhook) ---------------------
def notice_for(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The notice a store-stream entry makes (None: not one the store is told about)."""
    kind, action = entry.get("type"), entry.get("action")
    if kind == "task.assigned":
        notice = "task.reassigned" if action == "reassigned" else "task.new"
    elif kind == "task.reminder":
        notice = "task.reminder"
    elif kind == "task.updated" and action == "overdue":
        notice = "task.overdue"
    else:
        return None
    customer = entry.get("customer") or {}
    info = entry.get("info") or {}
    return {
        "type": notice, "delivery_id": entry["id"], "store_id": entry.get("store_id"),
        "task_id": entry.get("task_id"), "booking_id": entry.get("booking_id"),
        "guide_id": entry.get("guide_id") or None,
        "previous_guide_id": entry.get("previous_guide_id") or None,
        "reason": entry.get("reason"), "due_at": entry.get("due_at"),
        "priority": entry.get("priority"), "service_name": entry.get("service_name"),
        "customer": {k: customer.get(k) for k in ("viewer_id", "visits", "returning")
                     if k in customer},
        "talking_points": info.get("talking_points", []),
    }  # fmt: skip
