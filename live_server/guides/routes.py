"""HTTP surface of guides and tasks: roster, staff tokens, tasks and their moves, sales,
the store's notice webhook, the brand's leaderboard."""

from __future__ import annotations

from aiohttp import web
from pydantic import RootModel

from live_server.core.errors import BadRequest
from live_server.core.tokens import Role
from live_server.guides.models import (
    MAX_GUIDES,
    GuideIn,
    GuideList,
    Leaderboard,
    LeaderboardQuery,
    Order,
    OrderIn,
    ReassignIn,
    StaffToken,
    StaffTokenIn,
    Task,
    TaskAction,
    TaskList,
    TaskQuery,
)
from live_server.guides.wiring import GUIDES
from live_server.web.api import Api, Call, json_response

api = Api()
TAG = "guides"
STAFF = [Role.STAFF]


class GuideRoster(RootModel[list[GuideIn]]):
    """The store's whole roster: guides left out are removed (their open tasks stay theirs
    until a manager reassigns them)."""


@api.put(
    "/api/v1/stores/{store}/guides", summary="Set the store's guides", tag=TAG, roles=STAFF,
    scope="store", body=GuideRoster, response=GuideList, errors=[400, 403, 404],
)  # fmt: skip
async def put_guides(call: Call[GuideRoster, None]) -> GuideList:
    """Ops or the store's manager. ``active: false`` keeps a guide's record and open tasks
    but gives it no new task (and its token can no longer move tasks)."""
    service = call.app[GUIDES]
    service.require_manager(call.who, call.path("store"))
    if len(call.body.root) > MAX_GUIDES:
        raise BadRequest(f"at most {MAX_GUIDES} guides per store")
    return await service.set_guides(call.path("store"), call.body.root)


@api.get(
    "/api/v1/stores/{store}/guides", summary="The store's guides with their open tasks",
    tag=TAG, roles=STAFF, scope="store", response=GuideList, errors=[403, 404],
)  # fmt: skip
async def get_guides(call: Call[None, None]) -> GuideList:
    service = call.app[GUIDES]
    service.require_staff(call.who, call.path("store"))
    return await service.guides(call.path("store"))


@api.post(
    "/api/v1/stores/{store}/staff-tokens", summary="Issue a staff token (manager or guide)",
    tag=TAG, roles=STAFF, scope="store", body=StaffTokenIn, response=StaffToken, status=201,
    errors=[400, 403, 404],
)  # fmt: skip
async def issue_staff_token(call: Call[StaffTokenIn, None]) -> StaffToken:
    """No body (or ``role: "manager"``): the store manager's token (ops only).
    ``{guide_id}``: that guide's token (ops, or the store's manager); the guide must be on
    the roster. A guide's token sees and moves only its own tasks."""
    return await call.app[GUIDES].issue_token(call.path("store"), call.body, call.who)


@api.get(
    "/api/v1/stores/{store}/tasks", summary="The store's tasks of a day", tag=TAG,
    roles=STAFF, scope="store", query=TaskQuery, response=TaskList, errors=[403, 404],
)  # fmt: skip
async def list_tasks(call: Call[None, TaskQuery]) -> TaskList:
    """Open tasks first (highest priority, soonest slot), then the rest. A guide's token
    gets its own tasks only; ``date`` is the store's local day of the visits (default
    today)."""
    return await call.app[GUIDES].list_tasks(call.path("store"), call.query, call.who)


@api.get(
    "/api/v1/tasks/{task}", summary="One task with the customer's whole story", tag=TAG,
    roles=STAFF, response=Task, errors=[403, 404],
)  # fmt: skip
async def get_task(call: Call[None, None]) -> Task:
    return await call.app[GUIDES].get_task(call.path("task"), call.who)


def _action(action: TaskAction, summary: str, doc: str) -> None:
    async def handler(call: Call[None, None]) -> Task:
        return await call.app[GUIDES].act(call.path("task"), action, call.who)

    handler.__doc__ = doc
    api.post(
        f"/api/v1/tasks/{{task}}/{action.value}", summary=summary, tag=TAG, roles=STAFF,
        response=Task, errors=[403, 404, 409],
    )(handler)  # fmt: skip


_action(TaskAction.ACCEPT, "Accept a task (the guide)",
        "The task's guide accepts it. A task nobody has accepted yet may be taken by another "
        "active guide of the store: the first accept wins, a second gets 409.")  # fmt: skip
_action(TaskAction.CONTACT, "Mark the customer contacted (the guide)",
        "The task's guide (or the manager) has reached the customer.")  # fmt: skip
_action(TaskAction.NO_SHOW, "Mark a no-show (the guide)",
        "After the slot has started: the customer did not come. The booking becomes "
        "``no_show`` too.")  # fmt: skip


@api.post(
    "/api/v1/tasks/{task}/reassign", summary="Give a task to another guide (the manager)",
    tag=TAG, roles=STAFF, body=ReassignIn, response=Task, errors=[403, 404, 409],
)  # fmt: skip
async def reassign(call: Call[ReassignIn, None]) -> Task:
    """``guide_id``: to that active guide; none: to the active guide with fewest open tasks
    (never the current one). The new guide gets ``task.assigned`` and a new accept window."""
    return await call.app[GUIDES].act(
        call.path("task"), TaskAction.REASSIGN, call.who, call.body.guide_id
    )


@api.post(
    "/api/v1/stores/{store}/orders", summary="Record a sale (credited 70/30)", tag=TAG,
    roles=STAFF, scope="store", body=OrderIn, response=Order, status=201,
    errors=[400, 403, 404, 409],
)  # fmt: skip
async def record_order(call: Call[OrderIn, None]) -> web.Response:
    """The sale is credited to the booking's guide and room: ``LIVE_CREDIT_STORE_SHARE``
    (0.7) of ``amount`` to the store side, the rest to the live team (a sale with no
    booking behind it is all the store's). Idempotent by ``order_id``: a repeat answers the
    first result (200, ``first: false``); the same id with another amount or booking: 409."""
    order = await call.app[GUIDES].record_order(call.path("store"), call.body, call.who)
    return json_response(order, status=201 if order.first else 200)


@api.get(
    "/api/v1/brands/{brand}/leaderboard", summary="The brand's guides and stores, ranked",
    tag=TAG, roles=STAFF, query=LeaderboardQuery, response=Leaderboard, errors=[400, 403, 404],
)  # fmt: skip
async def leaderboard(call: Call[None, LeaderboardQuery]) -> Leaderboard:
    """Ranked by credit (the store side's share of sales), then arrivals, then tasks, over
    ``from``..``to`` (the stores' local days, default today; at most 92 days). Ops, or any
    staff token of one of the brand's stores."""
    return await call.app[GUIDES].leaderboard(
        call.path("brand"), call.query.start, call.query.end, call.who
    )
