"""The store: where a viewer books a visit and redeems a coupon. Pure domain, no I/O."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geo.storefile import WEEKDAYS

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

StoreId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class OpeningWindow(BaseModel):
    """One opening window of a weekday, local time, e.g. 08:00-21:00."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    open: str
    close: str

    @field_validator("open", "close")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("use HH:MM, 24-hour")
        return v

    @model_validator(mode="after")
    def _ordered(self) -> OpeningWindow:
        if self.close <= self.open:
            raise ValueError(f"closes ({self.close}) before it opens ({self.open})")
        return self


class Store(BaseModel):
    """A physical store. ``hours`` maps mon..sun to opening windows (missing day: closed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: StoreId
    name: str = Field(min_length=1, max_length=200)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    address: str = Field(default="", max_length=300)
    city: str = Field(default="", max_length=100)
    timezone: str = "Asia/Shanghai"
    hours: dict[str, list[OpeningWindow]] = Field(default_factory=dict)
    services: list[str] = Field(default_factory=list, max_length=100)
    slot_minutes: int = Field(default=30, ge=5, le=480)
    capacity: int = Field(default=4, ge=1, le=10_000)
    brand: str = Field(default="default", max_length=100)
    status: Literal["open", "closed"] = "open"
    phone: str = Field(default="", max_length=40)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {v!r}") from exc
        return v

    @field_validator("hours")
    @classmethod
    def _days(cls, v: dict[str, list[OpeningWindow]]) -> dict[str, list[OpeningWindow]]:
        bad = [d for d in v if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday {bad[0]!r}; use {', '.join(WEEKDAYS)}")
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def windows_on(self, day: date) -> list[OpeningWindow]:
        return list(self.hours.get(WEEKDAYS[day.weekday()], []))

    def is_open_at(self, moment: datetime) -> bool:
        if self.status != "open":
            return False
        local = moment.astimezone(self.tz)
        hhmm = local.strftime("%H:%M")
        return any(w.open <= hhmm < w.close for w in self.windows_on(local.date()))

    def slot_starts(self, day: date) -> list[datetime]:
        """Every slot start of a local day, as aware datetimes in the store's timezone."""
        starts: list[datetime] = []
        if self.status != "open":
            return starts
        step = timedelta(minutes=self.slot_minutes)
        for window in self.windows_on(day):
            opens = datetime.combine(day, time.fromisoformat(window.open), self.tz)
            closes = datetime.combine(day, time.fromisoformat(window.close), self.tz)
            # Step in UTC: aware arithmetic in one zone is wall-clock arithmetic, which on
            # a DST day lists the skipped hour's instants twice and makes slots that last
            # an hour more or less than slot_minutes.
            moment, end = opens.astimezone(UTC), closes.astimezone(UTC)
            while moment + step <= end:
                starts.append(moment.astimezone(self.tz))
                moment += step
        return starts

    def slot_end(self, start: datetime) -> datetime:
        """When a slot starting at ``start`` ends: ``slot_minutes`` of real time later."""
        return (start.astimezone(UTC) + timedelta(minutes=self.slot_minutes)).astimezone(self.tz)
