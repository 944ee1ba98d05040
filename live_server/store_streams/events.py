"""The store stream's entry schema (versioned), shared by every writer and reader.

Each store has one Redis stream, ``keys.store_stream(store_id)``. Entry fields:

* ``v``    schema version, currently ``1``
* ``type`` ``booking.created`` | ``booking.cancelled`` | ``booking.arrived`` | ``coupon.redeemed``
  | ``task.assigned`` | ``task.updated`` | ``task.reminder`` (guides) | ``order.recorded``
* ``data`` msgpack map: the event payload (for bookings: the booking plus the customer
  context staff need: room, product/service, coupon held, earlier bookings and visits)
* ``ts``   server time of the append, unix ms

Writers inside Lua (bookings, redemptions) append exactly these fields with
``XADD key * v 1 type <type> data <msgpack> ts <ms>``, without MAXLEN: trimming is done by
the retention task, which never drops an entry still pending in a consumer group.
"""

from __future__ import annotations

from typing import Any

import msgpack

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import Fields
from live_server.core.util import as_text, now_ms

SCHEMA_VERSION = 1
EVENT_TYPES = frozenset({
    "booking.created", "booking.cancelled", "booking.arrived", "coupon.redeemed",
    "task.assigned", "task.updated", "task.reminder", "order.recorded",
})  # fmt: skip
TASK_EVENTS = frozenset({"task.assigned", "task.updated", "task.reminder"})


def for_guide(event: dict[str, Any], guide_id: str) -> bool:
    """Whether a guide's /store connection gets this entry: its own tasks' events (a task
    taken from it too, so its list drops it), nothing else of the store."""
    return event.get("type") in TASK_EVENTS and guide_id in (
        event.get("guide_id"),
        event.get("previous_guide_id"),
    )


def encode_entry(event_type: str, data: dict[str, Any], ts_ms: int | None = None) -> Fields:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown store event type {event_type!r}")
    return {
        "v": SCHEMA_VERSION,
        "type": event_type,
        "data": msgpack.packb(data),
        "ts": ts_ms if ts_ms is not None else now_ms(),
    }


def decode_entry(entry_id: bytes | str, fields: dict[bytes, bytes]) -> dict[str, Any]:
    """A stream entry as the event clients see: ``{id, type, ts, v, **data}``."""
    sid = as_text(entry_id)
    data = msgpack.unpackb(fields[b"data"]) if b"data" in fields else {}
    return {
        **data,
        "id": sid,
        "type": fields[b"type"].decode(),
        "ts": int(fields.get(b"ts", b"0")),
        "v": int(fields.get(b"v", b"1")),
    }


async def append(redis: RedisClient, store_id: str, event_type: str, data: dict[str, Any]) -> str:
    """Append one event from Python (writers that need no atomic companion write)."""
    entry_id = await redis.xadd(keys.store_stream(store_id), encode_entry(event_type, data))
    return as_text(entry_id)
