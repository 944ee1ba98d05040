"""A booking step's follow-ups on other tags count once, however often they run, and the
repair pass applies what a crash left pending (on one node and with --redis-cluster).

The crash itself (a server killed with SIGKILL between the step and its follow-ups) is
tests/cluster/test_follow_up_repair.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
import redis as sync_redis

from live_server.bookings.follow_ups import FollowUp, FollowUpKind, FollowUpRepair, FollowUps
from live_server.bookings.models import confirmed_booking
from live_server.bookings.store import BookCall, BookingStore, CancelCall
from live_server.core import keys
from live_server.core.redis_conn import RedisClient, connect_redis
from live_server.settings import Settings
from live_server.stores.models import Store
from live_server.stores.store import StoreRegistry

BOOKING = "b_s1_0123456789"
DAY = "2030-01-02"
SLOT_TS = 1893549600
CREATED_AT = "2030-01-01T09:00:00.000+08:00"


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = connect_redis(settings)
    yield client
    await client.aclose()


def created() -> FollowUp:
    return FollowUp(
        kind=FollowUpKind.CREATED, booking_id=BOOKING, store_id="s1", room_id="r_1",
        viewer_id="v_1", at=CREATED_AT, at_ms=1000, slot_ts=SLOT_TS, guide_id="g1", task=True,
        brand="b1",
    )  # fmt: skip


def counters(r: sync_redis.Redis) -> dict[str, Any]:
    """Every counter a booking's follow-ups touch, as plain values."""
    stats = {k.decode(): int(v) for k, v in r.hgetall(keys.room_stats("r_1")).items()}
    profile = r.hgetall(keys.customer("v_1"))
    board = r.hgetall(keys.brand_leaderboard("b1", CREATED_AT[:10]))
    return {
        "room": stats,
        "booked": sorted(m.decode() for m in r.zrange(keys.room_booked_slots("r_1"), 0, -1)),
        "arrived": sorted(m.decode() for m in r.zrange(keys.room_arrived_slots("r_1"), 0, -1)),
        "customer": {k.decode(): int(v) for k, v in profile.items() if k != b"last_booking_at"},
        "booked_stores": sorted(m.decode() for m in r.smembers(keys.customer_booked_stores("v_1"))),
        "board": {k.decode(): int(v) for k, v in board.items()},
    }


async def test_a_follow_up_run_twice_counts_once(
    redis: RedisClient, clean_redis: sync_redis.Redis
) -> None:
    """The request and the repair pass may both run a follow-up: each tag counts it once
    (without the applied markers the second run doubled every counter)."""
    follow_ups = FollowUps(redis)
    await redis.zadd(keys.store_follow_ups("s1"), {f"created|{BOOKING}": 1000})
    assert await follow_ups.apply(created()) == 1
    assert await follow_ups.apply(created()) == 1  # the room's total, not counted again
    booked = counters(clean_redis)
    assert booked["room"] == {
        "total:bookings": 1, "s1:bookings": 1, "guide:s1:g1:tasks": 1,
    }  # fmt: skip
    assert booked["booked"] == [f"s1|{BOOKING}"]
    assert booked["customer"] == {"bookings": 1, "active:s1": 1}
    assert booked["booked_stores"] == ["s1"]
    assert booked["board"] == {"s|s1|tasks": 1, "g|s1|g1|tasks": 1}
    assert clean_redis.zcard(keys.store_follow_ups("s1")) == 0  # confirmed

    arrived = replace(created(), kind=FollowUpKind.ARRIVED, at_ms=2000)
    cancelled = replace(created(), kind=FollowUpKind.CANCELLED)
    for follow_up in (arrived, arrived, cancelled, cancelled):
        await follow_ups.apply(follow_up)
    after = counters(clean_redis)
    assert after["room"] == {
        "total:bookings": 1, "s1:bookings": 1, "guide:s1:g1:tasks": 1,
        "total:arrivals": 1, "s1:arrivals": 1, "guide:s1:g1:arrivals": 1,
        "total:cancellations": 1, "s1:cancellations": 1,
    }  # fmt: skip
    assert after["booked"] == [] and after["arrived"] == [f"s1|{BOOKING}"]
    assert after["customer"] == {
        "bookings": 1, "active:s1": 0, "visits": 1, "last_visit_ms": 2000, "cancellations": 1,
    }  # fmt: skip
    assert after["booked_stores"] == []
    assert after["board"] == {
        "s|s1|tasks": 1, "g|s1|g1|tasks": 1, "s|s1|arrivals": 1, "g|s1|g1|arrivals": 1,
    }  # fmt: skip


def book_call(now_ms: int) -> BookCall:
    """book.lua's cluster form (what a cluster runs; one tag, so one node runs it too)."""
    record = confirmed_booking(
        id=BOOKING, room_id="r_1", store_id="s1", slot="2030-01-02T10:00:00+08:00",
        slot_end="2030-01-02T10:30:00+08:00", service="cake", service_name="Cake",
        viewer_id="v_1", contact=None, created_at=CREATED_AT,
    )  # fmt: skip
    return BookCall(
        store_id="s1", day=DAY, slot_ts=SLOT_TS, capacity=3, viewer_id="v_1",
        booking_id=BOOKING, idempotency_key=None, fingerprint="fp", response=b"{}",
        event={**record, "customer": None}, record=record, now_ms=now_ms,
        expire_at=int(time.time()) + 3600, day_expire_at=int(time.time()) + 3600,
    )  # fmt: skip


async def test_the_repair_pass_applies_what_a_crash_left_pending(
    redis: RedisClient, clean_redis: sync_redis.Redis
) -> None:
    """book.lua (cluster form) and cancel.lua record their follow-ups with the step; with
    no request left to apply them, the repair pass does, once, oldest first; a cancellation
    whose booking's follow-ups are pending is told so."""
    registry = StoreRegistry(redis)
    await registry.upsert([Store(id="s1", name="S1", lat=31.2, lng=121.4, brand="b1")])
    follow_ups = FollowUps(redis)
    repair = FollowUpRepair(follow_ups, registry, interval_s=1, grace_s=5)
    booked = await BookingStore(redis).book(book_call(now_ms=10_000))
    assert booked.stream_id
    pending = keys.store_follow_ups("s1")
    assert clean_redis.zrange(pending, 0, -1) == [f"created|{BOOKING}".encode()]
    cancelled = await BookingStore(redis).cancel(
        CancelCall(
            store_id="s1", day=DAY, booking_id=BOOKING, cancelled_at="2030-01-01T09:05:00+08:00",
            event={"id": BOOKING}, now_ms=11_000,
        )
    )  # fmt: skip
    assert cancelled.created_pending  # the caller would count the booking first
    # Within the grace period a live request may still be applying them: left alone.
    assert await repair.run_once(now=12_000, lease=False) == 0
    assert await repair.run_once(now=20_000, lease=False) == 2
    assert clean_redis.zcard(pending) == 0
    after = counters(clean_redis)
    assert after["room"] == {
        "total:bookings": 1, "s1:bookings": 1, "total:cancellations": 1, "s1:cancellations": 1,
    }  # fmt: skip
    assert after["booked"] == [] and after["booked_stores"] == []
    assert after["customer"] == {"bookings": 1, "active:s1": 0, "cancellations": 1}
    assert after["board"] == {}  # no task was made (no plan): nothing for the leaderboard
    # The request that made the booking comes back late: nothing is counted twice.
    await follow_ups.apply(replace(created(), guide_id="", task=False))
    assert counters(clean_redis) == after
    # One pass per interval across every process: a second holder waits for the lease.
    other = FollowUpRepair(follow_ups, registry, interval_s=60, grace_s=5)
    assert await repair.run_once(now=30_000) == 0  # took the lease (nothing pending)
    assert not await follow_ups.take_lease(other.holder, 60_000)
