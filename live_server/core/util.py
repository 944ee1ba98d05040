"""Small helpers every layer uses: the clock in milliseconds and Redis bytes as text."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any


def now_ms() -> int:
    """Unix time in milliseconds: event ``ts``, stream times, Lua ``now`` arguments."""
    return int(time.time() * 1000)


def as_text(value: object) -> str:
    """A Redis reply value as text: bytes decoded as UTF-8, None as ``""``."""
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def optional_text(value: bytes | str | None) -> str | None:
    """As :func:`as_text`, but None (a missing hash field) stays None."""
    return None if value is None else as_text(value)


LATEST_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z: no time a request names is later (an expiry in year 5138 is a
typo, and one past year 9999 cannot even be written back as ISO-8601)."""


def parse_time_ms(value: Any, number_ms: int = 1000) -> int:
    """A time a request names: ISO-8601 (naive: UTC) or a unix number (seconds; ms with
    ``number_ms=1``) -> unix ms, between 1970 and 2100 (ValueError otherwise)."""
    unit = "seconds" if number_ms == 1000 else "ms"
    if isinstance(value, bool):
        raise ValueError(f"use ISO-8601 or unix {unit}")
    if isinstance(value, int | float):
        return _in_range(float(value) * number_ms)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _in_range(number * number_ms)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"use ISO-8601 (e.g. 2026-12-01T20:00:00+08:00) or unix {unit}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _in_range(moment.timestamp() * 1000)


def _in_range(ms: float) -> int:
    if not 0 <= ms <= LATEST_MS:  # NaN fails too
        raise ValueError("a time between 1970 and 2100")
    return int(ms)
