"""The code format: typable, signed, verifiable offline."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coupons.codes import ALPHABET, CODE_LEN, CodeBook, InvalidCode, new_campaign_id, pretty

BOOK = CodeBook("unit-test-secret-0123456789-abcdefghijkl")


def test_alphabet_has_no_look_alikes() -> None:
    assert not set("01OIL") & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 31


def test_code_round_trip_and_routing() -> None:
    campaign = new_campaign_id()
    code = BOOK.issue(campaign)
    assert len(code.compact) == CODE_LEN
    assert code.text == pretty(code.compact) and code.text.count("-") == 3
    parsed = BOOK.parse(code.text.lower().replace("-", " "))
    assert parsed == code
    assert parsed.campaign_id == campaign  # the code alone finds the campaign's hash tag


def test_same_nonce_same_code() -> None:
    campaign = new_campaign_id()
    assert BOOK.issue(campaign, "ABCDE") == BOOK.issue(campaign, "ABCDE")


def test_other_secret_rejects() -> None:
    code = BOOK.issue(new_campaign_id())
    with pytest.raises(InvalidCode):
        CodeBook("another-secret-0123456789-abcdefghijklmn").parse(code.text)


@given(st.integers(min_value=0, max_value=CODE_LEN - 1), st.sampled_from(ALPHABET))
def test_single_typo_is_caught(position: int, char: str) -> None:
    code = BOOK.issue("cp_K7M2P", "XYZ23").compact
    typo = code[:position] + char + code[position + 1 :]
    if typo == code:
        return
    with pytest.raises(InvalidCode):
        BOOK.parse(typo)


@pytest.mark.parametrize(
    "text", ["", "ABCD", "K7M2-PX9Q-RT4W-HNC0", "O" * CODE_LEN, "ä" * CODE_LEN]
)
def test_malformed(text: str) -> None:
    with pytest.raises(InvalidCode):
        BOOK.parse(text)
