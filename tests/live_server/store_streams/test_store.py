"""The script builders of store_streams/store.py: every KEYS list stays in the store's
hash tag, and arrive.lua's codes are the ArriveCode enum."""

from __future__ import annotations

import re
from pathlib import Path

from live_server.core.cluster import hash_tag
from live_server.store_streams import store
from live_server.store_streams.ids import StreamId
from live_server.store_streams.store import (
    AckCall,
    ArriveCall,
    ArriveCode,
    DeadLetterCall,
    TrimCall,
)

HERE = Path(store.__file__).parent


def test_arrive_codes_match_the_script() -> None:
    found = re.findall(r"return \{(-?\d+),", (HERE / "arrive.lua").read_text())
    assert {int(code) for code in found} == {code.value for code in ArriveCode}


def test_builders_keep_one_hash_tag() -> None:
    calls = [
        ArriveCall(store_id="s_a", booking_id="b1", arrived_at="2030-01-01T10:00:00.000+00:00",
                   now_ms=1, staff="staff"),
        AckCall(store_id="s_a", token_id="t1", entry_id=StreamId(1, 0)),
        DeadLetterCall(store_id="s_a", group="pos", entry_id="1-0", consumer="c1",
                       deliveries=6, now_ms=1),
        TrimCall(store_id="s_a", cutoff=StreamId(5, 0), approximate=False),
    ]  # fmt: skip
    for call in calls:
        keys, _argv = call.keys_argv()
        assert {hash_tag(k) for k in keys} == {b"store:s_a"}, keys
    approximate = TrimCall(store_id="s_a", cutoff=StreamId(5, 0), approximate=True)
    assert approximate.keys_argv()[1] == ["5-0", "~"]
