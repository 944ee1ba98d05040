"""The writes the server acknowledged during a run, kept for the integrity check.

Every 201 booking, every cancellation and every coupon code the users saw is appended as
one JSON line. Each locust process appends to the same file with ``O_APPEND`` (one
``write`` per line, so lines from different processes on one host never interleave);
with workers on several hosts, concatenate their files before checking.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class AckedLog:
    """Append-only record of acknowledged writes (no-op without a path)."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self._fd: int | None = None

    def _write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, json.dumps(record, separators=(",", ":")).encode() + b"\n")

    def booking(self, booking_id: str, store_id: str, viewer_id: str) -> None:
        self._write({"kind": "booking", "id": booking_id, "store": store_id, "viewer": viewer_id})

    def cancellation(self, booking_id: str, store_id: str) -> None:
        self._write({"kind": "cancel", "id": booking_id, "store": store_id})

    def code(self, campaign_id: str, code: str, viewer_id: str) -> None:
        self._write({"kind": "code", "campaign": campaign_id, "code": code, "viewer": viewer_id})

    def arrival(self, booking_id: str, store_id: str) -> None:
        self._write({"kind": "arrival", "id": booking_id, "store": store_id})

    def redemption(self, campaign_id: str, code: str, store_id: str) -> None:
        self._write({"kind": "redeem", "campaign": campaign_id, "code": code, "store": store_id})

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class Acknowledged:
    """What the users were told, read back from one or more acked logs."""

    bookings: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (store, viewer)
    cancelled: set[str] = field(default_factory=set)
    codes: list[tuple[str, str, str]] = field(default_factory=list)  # (campaign, code, viewer)
    arrived: set[str] = field(default_factory=set)
    redeemed: dict[str, str] = field(default_factory=dict)  # code -> store

    @classmethod
    def read(cls, paths: list[Path]) -> Acknowledged:
        acked = cls()
        for path in paths:
            if path.exists():
                for record in _records(path):
                    acked.add(record)
        return acked

    def add(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        if kind == "booking":
            self.bookings[record["id"]] = (record["store"], record["viewer"])
        elif kind == "cancel":
            self.cancelled.add(record["id"])
        elif kind == "code":
            self.codes.append((record["campaign"], record["code"], record["viewer"]))
        elif kind == "arrival":
            self.arrived.add(record["id"])
        elif kind == "redeem":
            self.redeemed[record["code"]] = record["store"]


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as fh:
        for line in fh:
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:  # a torn last line of a killed process
                    continue
