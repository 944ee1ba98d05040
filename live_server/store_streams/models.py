"""Store streams: shapes and errors. Pure, no I/O.

The entry format itself is :mod:`.events` (the named interface other domains use), stream
ids are :mod:`.ids`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from live_server.core.errors import Conflict, NotFound

# --- check-in ------------------------------------------------------------------------------


class BookingNotFound(NotFound):
    title, slug = "Booking not found", "booking-not-found"


class BookingCancelled(Conflict):
    title, slug = "Booking was cancelled", "booking-cancelled"


class Arrival(BaseModel):
    """The booking after check-in (``first`` is false when it had already arrived)."""

    booking_id: str
    store_id: str
    room_id: str | None
    status: str
    arrived_at: str
    stream_id: str
    first: bool


# --- consumer groups (integrations) --------------------------------------------------------

Handler = Callable[[dict[str, Any]], Awaitable[None]]
"""What a group member does with one decoded entry; returning acks it, raising leaves it
pending (retried after the idle timeout)."""


def default_consumer_name() -> str:
    """Unique per process, stable for its life: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """How one group member behaves."""

    group: str = "integration"
    consumer: str = field(default_factory=default_consumer_name)
    claim_idle_ms: int = 60_000
    """a pending entry idle this long is taken over from its (crashed) consumer"""
    max_deliveries: int = 5
    """delivered more often than this: dead-lettered instead of handled again"""
    batch: int = 100
    block_ms: int = 2000
    start: str = "$"
    """where a newly created group starts: ``$`` new entries only, ``0`` every entry kept"""


@dataclass(slots=True)
class PollResult:
    handled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    claimed: int = 0


# --- retention -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrimResult:
    store_id: str
    trimmed: int
    min_id: str


# --- the store's notice webhook ------------------------------------------------------------
class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    url: str = Field(pattern=r"^https?://", max_length=500)
    secret: str | None = Field(default=None, min_length=16, max_length=200)


class Webhook(BaseModel):
    store_id: str
    url: str
    secret: str | None = Field(default=None, description="shown once, when it is set")
    pending: int = 0
    dead_letters: list[dict[str, Any]] = Field(default_factory=list)
