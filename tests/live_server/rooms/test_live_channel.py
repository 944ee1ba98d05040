"""The /live, /host and /store channels with real Socket.IO clients over websocket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from live_server.core.appkeys import METRICS
from live_server.realtime.server import REALTIME
from tests.conftest import Api, SioFactory


async def test_joiner_gets_the_present(
    make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    room = await make_room(title="周末烘焙直播")
    viewer = await make_viewer(room["room_id"])
    _, log = await sio_client("/live", viewer["token"])
    (state,) = await log.wait_for("room.state")
    assert state["title"] == "周末烘焙直播" and state["status"] == "live"
    assert [f["id"] for f in state["featured"]][:2] == ["cake-consult", "baking-class"]
    assert state["viewers"] >= 0 and isinstance(state["ts"], int) and state["offset"]


@pytest.mark.parametrize(
    ("namespace", "token_kind", "reason"),
    [("/live", "staff", "viewer"), ("/host", "viewer", "host"), ("/store", "host", "staff"),
     ("/live", "forged", "signature"), ("/host", "none", "token")],
)  # fmt: skip
async def test_wrong_role_is_refused_with_a_reason(
    namespace: str, token_kind: str, reason: str, make_room: Any, make_viewer: Any,
    staff_token: Any, base_url: str,
) -> None:  # fmt: skip
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    token = {
        "staff": staff_token("sh-jingan"), "viewer": viewer["token"],
        "host": room["host_token"], "forged": viewer["token"][:-3] + "abc", "none": "",
    }[token_kind]  # fmt: skip
    client = socketio.AsyncClient(reconnection=False)
    refusals: list[Any] = []
    client.on("connect_error", refusals.append, namespace=namespace)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                base_url, namespaces=[namespace], transports=["websocket"],
                auth={"token": token}, wait_timeout=5,
            )  # fmt: skip
    finally:
        await client.disconnect()
    assert refusals and reason in str(refusals[0]), refusals


async def test_room_end_is_broadcast_and_refuses_more(
    api: Api, make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    _, log = await sio_client("/live", viewer["token"])
    await log.wait_for("room.state")
    status, _ = await api.post(f"/api/v1/rooms/{room['room_id']}/end", room["host_token"])
    assert status == 200
    (ended,) = await log.wait_for("room.ended")
    assert ended["status"] == "ended" and ended["offset"]
    status, body = await api.post(
        f"/api/v1/rooms/{room['room_id']}/announcements", room["host_token"], json={"text": "hi"}
    )
    assert status == 410 and "ended" in body["detail"]


async def test_reconnect_with_offset_replays_missed_in_order_once(
    api: Api, make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    room = await make_room()
    rid, host = room["room_id"], room["host_token"]
    viewer = await make_viewer(rid)
    client, log = await sio_client("/live", viewer["token"])
    (state,) = await log.wait_for("room.state")
    await api.post(f"/api/v1/rooms/{rid}/announcements", host, json={"text": "seen"})
    (seen,) = await log.wait_for("room.announcement")
    await client.disconnect()
    for i in range(3):
        status, _ = await api.post(
            f"/api/v1/rooms/{rid}/announcements", host, json={"text": f"missed {i}"}
        )
        assert status == 201
    _, again = await sio_client("/live", viewer["token"], offset=seen["offset"])
    missed = await again.wait_for("room.announcement", count=3)
    assert [m["text"] for m in missed] == ["missed 0", "missed 1", "missed 2"]
    offsets = [m["offset"] for m in missed]
    assert offsets == sorted(offsets, key=lambda o: tuple(map(int, o.split("-"))))
    assert not again.of("room.state")  # in the window: replay, not a fresh state
    await api.post(f"/api/v1/rooms/{rid}/announcements", host, json={"text": "live"})
    await again.wait_for("room.announcement", count=4)
    assert [m["text"] for m in again.of("room.announcement")] == [
        "missed 0",
        "missed 1",
        "missed 2",
        "live",
    ]
    assert state["offset"]


async def test_offset_outside_the_window_gets_fresh_state(
    api: Api, make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    await api.post(
        f"/api/v1/rooms/{room['room_id']}/announcements", room["host_token"], json={"text": "x"}
    )
    _, log = await sio_client("/live", viewer["token"], offset="1-0")
    (state,) = await log.wait_for("room.state")
    assert state["status"] == "live"


async def test_viewer_count_is_published(
    make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    room = await make_room()
    logs = []
    for _ in range(3):
        viewer = await make_viewer(room["room_id"])
        logs.append((await sio_client("/live", viewer["token"]))[1])
    _, host_log = await sio_client("/host", room["host_token"])
    await logs[0].wait_for("room.viewers", where=lambda d: d["viewers"] == 3, timeout=5)
    await host_log.wait_for("room.viewers", where=lambda d: d["viewers"] == 3, timeout=5)


async def test_counters_are_coalesced(
    server: Any, make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    _, log = await sio_client("/live", viewer["token"])
    await log.wait_for("room.state")
    rt = server.app[REALTIME]
    started = asyncio.get_running_loop().time()
    for remaining in range(5000, 0, -1):
        rt.counter(
            room["room_id"], "coupon.stock", "c1", {"campaign_id": "c1", "remaining": remaining - 1}
        )
        if remaining % 500 == 0:
            await asyncio.sleep(0)  # let the loop run, as real claims would
    await log.wait_for("coupon.stock", where=lambda d: d["remaining"] == 0)
    elapsed = asyncio.get_running_loop().time() - started
    received = log.of("coupon.stock")
    assert len(received) <= max(2, int(elapsed * 4) + 2), (len(received), elapsed)
    assert received[-1]["remaining"] == 0


async def test_a_flooding_client_does_not_slow_others(
    api: Api, server: Any, make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    room = await make_room()
    flooder, _ = await sio_client("/live", (await make_viewer(room["room_id"]))["token"])
    _, calm = await sio_client("/live", (await make_viewer(room["room_id"]))["token"])
    for i in range(600):
        await flooder.emit("spam", {"i": i, "pad": "x" * 100}, namespace="/live")
    status, _ = await api.post(
        f"/api/v1/rooms/{room['room_id']}/announcements",
        room["host_token"],
        json={"text": "still here"},
    )
    assert status == 201
    await calm.wait_for("room.announcement", timeout=3)
    metrics = server.app[METRICS]
    dropped = metrics.socket_events_dropped.labels("/live", "unknown")._value.get()
    assert dropped > 0
