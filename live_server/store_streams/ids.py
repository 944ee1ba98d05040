"""Redis stream ids (``<ms>-<seq>``) as comparable values."""

from __future__ import annotations

import re
from typing import NamedTuple

_ID = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$")


class InvalidStreamId(ValueError):
    """Not a stream id of the form ``<ms>-<seq>`` (or ``<ms>``)."""


class StreamId(NamedTuple):
    """A stream entry id; tuples compare in stream order."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, raw: str | bytes) -> StreamId:
        """``"1700000000000-3"`` -> StreamId; ``"1700000000000"`` means ``-0``."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        match = _ID.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise InvalidStreamId(f"{text!r} is not a stream id (<unix ms>-<seq>)")
        return cls(int(match.group(1)), int(match.group(2) or 0))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    def next(self) -> StreamId:
        """The smallest id after this one."""
        return StreamId(self.ms, self.seq + 1)


ZERO = StreamId(0, 0)
