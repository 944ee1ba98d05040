"""Slot times: every slot lies inside the store's opening hours in its own timezone, DST
zones included, and is exactly ``slot_minutes`` long on the clock of the world."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from live_server.bookings.models import check_slot, day_slots, parse_slot_time
from live_server.stores.models import WEEKDAYS, OpeningWindow, Store

# Zones with and without DST, both hemispheres, half-hour offsets, a 30-minute DST shift.
ZONES = [
    "Asia/Shanghai", "America/New_York", "Europe/London", "Europe/Berlin",
    "Australia/Sydney", "America/Santiago", "Asia/Kolkata", "Australia/Lord_Howe",
    "Pacific/Chatham", "America/St_Johns", "UTC",
]  # fmt: skip
# Days around DST changes (2025) and ordinary days.
DAYS = [
    date(2025, 3, 9), date(2025, 3, 30), date(2025, 4, 6), date(2025, 9, 7),
    date(2025, 9, 28), date(2025, 10, 5), date(2025, 10, 26), date(2025, 11, 2),
    date(2025, 6, 15), date(2025, 12, 24),
]  # fmt: skip


@st.composite
def windows(draw: st.DrawFn) -> list[OpeningWindow]:
    """One or two non-overlapping windows, on any minute boundary (night hours included)."""
    marks = sorted(draw(st.sets(st.integers(0, 24 * 60 - 1), min_size=2, max_size=4)))
    if len(marks) % 2:
        marks = marks[:-1]
    return [
        OpeningWindow(open=f"{a // 60:02d}:{a % 60:02d}", close=f"{b // 60:02d}:{b % 60:02d}")
        for a, b in zip(marks[::2], marks[1::2], strict=True)
    ]


stores = st.builds(
    lambda tz, hours, minutes: Store(
        id="s1",
        name="Store",
        lat=0,
        lng=0,
        timezone=tz,
        hours={d: hours for d in WEEKDAYS},
        slot_minutes=minutes,
        capacity=3,
    ),
    st.sampled_from(ZONES),
    windows(),
    st.sampled_from([5, 15, 20, 30, 45, 60, 90, 120]),
)


@settings(max_examples=400, deadline=None)
@given(store=stores, day=st.sampled_from(DAYS))
def test_every_slot_lies_within_opening_hours(store: Store, day: date) -> None:
    before = datetime.combine(day, time(0), UTC) - timedelta(days=2)
    slots = day_slots(store, day, before, {})
    tz = store.tz
    # Each window as instants: a wall time the DST change skips (02:30 on a spring-forward
    # night) means the instant it would have been with the earlier offset (PEP 495 fold=0).
    windows_at = [
        (
            datetime.combine(day, time.fromisoformat(w.open), tz).timestamp(),
            datetime.combine(day, time.fromisoformat(w.close), tz).timestamp(),
        )
        for w in store.windows_on(day)
    ]
    starts = [datetime.fromisoformat(s.start) for s in slots]
    # Distinct instants, in order: two rows never name the same moment (seats are keyed
    # by the start's unix time).
    instants = [s.timestamp() for s in starts]
    assert instants == sorted(set(instants)), [s.start for s in slots]
    for slot, start in zip(slots, starts, strict=True):
        end = datetime.fromisoformat(slot.end)
        # The ISO offset is the zone's real offset at that instant.
        assert start.utcoffset() == start.astimezone(tz).utcoffset(), slot.start
        # As long as the store says, in real time.
        assert end - start == timedelta(minutes=store.slot_minutes), (slot.start, slot.end)
        # Starts and ends inside one opening window of that local day.
        assert start.astimezone(tz).date() == day, slot.start
        assert any(o <= start.timestamp() and end.timestamp() <= c for o, c in windows_at), (
            slot,
            store.windows_on(day),
        )
        # (Instants compared as timestamps: Python never calls a time in a DST fold equal
        # to one in another zone.)
        booked_end = check_slot(store, parse_slot_time(slot.start, store), before)
        assert booked_end.timestamp() == end.timestamp()
        assert parse_slot_time(int(start.timestamp()), store).timestamp() == start.timestamp()


@settings(max_examples=200, deadline=None)
@given(store=stores, day=st.sampled_from(DAYS), minute=st.integers(0, 24 * 60 - 1))
def test_a_time_not_listed_is_not_a_slot(store: Store, day: date, minute: int) -> None:
    before = datetime.combine(day, time(0), UTC) - timedelta(days=2)
    slots = day_slots(store, day, before, {})
    listed = {datetime.fromisoformat(s.start).timestamp() for s in slots}
    moment = datetime.combine(day, time(minute // 60, minute % 60), store.tz)
    if moment.timestamp() in listed:
        return
    try:
        check_slot(store, parse_slot_time(moment.isoformat(), store), before)
    except Exception as exc:  # NotASlot (400): the only acceptable outcome
        assert type(exc).__name__ == "NotASlot", exc
    else:
        raise AssertionError(f"{moment.isoformat()} accepted but not listed")
