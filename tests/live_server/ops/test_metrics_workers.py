"""``--workers 2``: one scrape of /metrics is the sum over both workers.

Known traffic (nearest-store look-ups, viewer joins, Socket.IO connections) is spread over
both workers by the kernel; every scrape, whichever worker answers it, reports exactly that
traffic, with the process and GC families once per worker.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import socketio

from tests.live_server.ops.harness import fresh_session, running_server, scrape, value

NEAREST = "/api/v1/stores/nearest"
LOOKUPS = 40
VIEWERS = 4


async def test_scrape_adds_up_over_two_workers(tmp_path: Path) -> None:
    async with running_server(tmp_path, workers=2) as server:
        room = server.demo["room_id"]
        served: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        tokens: list[str] = []
        async with fresh_session() as http:
            for _ in range(LOOKUPS):
                async with http.get(
                    f"{server.base}{NEAREST}", params={"lat": "31.23", "lng": "121.47"}
                ) as resp:
                    assert resp.status == 200
                    served[resp.headers["X-Served-By"]] += 1
            for _ in range(VIEWERS):
                async with http.post(f"{server.base}/api/v1/rooms/{room}/viewers", json={}) as resp:
                    statuses[resp.status] += 1
                    tokens.append((await resp.json())["token"])
        assert len(served) == 2, f"the kernel sent every request to one worker: {served}"

        clients = []
        try:
            for token in tokens:
                client = socketio.AsyncClient(reconnection=False)
                await client.connect(server.base, namespaces=["/live"], transports=["websocket"],
                                     auth={"token": token}, wait_timeout=5)  # fmt: skip
                clients.append(client)
            join_route = "/api/v1/rooms/{room}/viewers"
            deadline = asyncio.get_running_loop().time() + 20
            while True:  # every scrape, whoever answers, has the same totals
                samples = await scrape(server.base)
                nearest = value(samples, "live_http_requests_total",
                                method="GET", route=NEAREST, status="200")  # fmt: skip
                connected = value(samples, "live_socketio_connected", namespace="/live")
                if nearest == LOOKUPS and connected == VIEWERS:
                    break
                assert asyncio.get_running_loop().time() < deadline, (nearest, connected)
            for _ in range(4):
                samples = await scrape(server.base)
                assert value(samples, "live_http_requests_total",
                             method="GET", route=NEAREST, status="200") == LOOKUPS  # fmt: skip
                assert value(samples, "live_http_request_duration_seconds_count",
                             method="GET", route=NEAREST) == LOOKUPS  # fmt: skip
                for status, count in statuses.items():
                    assert value(samples, "live_http_requests_total", method="POST",
                                 route=join_route, status=str(status)) == count  # fmt: skip
                assert value(samples, "live_socketio_connected", namespace="/live") == VIEWERS
                assert value(samples, "live_socketio_connects_total", namespace="/live") == VIEWERS
                # per worker: the standard families, labelled by worker
                for worker in ("0", "1"):
                    rss = value(samples, "process_resident_memory_bytes", worker=worker)
                    assert rss is not None and rss > 10e6
                    assert value(samples, "python_gc_collections_total",
                                 generation="0", worker=worker) is not None  # fmt: skip
                assert value(samples, "process_resident_memory_bytes") is None
                # once, not once per worker
                assert value(samples, "live_workers") == 2
                builds = [k for k in samples if k[0] == "live_build_info"]
                assert len(builds) == 1 and samples[builds[0]] == 1
                assert value(samples, "live_worker_restarts_total", reason="exited") == 0
                # cluster-wide, read from Redis once per scrape
                assert value(samples, "live_outbox_dead_letters", outbox="answers") == 0
                assert any(k[0] == "live_store_stream_length" for k in samples)
        finally:
            for client in clients:
                await client.disconnect()
