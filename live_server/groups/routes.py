"""HTTP surface of the group channel: member events from the group's bot (signed like its
messages), store posts (store manager, ops), brand automations and the brand's group
report (ops). Join gifts are set on ``PUT /api/v1/groups/{group}`` (questions' route)."""

from __future__ import annotations

from aiohttp import web
from pydantic import RootModel

from live_server.core.errors import Forbidden
from live_server.core.tokens import Claims, Role
from live_server.groups.models import (
    Automation,
    AutomationList,
    BrandGroupStats,
    CreatePost,
    MemberEvents,
    MemberEventsResult,
    Post,
    PostList,
)
from live_server.groups.wiring import GROUPS
from live_server.questions.models import Group
from live_server.questions.wiring import QUESTIONS
from live_server.stores.wiring import STORES
from live_server.web.api import Api, Call

api = Api()
TAG = "groups"

SIGNED: web.RequestKey[Group] = web.RequestKey("signed_member_group", Group)


class AutomationsIn(RootModel[list[Automation]]):
    """The brand's automations (replaces them all)."""


async def _signed(request: web.Request) -> None:
    """The group's signature over the raw body, checked before the body is parsed (the
    questions domain's registry and check: one secret per group, whoever talks to it)."""
    raw = await request.read()
    request[SIGNED] = await request.app[QUESTIONS].signed_group(
        request.match_info["group"], raw,
        request.headers.get("X-Timestamp"), request.headers.get("X-Signature"),
    )  # fmt: skip


def _manager(who: Claims) -> None:
    if who.role is Role.STAFF and not who.is_store_manager:
        raise Forbidden("store posts need the store manager's token (or ops), not a guide's")


@api.post(
    "/api/v1/groups/{group}/events", summary="A community-group bot reports member events",
    tag=TAG, body=MemberEvents, response=MemberEventsResult, errors=[401, 403, 404],
    headers=["X-Timestamp", "X-Signature"], guard=_signed,
    description=(
        "Signed like group messages (X-Timestamp, X-Signature: sha256=<hex HMAC-SHA256(secret, "
        "timestamp + '.' + raw body)>). member_joined / member_left, each applied once by id. "
        "A member with `launch` (a launch token whose room is the group id) or a signed "
        "`external_id` is the viewer with that identity (OneID). A first join with a join "
        "gift set issues one code to the member, ever, sent to the group's callback_url."
    ),
)  # fmt: skip
async def member_events(call: Call[MemberEvents, None]) -> MemberEventsResult:
    return await call.app[GROUPS].member_events(call.request[SIGNED], call.body)


@api.post(
    "/api/v1/stores/{store}/posts", summary="Post to the store's community groups", tag=TAG,
    roles=[Role.STAFF], scope="store", body=CreatePost, response=Post, status=201,
    errors=[400, 403],
    description=(
        "Store manager or ops. Each group of the store (or `groups`) gets a signed notice "
        "{type: post, kind, text, post_id} through its outbox (retries, dead letters), at "
        "`send_at` or now; the answer shows each group's delivery state."
    ),
)  # fmt: skip
async def create_post(call: Call[CreatePost, None]) -> Post:
    _manager(call.who)
    return await call.app[GROUPS].create_post(call.who, call.path("store"), call.body)


@api.get(
    "/api/v1/stores/{store}/posts", summary="The store's posts and their delivery per group",
    tag=TAG, roles=[Role.STAFF], scope="store", response=PostList, errors=[403, 404],
)  # fmt: skip
async def list_posts(call: Call[None, None]) -> PostList:
    _manager(call.who)
    return await call.app[GROUPS].list_posts(call.path("store"))


@api.put(
    "/api/v1/brands/{brand}/automations", summary="Set the brand's follow-up automations",
    tag=TAG, roles=[Role.OPS], body=AutomationsIn, response=AutomationList,
    description=(
        "[{trigger: first_visit, delay_days, action: send_preview}]: delay_days after a "
        "customer's first check-in (or at the next scheduled broadcast's preview time, "
        "whichever is later) the store's group bot gets a signed follow_up notice naming "
        "the member and the next broadcast. Timers survive restarts and fire once."
    ),
)  # fmt: skip
async def put_automations(call: Call[AutomationsIn, None]) -> AutomationList:
    return await call.app[GROUPS].put_automations(call.path("brand"), call.body.root)


@api.get(
    "/api/v1/brands/{brand}/automations", summary="The brand's follow-up automations",
    tag=TAG, roles=[Role.OPS], response=AutomationList,
)  # fmt: skip
async def get_automations(call: Call[None, None]) -> AutomationList:
    return await call.app[GROUPS].get_automations(call.path("brand"))


@api.get(
    "/api/v1/brands/{brand}/groups/stats", summary="Per-group counters of the brand",
    tag=TAG, roles=[Role.OPS, Role.STAFF], response=BrandGroupStats, errors=[403],
    description=(
        "Members (now, joined, left), questions, join gifts issued and redeemed, bookings "
        "(preview ones apart) and visits by members: the brand report page's data. Ops, or "
        "a staff token of one of the brand's stores (as the leaderboard)."
    ),
)  # fmt: skip
async def brand_group_stats(call: Call[None, None]) -> BrandGroupStats:
    brand = call.path("brand")
    who = call.who
    if who.role is Role.STAFF:
        store = call.app[STORES].get(who.scope)
        if store is None or store.brand != brand:
            raise Forbidden("the report is for ops and the brand's own stores")
    return await call.app[GROUPS].brand_stats(brand)
