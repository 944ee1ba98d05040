"""/store with ``batch: true``: entries ready together come as one ``store.batch``, in
stream order, nothing missed or twice; ``store.synced`` stays on its own; acks still work."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.store_streams.ids import StreamId

from .conftest import Append
from .test_replay import STORE_EVENTS


def flattened(log: Any) -> list[tuple[str, dict[str, Any]]]:
    """What a batching dashboard handles, in order: batches unpacked, singles as they are."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, data in log.events:
        if name == "store.batch":
            out += [(e["event"], e["data"]) for e in data["events"]]
        else:
            out.append((name, data))
    return out


async def test_replay_comes_as_one_batch_then_synced_then_live_bursts(
    sio_client: Any, staff_token: Any, append: Append
) -> None:
    ids = [await append("s_b", n) for n in range(30)]
    client, log = await sio_client("/store", staff_token("s_b"), last_id="0", batch=True)
    [synced] = await log.wait_for("store.synced")
    # the 30 missed entries: one packet, not 30
    assert [n for n, _ in log.events] == ["store.batch", "store.synced"]
    [batch] = log.of("store.batch")
    assert [e["event"] for e in batch["events"]] == ["booking.created"] * 30
    assert [e["data"]["id"] for e in batch["events"]] == ids
    assert synced["replayed"] == 30 and synced["last_id"] == ids[-1]

    # a burst of live entries: fewer packets than entries, all of them, in order
    live = await asyncio.gather(*(append("s_b", 100 + n) for n in range(40)))
    deadline = asyncio.get_running_loop().time() + 5
    while len([1 for n, _ in flattened(log) if n in STORE_EVENTS]) < 70:  # poll, deadline
        assert asyncio.get_running_loop().time() < deadline, flattened(log)
        await asyncio.sleep(0.01)
    seen = [d["id"] for n, d in flattened(log) if n in STORE_EVENTS]
    assert seen == [*ids, *sorted(live, key=StreamId.parse)]
    assert len(set(seen)) == 70
    # the dashboard acks the last id of a batch like any entry's
    assert await client.call("ack", {"id": seen[-1]}, namespace="/store") == {"acked": seen[-1]}


async def test_a_dashboard_without_batch_still_gets_single_entries(
    sio_client: Any, staff_token: Any, append: Append
) -> None:
    ids = [await append("s_c", n) for n in range(5)]
    _, log = await sio_client("/store", staff_token("s_c"), last_id="0")
    await log.wait_for("store.synced")
    assert log.of("store.batch") == []
    assert [d["id"] for d in log.of("booking.created")] == ids
