"""The community-group webhook signature, fuzzed: random bodies, timestamps and signatures
are never accepted unless signed with the group's secret, over the body and timestamp
actually sent, within the 5-minute window."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from live_server.questions.models import (
    SIGNATURE_WINDOW_S,
    SignatureInvalid,
    sign,
    verify_signature,
)

from .conftest import http

SECRET = "group-secret-0123456789abcdef0123456789"
NOW = 1_750_000_000.0

bodies = st.binary(max_size=300)
timestamps = st.one_of(
    st.integers(int(NOW) - 2 * SIGNATURE_WINDOW_S, int(NOW) + 2 * SIGNATURE_WINDOW_S).map(str),
    st.text(max_size=20),
)
signatures = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"sha256=[0-9a-f]{64}", fullmatch=True),
    st.binary(min_size=32, max_size=32).map(lambda b: "sha256=" + b.hex()),
)


def _accepted(secret: str, ts: str | None, sig: str | None, body: bytes) -> bool:
    try:
        verify_signature(secret, ts, sig, body, NOW)
    except SignatureInvalid:
        return False
    return True


@settings(max_examples=500)
@given(body=bodies, ts=timestamps, sig=signatures)
def test_random_signature_is_refused(body: bytes, ts: str, sig: str) -> None:
    assume(sig.strip().lower() != sign(SECRET, ts, body))
    assert not _accepted(SECRET, ts, sig, body)


@settings(max_examples=300)
@given(body=bodies, skew=st.integers(-SIGNATURE_WINDOW_S, SIGNATURE_WINDOW_S))
def test_correct_signature_is_accepted(body: bytes, skew: int) -> None:
    ts = str(int(NOW) + skew)
    assert _accepted(SECRET, ts, sign(SECRET, ts, body), body)
    assert _accepted(SECRET, ts, " " + sign(SECRET, ts, body).upper() + " ", body)


@settings(max_examples=300)
@given(body=bodies, other=bodies, skew=st.integers(-SIGNATURE_WINDOW_S, SIGNATURE_WINDOW_S),
       shift=st.integers(1, 10**6))  # fmt: skip
def test_signature_binds_body_timestamp_and_secret(
    body: bytes, other: bytes, skew: int, shift: int
) -> None:
    ts = str(int(NOW) + skew)
    good = sign(SECRET, ts, body)
    if other != body:  # another body under the same signature
        assert not _accepted(SECRET, ts, good, other)
    moved = str(int(ts) + shift)  # the same signature with another timestamp
    assert not _accepted(SECRET, moved, good, body)
    assert not _accepted(SECRET + "x", ts, good, body)  # another group's secret
    assert not _accepted(SECRET, None, good, body) and not _accepted(SECRET, ts, None, body)


@settings(max_examples=200)
@given(body=bodies, age=st.integers(SIGNATURE_WINDOW_S + 1, 10**9))
def test_stale_or_future_timestamp_is_refused_even_when_signed(body: bytes, age: int) -> None:
    for ts in (str(int(NOW) - age), str(int(NOW) + age)):
        assert not _accepted(SECRET, ts, sign(SECRET, ts, body), body)


# --- over HTTP, against the demo server's real groups ----------------------------------


@pytest.fixture(scope="module")
def group(demo_server):  # type: ignore[no-untyped-def]
    g = demo_server.demo()["groups"][0]
    return demo_server.base + f"/api/v1/groups/{g['id']}/messages", g["secret"]


def _message(text: str, n: int) -> bytes:
    import orjson

    return orjson.dumps({
        "message_id": f"m{n}-{time.monotonic_ns()}", "author_id": "u1", "author_name": "Ann",
        "text": text, "sent_at": int(time.time()),
    })  # fmt: skip


well_formed = st.builds(_message, st.text(min_size=3, max_size=60), st.integers(0, 10**9))


def _header_safe(value: str) -> bool:
    """What a client can put in a header at all: visible ASCII, space and tab (control
    characters are refused by the HTTP parser itself, 400, before any route runs)."""
    return all(" " <= ch <= "~" or ch == "\t" for ch in value)


def _post(url: str, body: bytes, ts: str, sig: str) -> tuple[int, Any]:
    status, answer, _ = http(
        "POST", url, body,
        {"Content-Type": "application/json", "X-Timestamp": ts, "X-Signature": sig},
    )  # fmt: skip
    return status, answer


@settings(max_examples=50, deadline=None)
@given(body=well_formed, ts_shift=st.integers(-600, 600), sig=signatures)
def test_http_unsigned_messages_are_401(group, body: bytes, ts_shift: int, sig: str) -> None:  # type: ignore[no-untyped-def]
    url, secret = group
    ts = str(int(time.time()) + ts_shift)
    assume(sig.strip().lower() != sign(secret, ts, body))
    assume(_header_safe(sig))
    status, answer = _post(url, body, ts, sig)
    assert status == 401, (status, answer)


@settings(max_examples=30, deadline=None)
@given(body=bodies, sig=signatures)
def test_http_garbage_is_refused(group, body: bytes, sig: str) -> None:  # type: ignore[no-untyped-def]
    url, secret = group
    ts = str(int(time.time()))
    assume(sig.strip().lower() != sign(secret, ts, body))
    assume(_header_safe(sig))
    status, answer = _post(url, body, ts, sig)
    # The signature is checked on the raw body before the body is read as a message: an
    # unsigned caller gets 401 whatever it sends, never the body's field errors.
    assert status == 401, (status, answer)


@settings(max_examples=20, deadline=None)
@given(text=st.text(min_size=3, max_size=60).filter(str.strip), n=st.integers(0, 10**9))
def test_http_signed_messages_get_through(group, text: str, n: int) -> None:  # type: ignore[no-untyped-def]
    url, secret = group
    body = _message(text, n)
    ts = str(int(time.time()))
    signed = {"X-Timestamp": ts, "X-Signature": sign(secret, ts, body)}
    status, answer, _ = http("POST", url, body, {"Content-Type": "application/json", **signed})
    assert status != 401 and status < 500, (status, answer)
