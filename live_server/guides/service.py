"""Guides and tasks: the roster, staff tokens that name a guide, task reads and moves,
sales with their 70/30 credit, the room's guide rows and the brand's leaderboard.

Tasks are made with their booking (book.lua), cancelled with it (cancel.lua) and marked
arrived by the check-in (arrive.lua); here they are read and moved by people
(action.lua) and by time (:mod:`.timers`, fire.lua). Who may do what:

* a guide (staff token ``guide:<id>``) reads and moves its own tasks; it may take a task
  of its store no one has accepted yet (the first accept wins);
* the store's manager (any other staff token of the store) and ops read every task of the
  store and reassign.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgpack
import orjson

from live_server.core.errors import BadRequest, Forbidden, NotFound
from live_server.core.staff import require_active_guide
from live_server.core.tokens import MANAGER_SUBJECT, Claims, Role, TokenSigner
from live_server.core.util import as_text
from live_server.guides.models import (
    METRICS,
    BadBookingForOrder,
    Guide,
    GuideIn,
    GuideList,
    GuideNotFound,
    GuideRow,
    Leaderboard,
    NoOtherGuide,
    NotYourTask,
    Order,
    OrderConflict,
    OrderIn,
    StaffToken,
    StaffTokenIn,
    StoreNotFound,
    StoreRow,
    Task,
    TaskAction,
    TaskConflict,
    TaskList,
    TaskNotFound,
    TaskQuery,
    TaskTimes,
    guide_rows,
    store_of_booking,
    store_of_task,
)
from live_server.guides.store import ActionCall, GuideStore, OrderCall
from live_server.stores.models import Store
from live_server.stores.store import StoreRegistry

log = logging.getLogger(__name__)

MAX_LEADERBOARD_DAYS = 92
UPCOMING_DAYS = 31
ORDER_RETENTION_S = 400 * 24 * 3600
_BOOKING_ID_SHAPE = "b_<store>_<10 hex>"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _unpack(raw: bytes | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = msgpack.unpackb(raw, raw=False)
    except Exception:  # a record written by a future version: show nothing, not a 500
        return {}
    return value if isinstance(value, dict) else {}


class GuideService:
    def __init__(
        self, store: GuideStore, stores: StoreRegistry, signer: TokenSigner,
        *, times: TaskTimes, store_share: float, token_ttl_s: int,
    ) -> None:  # fmt: skip
        self.store = store
        self.stores = stores
        self.signer = signer
        self.times = times
        self.store_share = store_share
        self.token_ttl_s = token_ttl_s

    # --- who ---------------------------------------------------------------------------------
    def store_record(self, store_id: str) -> Store:
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFound(f"no store {store_id!r}")
        return store

    @staticmethod
    def require_manager(who: Claims, store_id: str) -> None:
        """Ops, or a manager's staff token of this store."""
        if who.role is Role.OPS:
            return
        if who.role is not Role.STAFF or who.scope != store_id:
            raise Forbidden("your token is for another store")
        if not who.is_store_manager:
            raise Forbidden("this needs the store manager's token (or ops); yours is a guide's")

    @staticmethod
    def require_staff(who: Claims, store_id: str) -> None:
        if who.role is Role.OPS:
            return
        if who.role is not Role.STAFF or who.scope != store_id:
            raise Forbidden("your token is for another store")

    async def require_active_guide(self, who: Claims, store_id: str) -> None:
        await require_active_guide(self.store.redis, who, store_id)

    # --- roster --------------------------------------------------------------------------------
    async def set_guides(self, store_id: str, guides: list[GuideIn]) -> GuideList:
        self.store_record(store_id)
        ids = [g.id for g in guides]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise BadRequest(f"guide {dup!r} is listed twice")
        await self.store.set_roster(store_id, [g.model_dump() for g in guides])
        return await self.guides(store_id)

    async def guides(self, store_id: str) -> GuideList:
        self.store_record(store_id)
        roster, open_tasks = await self.store.roster(store_id)
        return GuideList(
            store_id=store_id,
            guides=[
                Guide(**record, open_tasks=open_tasks.get(gid, 0))
                for gid, record in sorted(roster.items())
            ],
        )

    async def issue_token(self, store_id: str, req: StaffTokenIn, who: Claims) -> StaffToken:
        """A manager's token (no guide) or a guide's (``guide_id``, a guide of the roster).
        Ops issues both; a store's manager issues its guides' tokens."""
        self.store_record(store_id)
        role = req.role or ("guide" if req.guide_id else "manager")
        if who.role is not Role.OPS:
            self.require_manager(who, store_id)
            if role == "manager":
                raise Forbidden("only ops issues manager tokens")
        if role == "guide":
            if not req.guide_id:
                raise BadRequest("a guide token needs guide_id")
            roster, _ = await self.store.roster(store_id)
            if req.guide_id not in roster:
                raise GuideNotFound(
                    f"no guide {req.guide_id!r} at store {store_id!r}; PUT the roster first"
                )
            subject = f"guide:{req.guide_id}"
        else:
            if req.guide_id:
                raise BadRequest("a manager token names no guide; leave out guide_id")
            subject = MANAGER_SUBJECT
        token = self.signer.issue(Role.STAFF, store_id, subject, self.token_ttl_s)
        expires = datetime.now(UTC) + timedelta(seconds=self.token_ttl_s)
        return StaffToken(
            token=token, store_id=store_id, role=role,
            guide_id=req.guide_id if role == "guide" else None, expires_at=_iso(expires),
        )  # fmt: skip

    # --- tasks ---------------------------------------------------------------------------------
    def _task(self, raw: dict[bytes, bytes], store: Store, names: dict[str, str]) -> Task:
        def text(field: str) -> str:
            return as_text(raw.get(field.encode(), b""))

        guide = text("guide_id") or None
        accept_by = int(text("accept_by") or 0)
        return Task(
            id=text("id"), booking_id=text("booking_id"), store_id=text("store_id"),
            room_id=text("room_id"), viewer_id=text("viewer_id"), guide_id=guide,
            guide_name=names.get(guide or ""), status=text("status"),  # type: ignore[arg-type]
            priority=int(text("priority") or 0), due_at=text("due_at"),
            slot_ts=int(text("slot_ts") or 0), created_at=text("created_at"),
            updated_at=text("updated_at"),
            accept_by=_iso(datetime.fromtimestamp(accept_by / 1000, store.tz))
            if accept_by else None,
            reassigned=int(text("reassigned") or 0), service_name=text("service_name"),
            customer=_unpack(raw.get(b"customer")), info=_unpack(raw.get(b"info")),
        )  # fmt: skip

    async def _names(self, store_id: str) -> dict[str, str]:
        roster, _ = await self.store.roster(store_id)
        return {gid: str(r.get("name", "")) for gid, r in roster.items()}

    async def list_tasks(self, store_id: str, query: TaskQuery, who: Claims) -> TaskList:
        store = self.store_record(store_id)
        self.require_staff(who, store_id)
        await self.require_active_guide(who, store_id)
        guide = query.guide
        if who.guide_id is not None:
            if guide not in (None, who.guide_id):
                raise Forbidden("a guide's token lists its own tasks only")
            guide = who.guide_id
        day = query.date or datetime.now(store.tz).date()
        start = datetime.combine(day, datetime.min.time(), store.tz)
        # One day when asked for; else from today on (what a guide has to do).
        span = timedelta(days=1 if query.date else UPCOMING_DAYS)
        raws = await self.store.tasks_between(
            store_id, start.timestamp(), (start + span).timestamp()
        )
        names = await self._names(store_id)
        tasks = [self._task(raw, store, names) for raw in raws]
        tasks = [
            t for t in tasks
            if (guide is None or t.guide_id == guide)
            and (query.status is None or t.status == query.status)
        ]  # fmt: skip
        tasks.sort(key=lambda t: (t.status not in ("assigned", "accepted", "contacted"),
                                  -t.priority, t.slot_ts))  # fmt: skip
        return TaskList(store_id=store_id, tasks=tasks)

    async def get_task(self, task_id: str, who: Claims) -> Task:
        """The task with the customer's whole story now (Customer 360)."""
        store_id = store_of_task(task_id)
        store = self.store_record(store_id)
        if not (who.role is Role.OPS or (who.role is Role.STAFF and who.scope == store_id)):
            raise TaskNotFound(f"no task {task_id!r}")
        raw = await self.store.task(store_id, task_id)
        if not raw:
            raise TaskNotFound(f"no task {task_id!r}")
        task = self._task(raw, store, await self._names(store_id))
        if who.guide_id is not None and task.guide_id != who.guide_id:
            raise NotYourTask("this task is another guide's")
        await self.require_active_guide(who, store_id)
        task.customer = {**task.customer, **await self.customer_360(task.viewer_id)}
        return task

    async def customer_360(self, viewer_id: str) -> dict[str, Any]:
        """OneID: the profile across rooms, groups and stores, as it is now."""
        profile = await self.store.customer(viewer_id)

        def n(field: str) -> int:
            try:
                return int(float(profile.get(field) or 0))
            except ValueError:
                return 0

        return {
            "viewer_id": viewer_id,
            "since": profile.get("created_at"),
            "identity": profile.get("platform") or profile.get("external_kind"),
            "rooms_watched": await self.store.customer_rooms(viewer_id),
            "groups": await self.store.customer_groups(viewer_id),
            "bookings_total": n("bookings"), "visits_total": n("visits"),
            "cancellations_total": n("cancellations"), "no_shows_total": n("no_shows"),
            "orders_total": n("orders"), "amount_total": n("amount_cents") / 100,
            "last_visit_ms": n("last_visit_ms") or None,
        }  # fmt: skip

    async def act(
        self, task_id: str, action: TaskAction, who: Claims, to_guide: str | None = None
    ) -> Task:
        store_id = store_of_task(task_id)
        store = self.store_record(store_id)
        if not (who.role is Role.OPS or (who.role is Role.STAFF and who.scope == store_id)):
            raise Forbidden("this task is another store's")
        if action is TaskAction.REASSIGN:
            self.require_manager(who, store_id)
        elif who.role is Role.STAFF and who.guide_id is None and action is TaskAction.ACCEPT:
            raise Forbidden("a guide accepts its task; a manager reassigns it")
        role = "guide" if who.guide_id is not None else "manager"
        actor = who.guide_id or (who.subject if who.role is Role.STAFF else "ops")
        now = datetime.now(store.tz)
        outcome = await self.store.act(ActionCall(
            store_id=store_id, task_id=task_id, action=action.value.replace("-", "_"),
            role=role, actor=actor, now_iso=_iso(now), now_ms=int(now.timestamp() * 1000),
            accept_ms=self.times.accept_s * 1000, to_guide=to_guide or "",
        ))  # fmt: skip
        kind, values = outcome.kind, outcome.values
        if kind == "missing":
            raise TaskNotFound(f"no task {task_id!r}")
        if kind == "inactive":
            who_ = to_guide if action is TaskAction.REASSIGN else actor
            if action is TaskAction.REASSIGN and who_ not in (await self.store.roster(store_id))[0]:
                raise GuideNotFound(f"no guide {who_!r} at store {store_id!r}")
            raise Forbidden(f"guide {who_!r} is not an active guide of store {store_id!r}")
        if kind == "forbidden":
            raise NotYourTask(f"this task is guide {values[0]!r}'s, not yours")
        if kind == "state":
            status, guide = values
            taken = f" by guide {guide!r}" if status == "accepted" and guide else ""
            raise TaskConflict(f"the task is {status}{taken}; it cannot be {action.value}ed")
        if kind == "early":
            raise TaskConflict("the visit has not started yet; mark a no-show after the slot")
        if kind == "none":
            raise NoOtherGuide("no other active guide to reassign the task to")
        if kind == "ok":
            await self._count_action(store, action, values, task_id)
        raw = await self.store.task(store_id, task_id)
        return self._task(raw, store, await self._names(store_id))

    async def _count_action(
        self, store: Store, action: TaskAction, values: tuple[str, ...], task_id: str
    ) -> None:
        metric = {TaskAction.ACCEPT: "accepted", TaskAction.NO_SHOW: "no_shows"}.get(action)
        if metric is None:
            return
        raw = await self.store.task(store.id, task_id)
        try:
            await self.store.count(
                room_id=as_text(raw.get(b"room_id", b"")), store_id=store.id,
                guide_id=values[1], brand=store.brand,
                day=datetime.now(store.tz).date().isoformat(), metrics={metric: 1},
                viewer_id=as_text(raw.get(b"viewer_id", b"")),
                customer={"no_shows": 1} if metric == "no_shows" else None,
            )  # fmt: skip
        except Exception:
            log.exception("task %s: counters not updated", task_id)

    # --- orders --------------------------------------------------------------------------------
    async def record_order(
        self, store_id: str, req: OrderIn, who: Claims, *, coupon_room: str = ""
    ) -> Order:
        store = self.store_record(store_id)
        self.require_staff(who, store_id)
        await self.require_active_guide(who, store_id)
        booking_id = req.booking_id or ""
        if booking_id:
            booking_store = store_of_booking(booking_id)
            if booking_store is None:
                raise BadBookingForOrder(
                    f"booking_id {booking_id!r} is not a booking id ({_BOOKING_ID_SHAPE})"
                )
            if booking_store != store_id:
                raise Forbidden(f"booking {booking_id!r} is another store's")
        cents = round(float(req.amount) * 100)
        fingerprint = hashlib.sha256(
            orjson.dumps([cents, booking_id, req.coupon_code or "", req.viewer_id or ""])
        ).hexdigest()[:32]
        now = datetime.now(store.tz)
        kind, values = await self.store.record_order(OrderCall(
            store_id=store_id, order_id=req.order_id, amount_cents=cents, booking_id=booking_id,
            coupon_code=req.coupon_code or "", viewer_id=req.viewer_id or "",
            store_share=self.store_share, now_iso=_iso(now),
            now_ms=int(now.timestamp() * 1000), fingerprint=fingerprint,
            room_id=coupon_room, expire_at=int(now.timestamp()) + ORDER_RETENTION_S,
        ))  # fmt: skip
        if kind == "nobooking":
            raise BadBookingForOrder(f"no booking {booking_id!r} at store {store_id!r}")
        if kind == "otherviewer":
            raise BadBookingForOrder(
                f"viewer_id {req.viewer_id!r} is not the viewer of booking {booking_id!r}: "
                "leave viewer_id out, the booking names its customer"
            )
        if kind == "dup":
            fields = {as_text(values[i]): as_text(values[i + 1]) for i in range(0, len(values), 2)}
            if fields.get("fingerprint") != fingerprint:
                raise OrderConflict(
                    f"order {req.order_id!r} was recorded with another amount or booking"
                )
            return self._order(store_id, fields, first=False)
        guide, room, viewer, store_cents, live_cents, _sid = (as_text(v) for v in values)
        try:
            await self.store.count(
                room_id=room, store_id=store_id, guide_id=guide, brand=store.brand,
                day=now.date().isoformat(),
                metrics={"orders": 1, "amount_cents": cents, "credit_cents": int(store_cents)},
                viewer_id=viewer, customer={"orders": 1, "amount_cents": cents} if viewer else None,
            )  # fmt: skip
            if room:
                await self.store.count_room_sale(room, store_id, cents, int(live_cents))
        except Exception:
            log.exception("order %s: counters not updated", req.order_id)
        return Order(
            order_id=req.order_id, store_id=store_id, amount=cents / 100,
            booking_id=booking_id or None, coupon_code=req.coupon_code,
            viewer_id=viewer or None, room_id=room or None, guide_id=guide or None,
            store_credit=int(store_cents) / 100, live_credit=int(live_cents) / 100,
            recorded_at=_iso(now), first=True,
        )  # fmt: skip

    @staticmethod
    def _order(store_id: str, f: dict[str, str], *, first: bool) -> Order:
        return Order(
            order_id=f["order_id"], store_id=store_id, amount=int(f["amount_cents"]) / 100,
            booking_id=f.get("booking_id") or None, coupon_code=f.get("coupon_code") or None,
            viewer_id=f.get("viewer_id") or None, room_id=f.get("room_id") or None,
            guide_id=f.get("guide_id") or None, store_credit=int(f["store_cents"]) / 100,
            live_credit=int(f["live_cents"]) / 100, recorded_at=f["recorded_at"], first=first,
        )  # fmt: skip

    # --- reports -------------------------------------------------------------------------------
    async def room_guides(self, room_id: str) -> list[GuideRow]:
        """``guides`` of the room's stats: one row per guide who had a task from it."""
        counters: dict[str, dict[str, int]] = {}
        for field, n in (await self.store.room_guide_counters(room_id)).items():
            _, store_id, guide_id, metric = field.split(":", 3)
            counters.setdefault(f"{store_id}|{guide_id}", {})[metric] = n
        names: dict[tuple[str, str], str] = {}
        for store_id in {scope.partition("|")[0] for scope in counters}:
            if self.stores.get(store_id) is not None:
                for gid, name in (await self._names(store_id)).items():
                    names[(store_id, gid)] = name
        return guide_rows(counters, names)

    async def leaderboard(
        self, brand: str, start: date | None, end: date | None, who: Claims
    ) -> Leaderboard:
        brand_stores = {s.id: s for s in self.stores.all() if s.brand == brand}
        if who.role is not Role.OPS and not (who.role is Role.STAFF and who.scope in brand_stores):
            raise Forbidden("the leaderboard is for ops and the brand's own stores")
        if not brand_stores:  # a typo, or a brand without stores: nothing to rank
            raise NotFound(f"no store of brand {brand!r}")
        # The counters are kept by the stores' local days: "today" is the asking store's
        # (ops: the brand's first store's; a brand across time zones names its dates)
        own = brand_stores.get(who.scope) if who.role is Role.STAFF else None
        tz = (own or next(iter(brand_stores.values()))).tz
        today = datetime.now(tz).date()
        end = end or today
        start = start or end
        if start > end:
            raise BadRequest("from must not be after to")
        if (end - start).days >= MAX_LEADERBOARD_DAYS:
            raise BadRequest(f"at most {MAX_LEADERBOARD_DAYS} days at once")
        days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        guides: dict[str, dict[str, int]] = {}
        stores: dict[str, dict[str, int]] = {}
        for day in await self.store.leaderboard_days(brand, days):
            for field, n in day.items():
                parts = field.split("|")
                if parts[0] == "g" and len(parts) == 4:
                    bucket = guides.setdefault(f"{parts[1]}|{parts[2]}", {})
                    bucket[parts[3]] = bucket.get(parts[3], 0) + n
                elif parts[0] == "s" and len(parts) == 3:
                    bucket = stores.setdefault(parts[1], {})
                    bucket[parts[2]] = bucket.get(parts[2], 0) + n
        names: dict[tuple[str, str], str] = {}
        for store_id in {scope.partition("|")[0] for scope in guides}:
            if store_id in brand_stores:
                for gid, name in (await self._names(store_id)).items():
                    names[(store_id, gid)] = name
        store_rows = [
            StoreRow(
                store_id=sid,
                store_name=brand_stores[sid].name if sid in brand_stores else None,
                **{m: c.get(m, 0) for m in ("tasks", "arrivals", "no_shows", "orders")},
                amount=c.get("amount_cents", 0) / 100,
                credit=c.get("credit_cents", 0) / 100,
            )
            for sid, c in stores.items()
        ]
        store_rows.sort(key=lambda r: (-r.credit, -r.arrivals, -r.tasks, r.store_id))
        amount = sum(c.get("amount_cents", 0) for c in stores.values())
        credit = sum(c.get("credit_cents", 0) for c in stores.values())
        assert set(METRICS) >= {"tasks", "arrivals"}
        return Leaderboard(
            brand=brand, start=start.isoformat(), end=end.isoformat(),
            store_share=self.store_share, guides=guide_rows(guides, names), stores=store_rows,
            live_team_credit=(amount - credit) / 100, generated_at=_iso(datetime.now(UTC)),
        )  # fmt: skip
