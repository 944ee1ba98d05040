"""The fan-out fast path: one frame per broadcast, exact protocol, order kept."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from live_server.realtime.fanout import FastFanout, text_frame
from live_server.realtime.server import SIO
from tests.conftest import Api, EventLog, SioFactory


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 100_000])
def test_text_frame_header(size: int) -> None:
    frame = text_frame(b"x" * size)
    assert frame[0] == 0x81  # FIN + text, no RSV bits: never compressed
    if size < 126:
        assert frame[1] == size and len(frame) == size + 2
    elif size < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size


async def test_many_viewers_get_every_broadcast_once_in_order(
    api: Api, make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    logs: list[EventLog] = []
    for _ in range(30):
        logs.append((await sio_client("/live", viewer["token"]))[1])
    for log in logs:
        await log.wait_for("room.state")
    before = FastFanout.fast_deliveries
    texts = [f"n{i} " + "长" * (i * 40) for i in range(12)]  # up to >126 and >64K-safe sizes
    for text in texts[:12]:
        status, _ = await api.post(
            f"/api/v1/rooms/{room['room_id']}/announcements",
            room["host_token"],
            json={"text": text[:500]},
        )
        assert status == 201
    for log in logs:
        got = await log.wait_for("room.announcement", count=12)
        assert [g["text"] for g in got] == [t[:500] for t in texts]
    assert FastFanout.fast_deliveries - before >= 30 * 12 * 0.5  # most went the fast way


async def test_polling_clients_still_receive(
    api: Api, base_url: str, make_room: Any, make_viewer: Any, settings: Any
) -> None:
    if settings.redis_cluster or settings.workers > 1:
        pytest.skip("long-polling is off when nodes share the load (no sticky sessions)")
    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    client = socketio.AsyncClient(reconnection=False)
    log = EventLog()
    client.on("*", lambda e, d=None: log.add(e, d), namespace="/live")
    await client.connect(base_url, namespaces=["/live"], transports=["polling"],
                         auth={"token": viewer["token"]}, wait_timeout=5)  # fmt: skip
    try:
        await log.wait_for("room.state")
        await api.post(
            f"/api/v1/rooms/{room['room_id']}/announcements",
            room["host_token"],
            json={"text": "poll"},
        )
        (got,) = await log.wait_for("room.announcement")
        assert got["text"] == "poll"
    finally:
        await client.disconnect()


async def test_permessage_deflate_is_not_negotiated(base_url: str) -> None:
    """The client offers deflate; the upgrade answer must not accept it."""
    import asyncio
    import base64
    import os
    from urllib.parse import urlparse

    url = urlparse(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: {url.hostname}:{url.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        ).encode()
    )
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode().lower()
    writer.transport.abort()  # vanish, as a phone going into a tunnel would
    assert head.startswith("http/1.1 101")
    assert "sec-websocket-extensions" not in head


async def test_websocket_viewers_need_no_engineio_tasks_or_queue(
    server: Any, make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    """A websocket opened straight away is a LiveSocket in direct-write mode: no writer,
    reader or ping task and no queue per connection (that was ~9 KB of each viewer)."""
    import asyncio

    from live_server.realtime.fanout import LiveSocket

    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    for _ in range(10):
        _, log = await sio_client("/live", viewer["token"])
        await log.wait_for("room.state")
    eio = server.app[SIO].eio
    sockets = list(eio.sockets.values())
    assert len(sockets) >= 10
    for sock in sockets:
        assert isinstance(sock, LiveSocket)
        assert sock.transport is not None and sock._queue is None and sock.upgraded
    per_socket = [
        t for t in asyncio.all_tasks()
        if t.get_coro().__qualname__.startswith(("AsyncSocket.", "AsyncSocket._websocket_handler"))
    ]  # fmt: skip
    assert per_socket == []


async def test_engineio_ping_pong_and_ping_timeout_on_the_wire() -> None:
    """The pings now come from a timer handle: check the exact frames, and that a client
    that stops answering is closed after ping_interval + ping_timeout."""
    import asyncio

    import aiohttp
    import orjson
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from live_server.realtime.fanout import LiveSocketIO

    sio = LiveSocketIO(async_mode="aiohttp", ping_interval=0.2, ping_timeout=0.3)
    app = web.Application()
    sio.attach(app)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = srv.make_url("/socket.io/?EIO=4&transport=websocket")
            async with session.ws_connect(url) as ws:
                opened = await ws.receive_str(timeout=2)
                assert opened[0] == "0" and orjson.loads(opened[1:])["pingTimeout"] == 300
                await ws.send_str("40")  # socket.io CONNECT to "/"
                assert (await ws.receive_str(timeout=2)).startswith('40{"sid":')
                for _ in range(3):
                    assert await ws.receive_str(timeout=2) == "2"  # engine.io PING
                    await ws.send_str("3")  # PONG
                # Stop answering: the server must close the connection.
                loop = asyncio.get_running_loop()
                started = loop.time()
                while True:
                    msg = await ws.receive(timeout=5)
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                    assert msg.data in ("2", "1")  # one more PING, perhaps a CLOSE packet
                assert loop.time() - started < 3
        deadline = asyncio.get_running_loop().time() + 5
        # engine.io's socket table has no event to wait on: poll it.
        while sio.eio.sockets and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert not sio.eio.sockets
    finally:
        await srv.close()
        await sio.shutdown()


async def test_gc_pacer_freezes_at_scale_sweeps_after_closes_and_unfreezes(
    server: Any, make_room: Any, make_viewer: Any, sio_client: SioFactory
) -> None:
    import gc

    from live_server.realtime.fanout import GcPacer, LiveSocket

    room = await make_room()
    viewer = await make_viewer(room["room_id"])
    clients = [(await sio_client("/live", viewer["token"]))[0] for _ in range(4)]
    pacer: GcPacer = server.app[SIO].eio.gc_pacer
    pacer.MIN_SOCKETS = 2  # "at scale", for this test
    threshold = gc.get_threshold()
    gc.set_threshold(10_000, *threshold[1:])  # what a worker starts with (serve.py)
    try:
        pacer.tick()  # first time at scale: one sweep, then frozen
        assert pacer.active and pacer.sweeps == 1 and gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GcPacer.YOUNG_THRESHOLD  # small young passes
        pacer.tick()  # nothing closed: young pass + freeze only
        assert pacer.sweeps == 1
        closes = LiveSocket.closes
        for client in clients[:3]:
            await client.disconnect()
        for _ in range(100):
            if LiveSocket.closes - closes >= 3:
                break
            await asyncio.sleep(0.02)
        pacer.MIN_SOCKETS = 1
        pacer.tick()  # 3 of 4 closed since the sweep: their frozen garbage is swept
        assert pacer.sweeps == 2
        pacer.MIN_SOCKETS = 100
        pacer.tick()  # below the scale: back to the stock rule
        assert not pacer.active and gc.get_freeze_count() == 0
        assert gc.get_threshold()[0] == 10_000  # the worker's own again
    finally:
        await pacer.stop()
        gc.set_threshold(*threshold)
    assert gc.get_freeze_count() == 0
