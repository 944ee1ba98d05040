"""Redis goes away mid-use: fast 503s with Retry-After, sockets stay up, and everything
recovers when it is back, without a restart."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import socketio
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.core.embedded_redis import EmbeddedRedis
from live_server.core.tokens import Role, TokenSigner
from live_server.settings import Settings
from tests.conftest import TEST_SECRET, EventLog


async def test_outage_fails_fast_and_recovers(tmp_path: Path) -> None:
    own = EmbeddedRedis(tmp_path / "redis")
    url = own.start()
    settings = Settings.from_env(
        {}, data_dir=tmp_path, redis_url=url, access_log=False, secret=TEST_SECRET
    )
    ops = TokenSigner(TEST_SECRET).issue(Role.OPS, "*", "ops")
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    client = socketio.AsyncClient(reconnection=False)
    log = EventLog()
    client.on("*", lambda e, d=None: log.add(e, d), namespace="/live")
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url("")).rstrip("/")
            auth = {"Authorization": f"Bearer {ops}"}
            async with http.post(
                f"{base}/api/v1/rooms", json={"title": "outage"}, headers=auth
            ) as r:
                room = await r.json()
            host = {"Authorization": f"Bearer {room['host_token']}"}
            rid = room["room_id"]
            async with http.post(f"{base}/api/v1/rooms/{rid}/start", headers=host) as r:
                assert r.status == 200
            async with http.post(f"{base}/api/v1/rooms/{rid}/viewers", json={}) as r:
                viewer = await r.json()
            await client.connect(base, namespaces=["/live"], transports=["websocket"],
                                 auth={"token": viewer["token"]}, wait_timeout=5)  # fmt: skip
            await log.wait_for("room.state")

            own.stop()
            started = time.monotonic()
            async with http.post(
                f"{base}/api/v1/rooms/{rid}/announcements", json={"text": "x"}, headers=host
            ) as r:
                elapsed = time.monotonic() - started
                body = await r.json(content_type=None)
                assert r.status == 503, body
                assert r.headers["Retry-After"]
                assert body["type"].endswith("/unavailable")
            assert elapsed < 5, f"took {elapsed:.1f}s to fail"
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 503
            assert client.connected  # the socket stays up through the outage

            own.start()  # same port, same AOF: the data comes back too
            deadline = time.monotonic() + 15
            while True:
                async with http.post(
                    f"{base}/api/v1/rooms/{rid}/announcements", json={"text": "back"}, headers=host
                ) as r:
                    if r.status == 201:
                        break
                assert time.monotonic() < deadline, f"no recovery: {r.status}"
            await log.wait_for("room.announcement", where=lambda d: d["text"] == "back")
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 200
    finally:
        await client.disconnect()
        await server.close()
        own.stop()
