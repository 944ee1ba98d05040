"""--workers 2: a viewer on one worker receives a broadcast caused on the other."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import socketio

from live_server.core.embedded_redis import free_port
from tests.conftest import EventLog
from tests.live_server.test_serve import wait_ready


async def test_broadcast_crosses_workers(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LIVE_SECRET")}
    proc = subprocess.Popen(  # noqa: ASYNC220  a Popen: wait_ready polls it from a thread
        [sys.executable, "-m", "live_server.cli", "serve", "--demo", "--workers", "2",
         "--port", str(port), "--data-dir", str(tmp_path)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    clients: list[socketio.AsyncClient] = []
    try:
        await asyncio.to_thread(wait_ready, f"{base}/readyz", proc)
        demo = json.loads((tmp_path / "demo.json").read_text())
        room, host = demo["room_id"], demo["host_token"]
        viewers: dict[str, EventLog] = {}  # node -> a viewer connected there
        # A fresh connection per request, so the kernel may pick either worker.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            nodes: set[str] = set()
            deadline = asyncio.get_running_loop().time() + 30
            while len(nodes) < 2:  # both workers up (they start one after the other)
                assert asyncio.get_running_loop().time() < deadline, f"workers seen: {nodes}"
                async with http.get(f"{base}/healthz") as resp:
                    nodes.add(resp.headers["X-Served-By"])
            for _ in range(60):
                if len(viewers) == 2:
                    break
                async with http.post(f"{base}/api/v1/rooms/{room}/viewers", json={}) as resp:
                    token = (await resp.json())["token"]
                client = socketio.AsyncClient(reconnection=False)
                log = EventLog()
                client.on("*", lambda e, d=None, log=log: log.add(e, d), namespace="/live")
                await client.connect(base, namespaces=["/live"], transports=["websocket"],
                                     auth={"token": token}, wait_timeout=5)  # fmt: skip
                clients.append(client)
                (state,) = await log.wait_for("room.state")
                viewers.setdefault(state["node"], log)
            assert len(viewers) == 2, "SO_REUSEPORT never spread viewers over both workers"
            delivered: dict[str, str] = {}
            for i in range(40):
                text = f"announcement {i}"
                async with http.post(
                    f"{base}/api/v1/rooms/{room}/announcements",
                    headers={"Authorization": f"Bearer {host}"}, json={"text": text},
                ) as resp:  # fmt: skip
                    assert resp.status == 201
                    served_by = resp.headers["X-Served-By"]
                other_node = next(n for n in viewers if n != served_by)
                await viewers[other_node].wait_for(
                    "room.announcement", where=lambda d, t=text: d["text"] == t
                )
                delivered[served_by] = other_node
                if len(delivered) == 2:
                    break
            assert len(delivered) == 2, "every request landed on one worker"
    finally:
        for client in clients:
            await client.disconnect()
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
    assert proc.returncode == 0
