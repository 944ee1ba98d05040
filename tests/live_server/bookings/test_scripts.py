"""The script builders of bookings/store.py against the scripts' own headers: KEYS and
ARGV where the Lua reads them, the field offset computed, every answer an enum member.
(The HTTP tests run the scripts themselves, on one node and with --redis-cluster.)"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgpack

from live_server.bookings import store
from live_server.bookings.follow_ups import Applied, FollowUp, FollowUpKind
from live_server.bookings.models import confirmed_booking
from live_server.bookings.store import (
    BookCall,
    BookOutcomeKind,
    CancelCall,
    CancelOutcomeKind,
    OneNode,
)
from live_server.core import keys
from live_server.guides.models import task_keys

HERE = Path(store.__file__).parent


TASK_KEYS = task_keys("s1", "t_b_s1_0123456789")


def answers(script: str) -> set[str]:
    """The first values of the replies a script returns (``return {'ok', ...}``)."""
    return set(re.findall(r"return \{'(\w+)'", (HERE / script).read_text()))


RECORD = confirmed_booking(
    id="b_s1_0123456789", room_id="r_1", store_id="s1", slot="2030-01-02T10:00:00+08:00",
    slot_end="2030-01-02T10:30:00+08:00", service="cake", service_name="Cake",
    viewer_id="v_1", contact=None, created_at="2030-01-01T09:00:00.000+08:00",
)  # fmt: skip
EVENT: dict[str, Any] = {**RECORD, "booking_id": RECORD["id"], "customer": None}


def book_call(one_node: OneNode | None = None, idempotency_key: str | None = "k1") -> BookCall:
    return BookCall(
        store_id="s1", day="2030-01-02", slot_ts=1893549600, capacity=3, viewer_id="v_1",
        booking_id=RECORD["id"], idempotency_key=idempotency_key, fingerprint="fp",
        response=b'{"id":"b"}', event=EVENT, record=RECORD, now_ms=1000, expire_at=2000,
        day_expire_at=3000, one_node=one_node,
    )  # fmt: skip


def one_node(rate_key: str = "rl:v_1") -> OneNode:
    return OneNode(
        room_id="r_1", room_sha="sha", limit=10, rate_key=rate_key, rate_ttl_s=61,
        created_at=RECORD["created_at"], brand="b1", local_day="2030-01-01",
    )  # fmt: skip


def fields_from(argv: list[Any]) -> dict[Any, Any]:
    """The booking hash's fields, read as book.lua does: ``unpack(ARGV, ARGV[12])``."""
    rest = argv[int(argv[11]) - 1 :]
    return dict(zip(rest[::2], rest[1::2], strict=True))


def test_every_answer_of_the_scripts_is_an_enum_member() -> None:
    assert answers("book.lua") == {kind.value for kind in BookOutcomeKind}
    assert answers("cancel.lua") == {kind.value for kind in CancelOutcomeKind}


def test_book_call_in_steps() -> None:
    book_keys, argv = book_call().keys_argv()
    assert book_keys == [
        keys.store_slot_seats("s1", "2030-01-02"), keys.store_slot_holders("s1", "2030-01-02"),
        keys.store_booking("s1", RECORD["id"]),
        keys.store_booking_idempotency("s1", "v_1", "k1"), keys.store_stream("s1"), *TASK_KEYS,
        keys.store_follow_ups("s1"),  # the follow-ups are recorded with the booking
    ]  # fmt: skip
    assert argv[:11] == [
        1893549600, 3, "v_1", RECORD["id"], "fp", b'{"id":"b"}', msgpack.packb(EVENT), 1000,
        keys.IDEMPOTENCY_TTL_S, 2000, 3000,
    ]  # fmt: skip
    assert argv[11] == 14  # after the index itself and the task plan (ARGV[13])
    assert argv[12] == b""  # no plan given: no task
    expected = {k: v for k, v in RECORD.items() if v is not None} | {"slot_ts": "1893549600"}
    assert fields_from(argv) == expected


def test_book_call_without_idempotency_key() -> None:
    book_keys, argv = book_call(idempotency_key=None).keys_argv()
    assert book_keys[3] == keys.store_booking_idempotency("s1", "v_1", "-")
    assert argv[4] == ""  # no fingerprint: the script neither reads nor writes the key


def test_book_call_on_one_node() -> None:
    book_keys, argv = book_call(one_node()).keys_argv()
    assert book_keys[5:11] == TASK_KEYS
    assert book_keys[11:] == [
        keys.room("r_1"), "rl:v_1", keys.customer("v_1"), keys.customer_booked_stores("v_1"),
        keys.room_stats("r_1"), keys.room_booked_slots("r_1"),
        keys.brand_leaderboard("b1", "2030-01-01"),
    ]  # fmt: skip
    assert argv[11] == 22
    assert argv[13:21] == [
        "sha", 10, 61, f"total:{keys.STAT_BOOKINGS}", f"s1:{keys.STAT_BOOKINGS}",
        "active:s1", RECORD["created_at"], "s1",
    ]  # fmt: skip
    assert fields_from(argv)["id"] == RECORD["id"]
    # No per-viewer limit: KEYS[13] is still a key (the script leaves it alone).
    assert book_call(one_node(rate_key="")).keys_argv()[0][12] == keys.room("r_1")


def test_book_replies() -> None:
    steps, single = book_call(), book_call(one_node())
    ok = steps.read([b"ok", b"2", b"1-1", b"g1", 45, b"1-2"])
    assert (ok.kind, ok.seats_taken, ok.stream_id) == (BookOutcomeKind.OK, 2, "1-1")
    assert (ok.task_guide, ok.task_priority, ok.task_stream_id) == ("g1", 45, "1-2")
    ok = single.read([b"ok", b"2", b"1-1", b"", 0, b"", 7, b"1", b"0", b"0", b""])
    assert (ok.kind, ok.room_total, ok.customer, ok.task_guide) == (
        BookOutcomeKind.OK,
        7,
        (b"1", b"0", b"0", None),
        "",
    )
    dup = steps.read([b"dup", b"b_x", b"fp", b"{}"])
    assert (dup.kind, dup.booking_id, dup.fingerprint, dup.response) == (
        BookOutcomeKind.DUP, "b_x", "fp", b"{}",
    )  # fmt: skip
    assert steps.read([b"held", b"b_x"]).booking_id == "b_x"
    assert steps.read([b"full", b"3"]).seats_taken == 3
    assert single.read([b"limited", 11]).count == 11
    assert single.read([b"room", b"ended"]).room == (b"ended", b"", b"", b"")
    stale = single.read([b"stale", b"live", b"\x90", b"title", b"p1"])
    assert (stale.kind, stale.room) == (
        BookOutcomeKind.STALE, (b"live", b"\x90", b"title", b"p1"),
    )  # fmt: skip
    assert steps.read(["held", "b_y"]).kind is BookOutcomeKind.HELD  # text replies too


def test_cancel_call_and_replies() -> None:
    call = CancelCall(
        store_id="s1", day="2030-01-02", booking_id=RECORD["id"], cancelled_at="t",
        event={"id": RECORD["id"]}, now_ms=5,
    )  # fmt: skip
    cancel_keys, argv = call.keys_argv()
    assert cancel_keys == [
        keys.store_booking("s1", RECORD["id"]), keys.store_slot_seats("s1", "2030-01-02"),
        keys.store_slot_holders("s1", "2030-01-02"), keys.store_stream("s1"), *TASK_KEYS,
        keys.store_follow_ups("s1"),
    ]  # fmt: skip
    assert argv == [RECORD["id"], "t", msgpack.packb({"id": RECORD["id"]}), 5]
    ok = call.read([b"ok", b"1-2", b"0"])
    assert (ok.stream_id, ok.created_pending) == ("1-2", False)
    assert call.read([b"ok", b"1-2", b"1"]).created_pending
    assert call.read([b"missing"]).kind is CancelOutcomeKind.MISSING
    assert call.read([b"already"]).kind is CancelOutcomeKind.ALREADY
    assert call.read([b"state", b"arrived"]).status == "arrived"


def test_follow_up_calls() -> None:
    created = FollowUp(
        kind=FollowUpKind.CREATED, booking_id="b_1", store_id="s1", room_id="r_1",
        viewer_id="v_1", at="2030-01-01T09:00:00.000+08:00", at_ms=5, slot_ts=9,
        guide_id="g1", task=True, brand="b1",
    )  # fmt: skip
    ttl = keys.FOLLOW_UP_APPLIED_TTL_S
    assert created.member == "created|b_1"
    assert created.room_call() == (
        [keys.room_follow_up_applied("r_1", "created|b_1"), keys.room_stats("r_1"),
         keys.room_booked_slots("r_1")],
        ["created-room", ttl, f"total:{keys.STAT_BOOKINGS}", f"s1:{keys.STAT_BOOKINGS}", 9,
         "s1|b_1", "guide:s1:g1:tasks", "live", "s1:preview_bookings"],
    )  # fmt: skip
    assert created.customer_call() == (
        [keys.customer_follow_up_applied("v_1", "created|b_1"), keys.customer("v_1"),
         keys.customer_booked_stores("v_1")],
        ["created-customer", ttl, "active:s1", created.at, "s1"],
    )  # fmt: skip
    assert created.board_call() == (
        [keys.brand_follow_up_applied("b1", "created|b_1"),
         keys.brand_leaderboard("b1", "2030-01-01")],
        ["board", ttl, keys.LEADERBOARD_RETENTION_S, "s|s1|tasks", "g|s1|g1|tasks"],
    )  # fmt: skip
    # No task, no brand, no room: nothing to count on that tag.
    assert replace(created, task=False).board_call() is None
    assert replace(created, brand="").board_call() is None
    assert replace(created, room_id="").room_call() is None
    cancelled = replace(created, kind=FollowUpKind.CANCELLED)
    assert cancelled.board_call() is None
    assert cancelled.customer_call() == (
        [keys.customer_follow_up_applied("v_1", "cancelled|b_1"), keys.customer("v_1"),
         keys.customer_booked_stores("v_1")],
        ["cancelled-customer", ttl, "active:s1", "s1"],
    )  # fmt: skip
    arrived = replace(created, kind=FollowUpKind.ARRIVED)
    assert arrived.customer_call() == (
        [keys.customer_follow_up_applied("v_1", "arrived|b_1"), keys.customer("v_1")],
        ["arrived-customer", ttl, 5],
    )  # fmt: skip
    assert arrived.board_call() is not None and arrived.board_call()[1][3:] == [  # type: ignore[index]
        "s|s1|arrivals", "g|s1|g1|arrivals",
    ]  # fmt: skip
    assert FollowUp.read([b"already", 4]) == (Applied.ALREADY, 4)
    forms = set(re.findall(r"form == '([\w-]+)'", (HERE / "follow_up.lua").read_text()))
    assert forms == {"created-room", "created-customer", "cancelled-room", "cancelled-customer",
                     "arrived-room", "arrived-customer", "board"}  # fmt: skip
    assert set(re.findall(r"return \{'(\w+)'", (HERE / "follow_up.lua").read_text())) == {
        a.value for a in Applied
    }
