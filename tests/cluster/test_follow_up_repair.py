"""A server on a Redis Cluster killed with SIGKILL between a booking step and its follow-ups:
after a restart, the repair pass brings the room funnel, the booked and arrived slots, the
customers' counters and the brand's leaderboard to exactly what the stores' streams say.

The crash is placed by ``LIVE_TEST_KILL_BEFORE_FOLLOW_UPS=<kind>:<n>``
(``live_server.bookings.follow_ups.KILL_SWITCH_ENV``): the process SIGKILLs itself right
after the n-th booking / cancellation / check-in step returned, before any follow-up on
another tag. Three runs, one crash each (created, cancelled, arrived), with the repair held
off (``LIVE_FOLLOW_UP_GRACE_S=3600``) so the loss is visible; then a fourth run repairs.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from live_server.bookings.follow_ups import KILL_SWITCH_ENV
from live_server.core import keys
from live_server.core.cluster import flush_cluster
from live_server.store_streams.events import decode_entry

from .conftest import ServerNode, start_node, stop_node
from .test_two_nodes import call, free_slot

HOLD_REPAIR = {"LIVE_FOLLOW_UP_GRACE_S": "3600", "LIVE_FOLLOW_UP_REPAIR_S": "0.2"}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def expected_from_streams(r: Any, room: str, store_ids: list[str]) -> dict[str, Any]:
    """The counters the stores' streams imply (the streams are written in the atomic step,
    so they are the truth a crash cannot cut)."""
    room_stats: Counter[str] = Counter()
    customers: dict[str, Counter[str]] = defaultdict(Counter)
    board: Counter[str] = Counter()
    booked: set[str] = set()
    arrived: set[str] = set()
    for store in store_ids:
        for entry_id, fields in r.xrange(keys.store_stream(store)):
            e = decode_entry(entry_id, fields)
            if e.get("room_id") != room or e["type"] not in (
                "booking.created", "booking.cancelled", "booking.arrived",
            ):  # fmt: skip
                continue
            member, viewer = f"{store}|{e['booking_id']}", e["viewer_id"]
            if e["type"] == "booking.created":
                room_stats["total:bookings"] += 1
                room_stats[f"{store}:bookings"] += 1
                customers[viewer]["bookings"] += 1
                board[f"{e['created_at'][:10]}|s|{store}|tasks"] += 1
                booked.add(member)
            elif e["type"] == "booking.cancelled":
                room_stats["total:cancellations"] += 1
                room_stats[f"{store}:cancellations"] += 1
                customers[viewer]["cancellations"] += 1
                booked.discard(member)
            else:
                room_stats["total:arrivals"] += 1
                room_stats[f"{store}:arrivals"] += 1
                customers[viewer]["visits"] += 1
                board[f"{e['arrived_at'][:10]}|s|{store}|arrivals"] += 1
                arrived.add(member)
    return {
        "room": dict(room_stats), "customers": {v: dict(c) for v, c in customers.items()},
        "board": dict(board), "booked": sorted(booked), "arrived": sorted(arrived),
    }  # fmt: skip


def counters(r: Any, room: str, brand: str, days: set[str], viewers: list[str]) -> dict[str, Any]:
    """The same counters as Redis holds them now (the follow-ups' view)."""
    fields = ("bookings", "cancellations", "arrivals")
    stats = {
        _text(k): int(v)
        for k, v in r.hgetall(keys.room_stats(room)).items()
        if _text(k).rsplit(":", 1)[-1] in fields and not _text(k).startswith("guide:")
    }
    customers = {}
    for viewer in viewers:
        profile = r.hgetall(keys.customer(viewer))
        got = {n: int(profile[n.encode()]) for n in ("bookings", "cancellations", "visits")
               if int(profile.get(n.encode(), 0))}  # fmt: skip
        if got:
            customers[viewer] = got
    board: dict[str, int] = {}
    guide_rows: Counter[str] = Counter()
    for day in days:
        for k, v in r.hgetall(keys.brand_leaderboard(brand, day)).items():
            name = _text(k)
            if name.startswith("s|"):
                board[f"{day}|{name}"] = int(v)
            else:  # g|<store>|<guide>|<metric>: adds up to the store's row
                _, store, _guide, metric = name.split("|")
                guide_rows[f"{day}|s|{store}|{metric}"] += int(v)
    members = {
        name: sorted(_text(m) for m in r.zrange(key, 0, -1))
        for name, key in (
            ("booked", keys.room_booked_slots(room)), ("arrived", keys.room_arrived_slots(room)),
        )
    }  # fmt: skip
    return {
        "room": stats, "customers": customers, "board": board, **members,
        "guide_rows": dict(guide_rows),
    }  # fmt: skip


def crash_run(
    name: str, tmp: Path, cluster_url: str, secret: str, kill: str, *extra: str
) -> ServerNode:
    return start_node(
        name, tmp, cluster_url, secret, *extra, env={KILL_SWITCH_ENV: kill, **HOLD_REPAIR}
    )


async def killed(node: ServerNode, request: Any) -> None:
    """Run the request that kills the node (its connection drops), then see it died of
    SIGKILL."""
    with pytest.raises(aiohttp.ClientError):
        await request
    returncode = await asyncio.to_thread(node.proc.wait, 15)
    assert returncode == -9, node.log_tail()


@pytest.mark.timeout(240)
async def test_follow_ups_are_repaired_after_kill_9(cluster_url: str, tmp_path: Path) -> None:
    flush_cluster(cluster_url)
    secret = secrets.token_urlsafe(48)
    r = redis.RedisCluster.from_url(cluster_url)
    node = await asyncio.to_thread(
        crash_run, "created", tmp_path, cluster_url, secret, "created:3", "--demo"
    )
    try:
        demo = json.loads((node.data_dir / "demo.json").read_text())
        room, stores = demo["room_id"], demo["stores"][:2]
        store_ids = [s["id"] for s in demo["stores"]]
        async with aiohttp.ClientSession() as http:
            viewers = []
            for _ in range(3):
                status, viewer = await call(
                    http, "POST", f"{node.base}/api/v1/rooms/{room}/viewers", json_body={}
                )
                assert status == 201, viewer
                viewers.append(viewer)
            bookings = []
            for i, viewer in enumerate(viewers):
                store = stores[i % 2]
                slot = await free_slot(http, node.base, store["id"], skip=i)
                status, detail = await call(http, "GET", f"{node.base}/api/v1/stores/{store['id']}")
                brand = detail["brand"]
                body = {"store_id": store["id"], "slot": slot["start"],
                        "service": detail["services"][0]}  # fmt: skip
                book = call(
                    http, "POST", f"{node.base}/api/v1/rooms/{room}/bookings", viewer["token"],
                    body,
                )  # fmt: skip
                if i < 2:
                    status, booking = await book
                    assert status == 201, booking
                    bookings.append(booking)
                else:  # the 3rd booking step succeeds, then the process is killed
                    await killed(node, book)

            # A cancellation, killed after cancel.lua.
            node = await asyncio.to_thread(
                crash_run, "cancelled", tmp_path, cluster_url, secret, "cancelled:1"
            )
            await killed(node, call(
                http, "DELETE", f"{node.base}/api/v1/bookings/{bookings[0]['id']}",
                viewers[0]["token"],
            ))  # fmt: skip
            # A check-in, killed after arrive.lua.
            node = await asyncio.to_thread(
                crash_run, "arrived", tmp_path, cluster_url, secret, "arrived:1"
            )
            staff = next(s["staff_token"] for s in stores if s["id"] == bookings[1]["store_id"])
            await killed(node, call(
                http, "POST",
                f"{node.base}/api/v1/stores/{bookings[1]['store_id']}/bookings/"
                f"{bookings[1]['id']}/arrive", staff,
            ))  # fmt: skip

        expected = expected_from_streams(r, room, store_ids)
        assert expected["room"]["total:bookings"] == 3, expected
        assert expected["room"]["total:cancellations"] == 1
        assert expected["room"]["total:arrivals"] == 1
        days = {k.split("|")[0] for k in expected["board"]}
        viewer_ids = [v["viewer_id"] for v in viewers]
        before = counters(r, room, brand, days, viewer_ids)
        # Each crash lost its step's follow-ups: the counters are short (never over).
        assert before["room"]["total:bookings"] == 2, before
        assert "total:cancellations" not in before["room"], before
        assert "total:arrivals" not in before["room"], before
        assert before != {**expected, "guide_rows": before["guide_rows"]}
        pending = {s: r.zrange(keys.store_follow_ups(s), 0, -1) for s in store_ids}
        assert sum(len(p) for p in pending.values()) == 3, pending

        # Restart with the repair on: one pass brings everything to the streams' numbers.
        node = await asyncio.to_thread(
            start_node, "repaired", tmp_path, cluster_url, secret,
            env={"LIVE_FOLLOW_UP_GRACE_S": "0.5", "LIVE_FOLLOW_UP_REPAIR_S": "0.2"},
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            now = counters(r, room, brand, days, viewer_ids)
            if {k: v for k, v in now.items() if k != "guide_rows"} == expected:
                break
            assert loop.time() < deadline, (now, expected)
            await asyncio.sleep(0.2)  # polling interval, with a deadline
        assert now["guide_rows"] == now["board"]  # every task and arrival had its guide
        assert all(r.zcard(keys.store_follow_ups(s)) == 0 for s in store_ids)
        assert stop_node(node) == 0, node.log_tail()
    finally:
        if node.proc.poll() is None:
            stop_node(node)
        r.close()
