"""Room domain: records, request and response shapes. Pure, no I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from live_server.core.errors import Conflict, Forbidden, NotFound, RoomEnded, RoomNotLive
from live_server.core.util import parse_time_ms

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
    store_id: str | None = Field(
        default=None, description="the store whose studio this room is (none: brand-wide)"
    )
    status: RoomStatus
    featured: list[FeaturedItem]
    created_at: str
    started_at: str | None = None
    ended_at: str | None = None
    scheduled_at: str | None = Field(
        default=None, description="when the broadcast is planned (bookings open before it)"
    )


class CreateRoom(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    brand: str = Field(default="default", min_length=1, max_length=100)
    store_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
        description=(
            "the store whose studio this room is: its groups' questions come here while it "
            "is live; none: a brand-wide room (gets the questions of stores without a live room)"
        ),
    )  # fmt: skip
    featured: list[FeaturedItem] = Field(default_factory=list, max_length=50)
    scheduled_at: int | float | str | None = Field(
        default=None,
        description=(
            "ISO-8601 or unix seconds: a scheduled broadcast. LIVE_PREVIEW_DAYS before it a "
            "preview post goes to the brand's groups (or the room's store's); bookings are "
            "open while the room is scheduled (source: preview)"
        ),
    )

    @field_validator("scheduled_at")
    @classmethod
    def _scheduled(cls, value: Any) -> Any:
        if value is None:
            return None
        ms = parse_time_ms(value)
        if ms <= 0:
            raise ValueError("scheduled_at must be a time")
        return value


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
    launch: str | None = Field(
        default=None, min_length=1, max_length=2048,
        description=(
            "launch token from the brand's mini-program or H5 page (/embed/{room}?launch=): "
            "base64url(JSON {platform, open_id, room, exp}) + '.' + hex HMAC-SHA256"
            "(LIVE_PLATFORM_SECRET, first part); same platform open id, same viewer"
        ),
    )  # fmt: skip


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


class LaunchRefused(Forbidden):
    title, slug = "Launch token refused", "launch-refused"


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


# --- launch identities (the platform opens /embed/{room}?launch=<token>) ------------------
@dataclass(frozen=True, slots=True)
class LaunchIdentity:
    """Who a verified launch token names: a platform user, in one room, until ``exp``."""

    platform: str
    open_id: str
    room: str
    exp: int  # unix seconds

    @property
    def external_id(self) -> str:
        """The OneID key: the same open id on the same platform is the same viewer."""
        return f"{self.platform}:{self.open_id}"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_launch(secret: str, platform: str, open_id: str, room: str, exp: int) -> str:
    """A launch token as the brand's mini-program backend makes it (tests, demo, docs)."""
    first = _b64url(orjson.dumps({"platform": platform, "open_id": open_id, "room": room,
                                  "exp": exp}))  # fmt: skip
    mac = hmac.new(secret.encode(), first.encode(), hashlib.sha256).hexdigest()
    return f"{first}.{mac}"


def verify_launch(token: str, secret: str, room_id: str, now: float) -> LaunchIdentity:
    """The identity of a launch token for ``room_id``; :class:`LaunchRefused` if it is
    forged (or the server has no LIVE_PLATFORM_SECRET), expired or for another room."""
    if not secret:
        raise LaunchRefused("launch tokens need LIVE_PLATFORM_SECRET on the server")
    first, dot, mac = token.partition(".")
    if not dot or not token.isascii():
        raise LaunchRefused("the launch token is malformed")
    want = hmac.new(secret.encode(), first.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want.encode(), mac.lower().encode()):
        raise LaunchRefused("the launch token's signature is invalid")
    try:
        data = orjson.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
        identity = LaunchIdentity(
            platform=str(data["platform"]), open_id=str(data["open_id"]), room=str(data["room"]),
            exp=int(data["exp"]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise LaunchRefused("the launch token is malformed") from exc
    if not identity.platform or not identity.open_id:
        raise LaunchRefused("the launch token names no platform user")
    if identity.room != room_id:
        raise LaunchRefused("the launch token is for another room")
    if identity.exp < now:
        raise LaunchRefused("the launch token has expired")
    return identity
