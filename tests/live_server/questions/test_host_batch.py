"""/host with ``batch: true``: the room's events as ``host.batch`` packets, in order, each
card and counter once per batch with its latest state; single-event hosts unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

from live_server.realtime.server import REALTIME
from tests.conftest import Api

from .conftest import group_message, post_signed


def flattened(log: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(e["event"], e["data"]) for b in log.of("host.batch") for e in b["events"]]


async def wait_until(check: Any, what: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # a poll with a deadline
        assert asyncio.get_running_loop().time() < deadline, f"waited {timeout}s for {what}"
        await asyncio.sleep(0.01)


async def test_a_batching_host_sees_each_card_once_per_batch_with_its_last_state(
    api: Api, server: Any, live_room: dict[str, Any], make_group: Any, make_viewer: Any,
    sio_client: Any,
) -> None:  # fmt: skip
    # a wide window, so the burst below lands in (at most) two batches on a slow machine
    server.app[REALTIME].host_batches.interval_s = 1.0
    group = await make_group("g-jingan", "sh-jingan")
    _, single = await sio_client("/host", live_room["host_token"])
    _, batched = await sio_client("/host", live_room["host_token"], batch=True)

    asked = [
        await post_signed(api, group, group_message("月饼礼盒多少钱？", author=f"u{n}"))
        for n in range(4)
    ]
    status, other = await post_signed(api, group, group_message("几点开门？", author="u9"))
    assert status == 200 and all(s == 200 for s, _ in asked)
    card = asked[0][1]["question_id"]
    assert {b["question_id"] for _, b in asked} == {card}

    # the single-event host: one question.new and three question.updated for the card
    await single.wait_for("question.updated", 3, where=lambda d: d["id"] == card)
    await single.wait_for("question.new", 2)
    await wait_until(
        lambda: any(d.get("id") == other["question_id"] for _, d in flattened(batched)),
        "the second card in a batch",
    )
    # the batching host: no single events at all, only batches
    assert {n for n, _ in batched.events} == {"host.batch"}
    for batch in batched.of("host.batch"):
        ids = [e["data"].get("id") for e in batch["events"] if e["event"].startswith("question.")]
        assert len(ids) == len(set(ids)), batch  # each card once per batch
        assert all(isinstance(e["data"]["ts"], int) for e in batch["events"])
    of_card = [(n, d) for n, d in flattened(batched) if d.get("id") == card]
    assert 1 <= len(of_card) <= 2  # four changes, coalesced
    assert of_card[0][0] == "question.new"  # a new card stays new with its latest state
    assert of_card[-1][1]["askers"] == 4
    # in order: the first card's batch entry comes before the second card's
    order = [d.get("id") for _, d in flattened(batched)]
    assert order.index(card) < order.index(other["question_id"])

    # room.viewers (sent locally once a second) reaches a batching host too
    viewer = await make_viewer(live_room["room_id"])
    await sio_client("/live", viewer["token"])
    await wait_until(
        lambda: any(n == "room.viewers" and d["viewers"] >= 1 for n, d in flattened(batched)),
        "room.viewers in a batch",
    )
