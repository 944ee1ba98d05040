"""Room domain: records, request and response shapes. Pure, no I/O."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from live_server.core.errors import Conflict, Forbidden, NotFound, RoomEnded, RoomNotLive

__all__ = ["RoomEnded", "RoomNotLive"]


class RoomStatus(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class FeaturedItem(BaseModel):
    """A product or service the host features in the room (what a booking names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["product", "service"] = "service"
    price: float | None = Field(default=None, ge=0)
    image_url: str | None = Field(default=None, max_length=500)


class Room(BaseModel):
    room_id: str
    title: str
    brand: str
    status: RoomStatus
    featured: list[FeaturedItem]
    created_at: str
    started_at: str | None = None
    ended_at: str | None = None


class CreateRoom(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    brand: str = Field(default="default", min_length=1, max_length=100)
    featured: list[FeaturedItem] = Field(default_factory=list, max_length=50)


class RoomCreated(BaseModel):
    room_id: str
    host_token: str
    status: RoomStatus


class CreateViewer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_id: str | None = Field(
        default=None, min_length=1, max_length=128,
        description="phone, openid or device id from the live platform: same id, same viewer",
    )  # fmt: skip
    external_id_sig: str | None = Field(
        default=None, max_length=128,
        description="hex HMAC-SHA256(LIVE_PLATFORM_SECRET, external_id) from the live platform",
    )  # fmt: skip
    name: str | None = Field(default=None, max_length=100)


class ViewerCreated(BaseModel):
    viewer_id: str
    token: str
    verified: bool = Field(description="the external id was signed by the live platform")


class Announcement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)


class Broadcasted(BaseModel):
    offset: str


class ExternalIdNotSigned(Forbidden):
    title, slug = "External id not signed", "external-id-unsigned"


class RoomNotFound(NotFound):
    title, slug = "Room not found", "room-not-found"


class RoomTransitionRefused(Conflict):
    title, slug = "Room cannot change to that status", "room-transition"


ALLOWED_TRANSITIONS = {
    RoomStatus.SCHEDULED: {RoomStatus.LIVE, RoomStatus.ENDED},
    RoomStatus.LIVE: {RoomStatus.ENDED},
    RoomStatus.ENDED: set(),
}


def check_transition(current: RoomStatus, wanted: RoomStatus) -> None:
    if wanted not in ALLOWED_TRANSITIONS[current]:
        raise RoomTransitionRefused(f"a {current.value} room cannot become {wanted.value}")


def require_live(status: RoomStatus) -> None:
    """Bookings, claims and questions need a live room."""
    if status is RoomStatus.ENDED:
        raise RoomEnded("the live room has ended; bookings and coupon claims are closed")
    if status is not RoomStatus.LIVE:
        raise RoomNotLive("the live room has not started yet")
