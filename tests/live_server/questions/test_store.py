"""The script builders of questions/store.py: every KEYS list stays in the room's hash
tag, and the outcome enums name exactly the codes the Lua scripts answer."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import pytest

from live_server.core.cluster import hash_tag
from live_server.questions import store
from live_server.questions.models import TRANSITIONS, HostAction, Rate
from live_server.questions.store import (
    IngestCall,
    IngestCode,
    IngestMode,
    MergeCall,
    MergeCode,
    SplitCall,
    SplitCode,
    TransitionCall,
    TransitionCode,
    VoteCall,
    VoteCode,
)

HERE = Path(store.__file__).parent


def codes(script: str) -> set[str]:
    return set(re.findall(r"return \{'([a-z]+)'", (HERE / script).read_text()))


@pytest.mark.parametrize(
    ("script", "enum"),
    [
        ("ingest.lua", IngestCode),
        ("transition.lua", TransitionCode),
        ("vote.lua", VoteCode),
        ("split.lua", SplitCode),
        ("merge.lua", MergeCode),
    ],
)
def test_outcome_enums_match_the_scripts(script: str, enum: type[StrEnum]) -> None:
    assert codes(script) == {member.value for member in enum}


def test_builders_keep_one_hash_tag_and_the_documented_arity() -> None:
    allowed, target = TRANSITIONS[HostAction.PIN]
    calls = [
        IngestCall(
            room_id="r_1", seq=7, mode=IngestMode.NEW, expected_length=3, text="几点开门",
            lane="open", held_reason="", asker="g:g1:a1", group_id="g1", store_id="s1",
            message_id="m1", now_ms=1, author_rate=Rate(5, 60), group_rate=Rate(120, 60),
        ),
        TransitionCall(
            room_id="r_1", seq=7, action=HostAction.PIN, allowed=allowed, target=target,
            now_ms=1, pinned="q.r_1.3",
        ),
        VoteCall(room_id="r_1", seq=7, viewer_id="v1", address="", rate=Rate(30, 60),
                 per_address=20),
        SplitCall(room_id="r_1", seq=7, new_seq=9, askers=["v:a"], now_ms=1),
        MergeCall(room_id="r_1", seq=7, target_seq=3, now_ms=1),
    ]  # fmt: skip
    arity = [(13, 19), (5, 7), (4, 5), (14, 4), (16, 3)]
    for call, (n_keys, n_args) in zip(calls, arity, strict=True):
        keys, argv = call.keys_argv()
        assert (len(keys), len(argv)) == (n_keys, n_args), call
        assert {hash_tag(k) for k in keys} == {b"room:r_1"}, keys
