"""Shapes of the funnel report and the tap counter."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from live_server.guides.models import GuideRow
from live_server.stores.models import StoreId


class FunnelRow(BaseModel):
    """One row of the funnel: the room in total (``scope="total"``) or one store.

    Viewer numbers exist for the room only (viewers are not tied to a store yet);
    rates are ``None`` when their denominator is zero."""

    scope: str
    store_name: str | None = None
    viewers_peak: int | None = None
    viewers_unique: int | None = None
    booking_taps: int = 0
    unique_tappers: int | None = None
    bookings: int = 0
    preview_bookings: int = Field(
        0, description="of the bookings, those made while the room was scheduled (its preview)"
    )
    cancellations: int = 0
    arrivals: int = 0
    coupons_claimed: int = 0
    coupons_redeemed: int = 0
    redeemed_amount: float = 0.0
    tap_rate: float | None = Field(None, description="unique tappers / unique viewers")
    booking_rate: float | None = Field(None, description="bookings / booking taps")
    arrival_rate: float | None = Field(
        None,
        description="arrivals / bookings not cancelled whose slot has started or that have "
        "arrived (a visit not yet due is not a missed one)",
    )
    bookings_due: int = Field(
        0, description="bookings not cancelled whose slot has started or that have arrived"
    )
    redemption_rate: float | None = Field(None, description="coupons redeemed / claimed")
    visit_rate: float | None = Field(None, description="arrivals / unique viewers")
    store_credit: float = 0.0
    live_team_credit: float = 0.0
    sales_amount: float = Field(
        0.0, description="sales recorded at the till for the room's bookings (orders)"
    )
    sales_store_credit: float = Field(0.0, description="the store side's share of those sales")
    sales_live_team_credit: float = Field(0.0, description="the live team's share of those sales")


class CreditRule(BaseModel):
    basis: Literal["redeemed_amount"] = "redeemed_amount"
    store_share: float
    live_team_share: float


class Engagement(BaseModel):
    """The room's counters from its live platforms (pushes and bridges)."""

    live_comments: int = Field(default=0, description="comments that read as questions")
    live_chatter: int = Field(default=0, description='comments only counted ("666", "来了")')
    likes: int = 0
    gifts: int = 0
    gift_value: int = Field(default=0, description="in the platform's units")
    fansclub_joins: int = 0
    viewer_joins: int = 0
    platform_viewers: int = Field(default=0, description="the platform's last viewer count")
    platform_viewers_peak: int = 0


class RoomStats(BaseModel):
    """``GET /api/v1/rooms/{room}/stats``."""

    room_id: str
    generated_at: str
    credit: CreditRule
    total: FunnelRow
    stores: list[FunnelRow]
    engagement: Engagement = Engagement()
    guides: list[GuideRow] = Field(
        default_factory=list,
        description="each guide with tasks from this room: tasks, accepted, arrivals, "
        "no-shows, orders, amount and the store side's credit",
    )
    groups: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the room's brand's community groups: members (now, joined, left), "
        "questions, join gifts issued and redeemed, bookings (preview ones apart) and visits "
        "by members (docs/GROUPS.md)",
    )


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["json", "csv"] = "json"


class TapIn(BaseModel):
    """The widget's "book a visit" tap; ``store_id`` when the tap is on a store card."""

    model_config = ConfigDict(extra="forbid")
    store_id: StoreId | None = None


class TapCounted(BaseModel):
    booking_taps: int
