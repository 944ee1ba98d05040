"""Small helpers every layer uses: the clock in milliseconds and Redis bytes as text."""

from __future__ import annotations

import time


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
