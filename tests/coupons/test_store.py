"""The store's outcome enums and the Lua scripts they read agree (no Redis needed)."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest

from coupons import store
from live_server.core.scripts import Script


@pytest.mark.parametrize(
    ("script", "outcomes", "not_literal"),
    [
        (store.CLAIM, store.ClaimOutcome, set()),
        # The service concludes WRONG_STORE_BOOKING after CHECK_BOOKING; no script says it.
        (store.REDEEM, store.RedeemOutcome, {store.RedeemOutcome.WRONG_STORE_BOOKING}),
        (store.OPS, store.OpsOutcome, set()),
        # drop.lua answers a closed campaign with its status (``{m[1]}``), not a literal.
        (store.DROP, store.DropOutcome, {store.DropOutcome.CLOSED}),
        (store.FINISH, store.FinishOutcome, set()),
    ],
)
def test_every_script_outcome_is_an_enum_member(
    script: Script, outcomes: type[StrEnum], not_literal: set[StrEnum]
) -> None:
    returned = set(re.findall(r"return \{'([a-z_]+)'", script.source))
    assert returned, script
    members = {m.value for m in outcomes}
    assert returned <= members, returned - members
    assert members - returned == {m.value for m in not_literal}
