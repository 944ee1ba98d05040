"""The real path of a room event (issue 21): joins that find a fresh room.state ask Redis
nothing more, another node's broadcast makes the next joiner's snapshot fresh, the bus
publishes before its own fan-out when others listen, and a big room's viewer count is
paced."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from socketio import packet as sio_packet

from live_server.core.tokens import Claims
from live_server.realtime.bus import LiveRedisManager
from live_server.realtime.fanout import HeldWrites, LivePacket, LiveSocket
from live_server.realtime.server import LIVE, REALTIME
from live_server.rooms import live as live_module
from live_server.rooms.live import LiveRooms
from live_server.rooms.wiring import LIVE_ROOMS
from tests.conftest import SioFactory


class _Counting:
    """Counts the history reads a join makes."""

    def __init__(self, rooms: LiveRooms) -> None:
        self.calls = 0
        for name in ("oldest_offset", "history_after"):
            original = getattr(rooms.store, name)

            async def counted(*args: Any, _original: Any = original) -> Any:
                self.calls += 1
                return await _original(*args)

            setattr(rooms.store, name, counted)


async def test_joins_on_a_fresh_snapshot_read_no_history_and_a_remote_broadcast_refreshes_it(
    server: TestServer, make_room: Any, make_viewer: Any, sio_client: SioFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(live_module, "STATE_TTL_S", 60.0)  # no expiry during the test
    live_rooms = server.app[LIVE_ROOMS]
    manager = server.app[REALTIME].sio.manager
    room = await make_room()
    room_id = room["room_id"]
    viewer = await make_viewer(room_id)
    _, first = await sio_client("/live", viewer["token"])
    (state1,) = await first.wait_for("room.state")
    reads = _Counting(live_rooms)
    for _ in range(3):
        _, log = await sio_client("/live", viewer["token"])
        (state,) = await log.wait_for("room.state")
        assert state["offset"] == state1["offset"]
    assert reads.calls == 0, "a join on a fresh snapshot read the history"

    # Another node's broadcast: recorded in the history, then delivered here by the bus.
    data = {"room_id": room_id, "text": "from another node", "ts": 1}
    offset = await live_rooms.store.append_history(room_id, "room.announcement", dict(data))
    await manager._handle_emit({
        "method": "emit", "event": "room.announcement", "data": [{**data, "offset": offset}],
        "binary": False, "namespace": LIVE, "room": f"room:{room_id}", "skip_sid": None,
        "callback": None, "host_id": "another-node",
    })  # fmt: skip
    (got,) = await first.wait_for("room.announcement")
    assert got["offset"] == offset
    assert room_id not in live_rooms._state_cache  # the cached snapshot is stale now
    _, late = await sio_client("/live", viewer["token"])
    (state2,) = await late.wait_for("room.state")
    assert state2["offset"] == offset  # a fresh snapshot: it already covers the broadcast


async def test_a_join_whose_snapshot_went_stale_replays_what_it_missed(
    server: TestServer, make_room: Any, make_viewer: Any, sio_client: SioFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A broadcast delivered while a joiner's snapshot was being taken: that joiner asks
    the history (the broadcast went out before it was in the room's socket list)."""
    monkeypatch.setattr(live_module, "STATE_TTL_S", 60.0)
    live_rooms = server.app[LIVE_ROOMS]
    room = await make_room()
    room_id = room["room_id"]
    viewer = await make_viewer(room_id)
    original = live_rooms.room_state
    recorded: list[str] = []

    async def state_then_broadcast(room_id: str, claims: Claims) -> dict[str, Any]:
        state = await original(room_id, claims)
        if not recorded:  # the first build only: a broadcast lands right after it
            recorded.append(await live_rooms.announce(room_id, "raced the join"))
        return state

    monkeypatch.setattr(live_rooms, "room_state", state_then_broadcast)
    reads = _Counting(live_rooms)
    _, log = await sio_client("/live", viewer["token"])
    (state,) = await log.wait_for("room.state")
    (got,) = await log.wait_for("room.announcement")
    assert got["offset"] == recorded[0] and state["offset"] != recorded[0]
    assert reads.calls >= 1


async def test_the_bus_publishes_first_when_other_nodes_listen() -> None:
    manager = LiveRedisManager.__new__(LiveRedisManager)
    manager.parallel = True  # this process may run beside the other workers
    order: list[str] = []

    async def publish(message: dict[str, Any]) -> int:
        order.append("publish")
        return 1 + manager.peers

    async def deliver_here(message: dict[str, Any]) -> None:
        order.append("here")

    manager._publish = publish  # type: ignore[method-assign]
    manager._handle_emit = deliver_here  # type: ignore[method-assign]
    message: dict[str, Any] = {"event": "e", "data": [{}], "namespace": LIVE, "room": "room:r"}
    manager.peers = 0  # one worker: nobody else to wait for us
    await manager._deliver(message)
    assert order == ["here", "publish"]
    order.clear()
    manager.peers = 1  # another worker listens: it starts its fan-out while ours runs
    await manager._deliver(message)
    assert order == ["publish", "here"]
    order.clear()
    manager.parallel = False  # pinned to one CPU with it: nothing to gain, ours first
    await manager._deliver(message)
    assert order == ["here", "publish"]


class _Store:
    def __init__(self) -> None:
        self.total = 0

    async def publish_viewer_count(self, room_id: str, node: str, local: int, now: int) -> int:
        return self.total


def _counting_rooms() -> tuple[LiveRooms, _Store, list[int]]:
    """LiveRooms on a stand-in manager and store; the viewer counts it sends to /live."""
    sent: list[int] = []

    async def emit_local(event: str, data: Any, namespace: str, room: str) -> None:
        if event == "room.viewers" and namespace == LIVE:
            sent.append(data["viewers"])

    store = _Store()
    realtime = SimpleNamespace(
        live=SimpleNamespace(on_join=[], on_leave=[]),
        sio=SimpleNamespace(manager=SimpleNamespace(emit_local=emit_local)),
        broadcaster=None,
    )
    rooms = LiveRooms(SimpleNamespace(store=store), realtime)  # type: ignore[arg-type]
    return rooms, store, sent


async def test_a_big_rooms_viewer_count_is_paced_a_small_ones_is_not() -> None:
    rooms, store, sent = _counting_rooms()
    assert not rooms._emits_watched  # a manager without the hook: joiners read the history
    rooms.local_viewers["small"] = 40
    for total in (40, 41, 42):
        store.total = total
        await rooms._publish_counts()
    assert sent == [40, 41, 42]  # every second, as before
    sent.clear()
    rooms.local_viewers.clear()
    rooms.local_viewers["big"] = 10_000  # every 10,000 / 2,000 = 5 s
    store.total = 10_000
    await rooms._publish_counts()
    store.total = 10_050
    await rooms._publish_counts()
    assert sent == [10_000]  # the change waits...
    rooms._count_sent_at["big"] = time.monotonic() - 5.0
    await rooms._publish_counts()
    assert sent == [10_000, 10_050]  # ...and goes out with the next pass after 5 s


class _Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:  # pragma: no cover - never cut off here
        raise AssertionError("cut off")


def test_a_joins_connect_and_what_its_handler_sent_leave_in_one_write() -> None:
    """CONNECT, then room.state (held meanwhile), in one write: one segment, one wake-up
    of the client; the conformance server's gap keeps them apart."""
    transport = _Transport()
    sock = LiveSocket.__new__(LiveSocket)
    sock.server = SimpleNamespace(connect_gap_s=0.0)
    sock.transport = transport  # type: ignore[assignment]
    assert sock.hold("/live")
    assert isinstance(sock.transport, HeldWrites)
    sock.transport.write(b"state")
    sock.transport.write(b"replayed")
    sock.release("/live", first=b"connect")
    assert transport.writes == [b"connectstatereplayed"]
    assert sock.transport is transport
    sock.transport.write(b"live")  # a later broadcast: written as it comes
    assert transport.writes[-1] == b"live"


def test_the_binary_check_finds_bytes_anywhere_and_nothing_in_json() -> None:
    assert not LivePacket.data_is_binary(["room.state", {"a": [1, {"b": None}], "c": "x"}])
    assert LivePacket.data_is_binary(["e", {"a": [1, {"b": b"\x00"}]}])
    assert LivePacket.data_is_binary(bytearray(b"x"))
    assert not LivePacket.data_is_binary({"a": {1, 2}})  # not JSON, not binary: as upstream
    pkt = LivePacket(sio_packet.EVENT, data=["e", {"blob": b"\x01\x02"}], namespace="/live")
    assert pkt.packet_type == sio_packet.BINARY_EVENT


async def test_a_big_rooms_count_does_not_land_on_top_of_a_broadcast() -> None:
    rooms, store, sent = _counting_rooms()
    rooms.local_viewers["big"] = 10_000
    store.total = 10_000
    await rooms._publish_counts()
    assert sent == [10_000]
    store.total = 10_100
    rooms._count_sent_at["big"] = time.monotonic() - 6.0  # due again...
    rooms._room_emitted(LIVE, "room:big")  # ...but a drop went out just now
    await rooms._publish_counts()
    assert sent == [10_000]
    rooms._broadcast_at["big"] = time.monotonic() - 1.0  # quiet again
    await rooms._publish_counts()
    assert sent == [10_000, 10_100]
    store.total = 10_200  # broadcasts without a pause: it waits at most 10 s
    rooms._count_sent_at["big"] = time.monotonic() - 11.0
    rooms._room_emitted(LIVE, "room:big")
    await rooms._publish_counts()
    assert sent == [10_000, 10_100, 10_200]
