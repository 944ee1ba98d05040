"""Coupon domain: campaigns, claims, redemptions; request/response shapes and errors.

Pure: no I/O. Times inside the domain are unix milliseconds; responses show ISO-8601.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from live_server.core.errors import BadRequest, Conflict, Forbidden, Gone, NotFound
from live_server.core.util import now_ms, parse_time_ms

MAX_QUANTITY = 1_000_000
ALL_STORES = "all"
BOOKING_STORE = "booking_store"
MAX_IDEMPOTENCY_KEY = 128


class CampaignKind(StrEnum):
    AMOUNT_OFF = "amount_off"
    PERCENT_OFF = "percent_off"
    GIFT = "gift"


class CampaignStatus(StrEnum):
    """draft (created) -> open (dropped) -> closed (host closed / room ended) | expired."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    EXPIRED = "expired"


class CodeStatus(StrEnum):
    CLAIMED = "claimed"
    REDEEMED = "redeemed"
    VOID = "void"


# --- time ---------------------------------------------------------------------------


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


# --- requests -------------------------------------------------------------------------

StoreRef = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class Audience(BaseModel):
    """Who may claim: members of these community groups (a group-only offer)."""

    model_config = ConfigDict(extra="forbid")
    groups: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=200
    )


MAX_MONEY = 10_000_000
"""The largest amount a campaign names (as the largest order a till redeems against)."""


class CreateCampaign(BaseModel):
    """A batch of coupons the host will drop in the room."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=120)
    kind: CampaignKind = CampaignKind.AMOUNT_OFF
    value: float = Field(
        ge=0, le=MAX_MONEY, allow_inf_nan=False,
        description="amount off, percent off (0-100], or the gift's worth",
    )  # fmt: skip
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    per_user: int = Field(default=1, ge=1, le=100)
    store_ids: list[StoreRef] | Literal["all", "booking_store"] | None = Field(
        default=None,
        description='valid stores: a list, "all" (default) or "booking_store" '
        "(the store where the viewer booked a visit)",
    )
    valid_from: int | None = Field(default=None, description="ISO-8601 or unix seconds")
    expires_at: int = Field(description="ISO-8601 or unix seconds")
    min_spend: float | None = Field(default=None, ge=0, le=MAX_MONEY, allow_inf_nan=False)
    identity: Literal["verified", "any"] | None = Field(
        default=None,
        description='who may claim: "verified" (a viewer whose platform identity the '
        'platform signed: a person, not a minted id) or "any"; default "verified" in '
        'production, "any" otherwise',
    )
    audience: Audience | None = Field(
        default=None,
        description="group-only offer: only members of these groups may claim (others: 403 "
        "group-members-only); the drop is announced to those groups",
    )

    @field_validator("valid_from", "expires_at", mode="before")
    @classmethod
    def _time(cls, v: Any) -> int | None:
        return None if v is None else parse_time_ms(v)

    @field_validator("store_ids")
    @classmethod
    def _stores(cls, v: list[str] | str | None) -> list[str] | str | None:
        if isinstance(v, list):
            if not v:
                raise ValueError('name at least one store, or omit it for "all"')
            if len(v) > 5000:
                raise ValueError("at most 5000 stores")
            return sorted(set(v))
        return v

    @model_validator(mode="after")
    def _coherent(self) -> CreateCampaign:
        if self.kind is CampaignKind.PERCENT_OFF and not 0 < self.value <= 100:
            raise ValueError("a percent_off value is within (0, 100]")
        if self.kind is CampaignKind.AMOUNT_OFF and self.value <= 0:
            raise ValueError("an amount_off value is above 0")
        if self.expires_at <= now_ms():
            raise ValueError("expires_at is in the past")
        if self.valid_from is not None and self.valid_from >= self.expires_at:
            raise ValueError("valid_from is after expires_at")
        return self

    @property
    def store_mode(self) -> str:
        """``all``, ``booking_store`` or ``list``."""
        if self.store_ids is None or self.store_ids == ALL_STORES:
            return ALL_STORES
        if self.store_ids == BOOKING_STORE:
            return BOOKING_STORE
        return "list"


class Redeem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(
        min_length=1, max_length=64, description="as typed or scanned; case and dashes are ignored"
    )
    order_amount: float | None = Field(default=None, ge=0, le=MAX_MONEY, allow_inf_nan=False)


def check_idempotency_key(key: str | None) -> str | None:
    """A claim's ``Idempotency-Key`` header: 1..MAX_IDEMPOTENCY_KEY characters, or none."""
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY} characters")
    return key


class OpsAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=300)


# --- responses ------------------------------------------------------------------------


class Campaign(BaseModel):
    id: str
    room_id: str
    title: str
    kind: CampaignKind
    value: float
    quantity: int
    remaining: int
    claimed: int
    redeemed: int
    per_user: int
    store_ids: list[str] | Literal["all", "booking_store"]
    valid_from: str | None
    expires_at: str
    min_spend: float | None
    status: CampaignStatus
    created_at: str
    dropped_at: str | None = None
    sold_out_at: str | None = None
    released: int = 0
    identity: Literal["verified", "any"] = "any"
    audience: Audience | None = None


class CampaignList(BaseModel):
    campaigns: list[Campaign]


class Claimed(BaseModel):
    code: str
    campaign_id: str
    qr_svg_url: str
    expires_at: str
    title: str
    kind: CampaignKind
    value: float
    store_ids: list[str] | Literal["all", "booking_store"]
    valid_from: str | None = None
    min_spend: float | None = None


class AuditEntries(BaseModel):
    entries: list[dict[str, str]]


class CustomerContext(BaseModel):
    """What staff see about the customer: no internal ids."""

    name: str | None = None
    room_title: str
    claimed_at: str


class Redemption(BaseModel):
    code: str
    status: CodeStatus
    store_id: str
    redeemed_at: str
    campaign_title: str
    kind: CampaignKind
    value: float
    order_amount: float | None = None
    discount: float | None = None
    customer: CustomerContext


class CodeState(BaseModel):
    """A code as ops see it after a void or a rollback."""

    code: str
    campaign_id: str
    status: CodeStatus
    claimed_at: str
    redeemed_at: str | None = None
    store_id: str | None = None
    product_id: str | None = Field(
        default=None, description="the product on screen in the live room when it was claimed"
    )


def discount_for(kind: CampaignKind, value: float, order_amount: float | None) -> float | None:
    """The money off an order (None when it cannot be known, e.g. no amount or a gift)."""
    if order_amount is None or kind is CampaignKind.GIFT:
        return None
    if kind is CampaignKind.AMOUNT_OFF:
        return round(min(value, order_amount), 2)
    return round(order_amount * value / 100, 2)


# --- errors (business words) --------------------------------------------------------------


class CampaignNotFound(NotFound):
    title, slug = "Campaign not found", "campaign-not-found"


class CampaignNotOpen(Conflict):
    title, slug = "Coupons are not dropped yet", "campaign-not-open"


class CampaignClosed(Gone):
    title, slug = "Campaign is closed", "campaign-closed"


class CampaignAlreadyDropped(Conflict):
    title, slug = "Campaign already dropped", "campaign-dropped"


class SoldOut(Gone):
    title, slug = "Sold out", "sold-out"


class IdentityRequired(Forbidden):
    title, slug = "Verified viewers only", "identity-required"


class GroupMembersOnly(Forbidden):
    title, slug = "Group members only", "group-members-only"


class LimitReached(Conflict):
    title, slug = "Limit reached", "limit-reached"


class CouponExpired(Gone):
    title, slug = "Coupon expired", "coupon-expired"


class CodeVoided(Gone):
    title, slug = "Code voided", "code-voided"


class NotACode(BadRequest):
    title, slug = "Not a valid code", "invalid-code"


class CodeNotFound(NotFound):
    title, slug = "Code not found", "code-not-found"


class AlreadyRedeemed(Conflict):
    title, slug = "Already redeemed", "already-redeemed"


class NotValidHere(Forbidden):
    title, slug = "Not valid in this store", "not-valid-here"


class NotValidYet(Conflict):
    title, slug = "Not valid yet", "not-valid-yet"


class BelowMinimumSpend(Conflict):
    title, slug = "Below the minimum spend", "below-min-spend"


class NotRedeemed(Conflict):
    title, slug = "Code is not redeemed", "not-redeemed"


class UnknownStore(BadRequest):
    title, slug = "Unknown store", "unknown-store"
