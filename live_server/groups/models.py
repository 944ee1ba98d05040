"""Community groups as a channel: member events, join gifts, store posts, previews of
scheduled broadcasts, follow-up automations. Shapes, rules and notice bodies; pure, no I/O.

The group registry itself (record, secret, signature) is the questions domain's
(``live_server.questions.models.Group``): a group is one record whoever talks to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from live_server.core.errors import BadRequest, NotFound
from live_server.core.util import parse_time_ms

DAY_MS = 86_400_000


def iso_ms(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


# --- member events in --------------------------------------------------------------------
class MemberEventType(StrEnum):
    JOINED = "member_joined"
    LEFT = "member_left"


class MemberEvent(BaseModel):
    """One membership change the group's bot saw. ``launch`` (a launch token minted for
    this group: its ``room`` is the group id) or ``external_id`` + ``external_id_sig``
    (signed by the live platform) name the member's platform identity: the same person
    as the viewer with that identity (OneID)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)
    type: MemberEventType
    member_id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=100)
    at: int | float | str = Field(description="ISO-8601 or unix seconds")
    launch: str | None = Field(default=None, min_length=1, max_length=2048)
    external_id: str | None = Field(default=None, min_length=1, max_length=128)
    external_id_sig: str | None = Field(default=None, max_length=128)

    @field_validator("at")
    @classmethod
    def _at(cls, value: Any) -> Any:
        parse_time_ms(value)
        return value

    @property
    def at_ms(self) -> int:
        return parse_time_ms(self.at)


class MemberEvents(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[MemberEvent] = Field(min_length=1, max_length=500)


class MemberEventResult(BaseModel):
    id: str
    member_id: str
    applied: bool = Field(description="false: this id was seen before, nothing changed")
    viewer_id: str | None = Field(description="the member's viewer (OneID), if identified")
    gift: bool = Field(description="this event earned the member the join gift")


class MemberEventsResult(BaseModel):
    group_id: str
    results: list[MemberEventResult]


# --- join gifts ---------------------------------------------------------------------------
def gift_holder(member_id: str, viewer_id: str | None) -> str:
    """Who a join gift is counted against: the person (viewer id) when the member has a
    platform identity, else the member id in this group."""
    return viewer_id or f"m:{member_id}"


class GiftIssuer(Protocol):
    """What the groups domain needs of the coupons domain (``coupons.service.CouponService``,
    linked in ``live_server.app``): a campaign for a group's gift, one code per holder."""

    async def create_gift_campaign(
        self, *, group_id: str, title: str, value: float, store_ids: list[str]
    ) -> str: ...

    async def issue_gift(
        self, campaign_id: str, holder: str, valid_days: int, base_url: str = ""
    ) -> dict[str, Any]: ...


# --- store posts --------------------------------------------------------------------------
class PostKind(StrEnum):
    ANNOUNCEMENT = "announcement"
    NEW_PRODUCT = "new_product"
    PICKUP = "pickup"
    PREVIEW = "preview"


class CreatePost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: PostKind
    text: str = Field(min_length=1, max_length=2000)
    send_at: int | float | str | None = Field(
        default=None, description="ISO-8601 or unix seconds; absent or past: now"
    )
    groups: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=200, description="default: every group of the store"
    )

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, value: Any) -> Any:
        if value is not None:
            parse_time_ms(value)
        return value


class Delivery(BaseModel):
    group_id: str
    state: Literal["scheduled", "queued", "retrying", "delivered", "dead", "skipped"]
    attempts: int = 0
    error: str | None = None
    at: str | None = None


class Post(BaseModel):
    post_id: str
    store_id: str
    kind: PostKind
    text: str
    send_at: str | None
    created_at: str
    status: Literal["scheduled", "sent"]
    deliveries: list[Delivery]


class PostList(BaseModel):
    store_id: str
    posts: list[Post]


class PostNotAllowed(BadRequest):
    title, slug = "Post refused", "post-refused"


class GroupNotFound(NotFound):
    title, slug = "Group not found", "group-not-found"


# --- automations -------------------------------------------------------------------------
class Automation(BaseModel):
    """When ``trigger`` happens to a customer, ``delay_days`` later do ``action``."""

    model_config = ConfigDict(extra="forbid")
    trigger: Literal["first_visit"]
    delay_days: int = Field(ge=0, le=365)
    action: Literal["send_preview"]


class AutomationList(BaseModel):
    brand: str
    automations: list[Automation]


# --- stats ---------------------------------------------------------------------------------
GROUP_COUNTERS = (
    "members", "members_joined", "members_left", "questions", "gifts_issued",
    "bookings", "preview_bookings", "visits",
)  # fmt: skip


class GroupStats(BaseModel):
    group_id: str
    name: str
    store_id: str
    brand: str
    members: int = 0
    members_joined: int = 0
    members_left: int = 0
    questions: int = 0
    gifts_issued: int = 0
    gifts_redeemed: int = 0
    bookings: int = 0
    preview_bookings: int = 0
    visits: int = 0


class BrandGroupStats(BaseModel):
    brand: str
    groups: list[GroupStats]


# --- configuration -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GroupConfig:
    """Timings of the group channel (``Settings.extra``: ``group_retry_ms``,
    ``group_max_attempts``, ``group_poll_s``, ``group_timer_poll_s``; ``preview_days``
    comes from ``LIVE_PREVIEW_DAYS``)."""

    retry_ms: int = 30_000
    """a failed notice is retried after retry_ms * 2^(attempt-1) (capped at 1 h)"""
    max_attempts: int = 6
    timeout_s: float = 5.0
    poll_s: float = 1.0
    timer_poll_s: float = 1.0
    preview_days: float = 3.0

    @classmethod
    def from_settings(cls, extra: Mapping[str, str], preview_days: float = 3.0) -> GroupConfig:
        return cls(
            retry_ms=int(extra.get("group_retry_ms", 30_000)),
            max_attempts=int(extra.get("group_max_attempts", 6)),
            poll_s=float(extra.get("group_poll_s", 1.0)),
            timer_poll_s=float(extra.get("group_timer_poll_s", 1.0)),
            preview_days=float(extra.get("preview_days", preview_days)),
        )

    def backoff_ms(self, attempt: int) -> int:
        return int(min(self.retry_ms * 2 ** max(0, attempt - 1), 3_600_000))


# --- notices out (signed like every webhook of ours: live_server/core/signing.py) --------
def gift_notice(
    group_id: str, member_id: str, gift: Mapping[str, Any], title: str
) -> dict[str, Any]:
    return {
        "type": "join_gift", "group_id": group_id, "member_id": member_id, "title": title,
        "code": gift["code"], "qr_svg_url": gift["qr_svg_url"], "expires_at": gift["expires_at"],
    }  # fmt: skip


def post_notice(group_id: str, store_id: str, post_id: str, kind: str, text: str) -> dict[str, Any]:
    return {
        "type": "post", "group_id": group_id, "store_id": store_id, "post_id": post_id,
        "kind": kind, "text": text,
    }  # fmt: skip


def preview_text(title: str, scheduled_at: str, booking_url: str) -> str:
    return f"{title} — live at {scheduled_at}. Book your store visit now: {booking_url}"


def followup_notice(
    group_id: str, member_id: str, viewer_id: str, room: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "type": "follow_up", "group_id": group_id, "member_id": member_id,
        "viewer_id": viewer_id, "action": "send_preview", "trigger": "first_visit",
        "room": dict(room),
    }  # fmt: skip


def offer_notice(group_id: str, campaign: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "offer", "group_id": group_id, **campaign}
