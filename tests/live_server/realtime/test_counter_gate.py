"""booking.count goes out at most once a second per room across workers, never lower than
a value already sent, and its last value always goes out."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.core.keys import counter_gate
from live_server.realtime.server import COUNTER_GATE, REALTIME


def gate(redis: Any, value: int, ms: int = 60) -> int:
    gate_key, last_key = counter_gate("r_gate", "booking.count", "all")
    return int(redis.eval(COUNTER_GATE.source, 2, gate_key, last_key, ms, value))


async def test_the_gate_lets_one_send_through_per_period_and_never_a_lower_value(
    clean_redis: Any,
) -> None:
    assert gate(clean_redis, 5) == 1  # first: send
    assert gate(clean_redis, 5) == 0  # as high as sent: drop
    assert gate(clean_redis, 4) == 0  # lower (another worker's older count): drop
    assert gate(clean_redis, 7) == -1  # higher, but the period is taken: retry later
    deadline = asyncio.get_running_loop().time() + 2
    while (verdict := gate(clean_redis, 7)) == -1:  # a poll with a deadline
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert verdict == 1


async def test_a_burst_of_counts_reaches_viewers_as_few_events_ending_with_the_last(
    server: Any, make_room: Any, make_viewer: Any, sio_client: Any
) -> None:
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    _, log = await sio_client("/live", viewer["token"])
    realtime = server.app[REALTIME]
    start = asyncio.get_running_loop().time()
    for total in range(1, 41):  # 40 bookings in about a second
        realtime.counter(room["room_id"], "booking.count", "all",
                         {"room_id": room["room_id"], "bookings": total}, gated=total)  # fmt: skip
        await asyncio.sleep(0.025)
    counts = await log.wait_for("booking.count", where=lambda d: d["bookings"] == 40)
    seen = [d["bookings"] for d in log.of("booking.count")]
    elapsed = asyncio.get_running_loop().time() - start
    assert seen == sorted(seen) and seen[-1] == 40, seen  # never backwards, the last one out
    assert len(seen) <= elapsed + 2, (seen, elapsed)  # about one a second, not four
    assert counts
