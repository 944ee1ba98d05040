"""docs/STORE_STREAM.md documents every event type with an example that round-trips
through the v1 encoder/decoder."""

from __future__ import annotations

import json
import re
from pathlib import Path

from live_server.store_streams.events import EVENT_TYPES, SCHEMA_VERSION, decode_entry, encode_entry

DOC = Path(__file__).resolve().parents[3] / "docs" / "STORE_STREAM.md"


def examples() -> dict[str, dict]:
    text = DOC.read_text()
    found = {}
    for event_type, block in re.findall(r"### `([a-z.]+)`.*?```json\n(.*?)```", text, re.S):
        found[event_type] = json.loads(block)
    return found


def test_every_event_type_has_a_documented_example_that_round_trips() -> None:
    docs = examples()
    assert set(docs) == EVENT_TYPES
    for event_type, example in docs.items():
        assert example["type"] == event_type and example["v"] == SCHEMA_VERSION
        payload = {k: v for k, v in example.items() if k not in ("id", "type", "v", "ts")}
        fields = encode_entry(event_type, payload, ts_ms=example["ts"])
        raw = {
            k.encode(): str(v).encode() if not isinstance(v, bytes) else v
            for k, v in fields.items()
        }
        assert decode_entry(example["id"], raw) == example
        if event_type.startswith("booking."):
            assert example["booking_id"] and example["store_id"]
