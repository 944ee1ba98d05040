"""HTTP surface of questions: group-bot intake (signed), viewer questions and votes, the
host's feed and actions, and ops management of community groups."""

from __future__ import annotations

from aiohttp import web

from live_server.core.appkeys import SETTINGS
from live_server.core.errors import ValidationFailed
from live_server.core.outbound import refuse_internal_url
from live_server.core.tenancy import TENANCY
from live_server.core.tokens import Role
from live_server.questions.models import (
    AskerList,
    AskQuestion,
    BrandLexicon,
    Group,
    GroupMessage,
    GroupOut,
    GroupSpec,
    HostAction,
    IntakeResult,
    MergeQuestion,
    MergeResult,
    QuestionCard,
    QuestionList,
    QuestionQuery,
    SplitQuestion,
    SplitResult,
    VoteResult,
)
from live_server.questions.wiring import QUESTIONS
from live_server.stores.wiring import STORES
from live_server.web.api import Api, Call
from live_server.web.limits import Rule

api = Api()
TAG = "questions"

QUESTION_PER_VIEWER = Rule("question-viewer", "viewer", 5, 60)
QUESTION_PER_IP = Rule("question-ip", "ip", 300, 60)
VOTE_PER_VIEWER = Rule("vote-viewer", "viewer", 30, 60)
VOTE_PER_IP = Rule("vote-ip", "ip", 1200, 60)


SIGNED_GROUP: web.RequestKey[Group] = web.RequestKey("signed_group", Group)


async def _group_signature(request: web.Request) -> None:
    """The group's signature over the raw body, before the body is parsed (an unsigned
    caller gets 401, never the body's field errors)."""
    raw = await request.read()  # aiohttp keeps it for the body parser
    request[SIGNED_GROUP] = await request.app[QUESTIONS].signed_group(
        request.match_info["group"], raw,
        request.headers.get("X-Timestamp"), request.headers.get("X-Signature"),
    )  # fmt: skip


@api.post(
    "/api/v1/groups/{group}/messages", summary="A community-group bot forwards a question",
    tag=TAG, body=GroupMessage, response=IntakeResult, errors=[401, 404, 409, 422, 429],
    headers=["X-Timestamp", "X-Signature"], guard=_group_signature,
    description=(
        "Signed with the group's secret: X-Timestamp (unix seconds, within 5 minutes) and "
        "X-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + '.' + raw body)>. Routed to "
        "the room live for the group's brand (409 if none). A replayed message_id is "
        "answered 200 with duplicate=true and changes nothing."
    ),
)  # fmt: skip
async def receive_group_message(call: Call[GroupMessage, None]) -> IntakeResult:
    return await call.app[QUESTIONS].intake_group(call.request[SIGNED_GROUP], call.body)


@api.post(
    "/api/v1/rooms/{room}/questions", summary="A viewer asks a question", tag=TAG,
    roles=[Role.VIEWER], scope="room", body=AskQuestion, response=IntakeResult,
    errors=[404, 409, 410, 422, 429],
    limits=[QUESTION_PER_VIEWER, QUESTION_PER_IP],
)  # fmt: skip
async def ask_question(call: Call[AskQuestion, None]) -> IntakeResult:
    return await call.app[QUESTIONS].ask_viewer(call.path("room"), call.who.subject, call.body.text)


@api.get(
    "/api/v1/rooms/{room}/questions", summary="The room's merged question cards", tag=TAG,
    roles=[Role.HOST], scope="room", query=QuestionQuery, response=QuestionList, errors=[404],
    description="Filter by status (repeat or comma-separate), store, group; sort=new|top.",
)  # fmt: skip
async def list_questions(call: Call[None, QuestionQuery]) -> QuestionList:
    return await call.app[QUESTIONS].list(call.path("room"), call.query)


@api.get(
    "/api/v1/questions/{question}", summary="One question card", tag=TAG,
    roles=[Role.HOST], response=QuestionCard, errors=[404],
)  # fmt: skip
async def get_question(call: Call[None, None]) -> QuestionCard:
    return await call.app[QUESTIONS].get(call.who, call.path("question"))


def _action_route(action: HostAction, summary: str, description: str) -> None:
    async def handler(call: Call[None, None]) -> QuestionCard:
        return await call.app[QUESTIONS].act(call.who, call.path("question"), action)

    handler.__name__ = f"{action.value}_question"
    api.post(
        f"/api/v1/questions/{{question}}/{action.value}", summary=summary, tag=TAG,
        roles=[Role.HOST], response=QuestionCard, errors=[404, 409], description=description,
    )(handler)  # fmt: skip


_action_route(
    HostAction.PIN,
    "Pin the question being answered",
    "Broadcasts question.pinned to viewers; the previously pinned card returns to new.",
)
_action_route(
    HostAction.ANSWER,
    "Mark answered (moves to the archive)",
    "Broadcasts question.answered to viewers and queues a signed answer notice to "
    "every originating group. Repeating it changes nothing.",
)
_action_route(HostAction.DISMISS, "Dismiss the question", "Restorable.")
_action_route(HostAction.RESTORE, "Restore an answered, dismissed or pinned question to new", "")
_action_route(HostAction.APPROVE, "Approve a question held for review", "")  # fmt: skip


@api.get(
    "/api/v1/questions/{question}/askers", summary="Who asked the question, and what",
    tag=TAG, roles=[Role.HOST], response=AskerList, errors=[404],
    description="Each asker's own wording, group and store, in the order they joined the card.",
)  # fmt: skip
async def question_askers(call: Call[None, None]) -> AskerList:
    return await call.app[QUESTIONS].askers(call.who, call.path("question"))


@api.post(
    "/api/v1/questions/{question}/split", summary="Split askers off into a new question",
    tag=TAG, roles=[Role.HOST], body=SplitQuestion, response=SplitResult, errors=[404, 409],
    description=(
        "The askers named (ids from .../askers), or without a body the most recent asker to "
        "join, move with their own wording to a new open card; both cards are recounted. "
        "/host gets question.updated (this card) and question.new (the new one)."
    ),
)  # fmt: skip
async def split_question(call: Call[SplitQuestion, None]) -> SplitResult:
    return await call.app[QUESTIONS].split(call.who, call.path("question"), call.body)


@api.post(
    "/api/v1/questions/{question}/merge", summary="Merge the question into another one",
    tag=TAG, roles=[Role.HOST], body=MergeQuestion, response=MergeResult, errors=[404, 409],
    description=(
        "Askers, groups, stores and votes join the card `into` (same room, new or pinned); "
        "this card becomes merged and later duplicates of it join `into`. Repeating it "
        "changes nothing. /host gets question.updated for both cards."
    ),
)  # fmt: skip
async def merge_question(call: Call[MergeQuestion, None]) -> MergeResult:
    return await call.app[QUESTIONS].merge(call.who, call.path("question"), call.body)


@api.post(
    "/api/v1/questions/{question}/vote", summary="Upvote a question (one per viewer)", tag=TAG,
    roles=[Role.VIEWER], response=VoteResult, errors=[404, 409, 429],
    limits=[VOTE_PER_VIEWER, VOTE_PER_IP],
)  # fmt: skip
async def vote_question(call: Call[None, None]) -> VoteResult:
    return await call.app[QUESTIONS].vote(
        call.who, call.path("question"), call.request.remote or ""
    )


@api.put(
    "/api/v1/brands/{brand}/lexicon", summary="Set the brand's vocabulary for merging questions",
    tag=TAG, roles=[Role.OPS], body=BrandLexicon, response=BrandLexicon,
    description=(
        "Synonym groups, product names and opposite pairs, on top of the generic retail "
        "vocabulary. Replaces the brand's lexicon; open cards are read again with it "
        "(every worker within 5 s)."
    ),
)  # fmt: skip
async def put_lexicon(call: Call[BrandLexicon, None]) -> BrandLexicon:
    return await call.app[QUESTIONS].put_lexicon(call.path("brand"), call.body)


@api.get(
    "/api/v1/brands/{brand}/lexicon", summary="The brand's vocabulary for merging questions",
    tag=TAG, roles=[Role.OPS], response=BrandLexicon,
)  # fmt: skip
async def get_lexicon(call: Call[None, None]) -> BrandLexicon:
    return await call.app[QUESTIONS].get_lexicon(call.path("brand"))


@api.put(
    "/api/v1/groups/{group}", summary="Create or update a community group", tag=TAG,
    roles=[Role.OPS], body=GroupSpec, response=GroupOut,
    description=(
        "Without a secret, a new group gets a generated one (an existing group keeps its own)."
    ),
)  # fmt: skip
async def put_group(call: Call[GroupSpec, None]) -> GroupOut:
    """A group is its store's: its brand is the store's (a brand given that differs is
    refused); questions, stats and offers follow that brand."""
    spec = call.body
    if spec.callback_url is not None and call.app[SETTINGS].production:
        refuse_internal_url(spec.callback_url, "callback_url")
    await call.app[TENANCY].require(call.who, "store", spec.store_id)
    store = call.app[STORES].get(spec.store_id)
    if store is not None and store.brand != "default":
        if "brand" in spec.model_fields_set and spec.brand != store.brand:
            raise ValidationFailed(
                f"brand: the group's store {store.id!r} is brand {store.brand!r}, not "
                f"{spec.brand!r}; leave brand out to take the store's"
            )
        spec = spec.model_copy(update={"brand": store.brand})
    call.require_brand(spec.brand)  # (an existing group's brand: checked by its path)
    return await call.app[QUESTIONS].put_group(call.path("group"), spec)
