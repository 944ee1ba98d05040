"""rooms/store.py against its scripts: every answer of transition.lua is an enum member."""

from __future__ import annotations

import re
from pathlib import Path

from live_server.rooms import store
from live_server.rooms.store import TransitionOutcome


def test_every_answer_of_transition_lua_is_an_enum_member() -> None:
    lua = (Path(store.__file__).parent / "transition.lua").read_text()
    codes = {int(code) for code in re.findall(r"return \{(-?\d+),", lua)}
    assert codes == {outcome.value for outcome in TransitionOutcome}
