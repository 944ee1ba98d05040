"""The worker supervisor: a worker whose event loop is stuck is killed and replaced by the
watchdog, a worker that dies is restarted; each with its reason in the log (JSON) and in
``live_worker_restarts_total{reason}``, and the server keeps answering throughout."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tests.live_server.ops.harness import Server, running_server, scrape, served_by_all, value
from tests.live_server.test_serve import alive


async def _restarts(server: Server, reason: str, expected: int, within_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        got = value(await scrape(server.base), "live_worker_restarts_total", reason=reason)
        if got == expected:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{reason} restarts: {got}"
        await asyncio.sleep(0.2)


async def _gone(pid: int, within_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while alive(pid):
        assert asyncio.get_running_loop().time() < deadline, f"worker {pid} still there"
        await asyncio.sleep(0.1)


async def test_stuck_worker_is_replaced_and_dead_one_restarted(tmp_path: Path) -> None:
    # The watchdog's limit leaves room for a loaded 2-core test machine; the stopped
    # worker's loop is silent for good, so it is replaced all the same.
    async with running_server(tmp_path, workers=2, env={"LIVE_WORKER_WATCHDOG_S": "4"}) as server:
        first = {int(node.rsplit(":", 1)[1]) for node in await served_by_all(server, 2)}
        stuck, other = sorted(first)
        # SIGSTOP: the worker's event loop stops running (as in a CPU-bound call or a
        # deadlock) while the process stays alive and keeps its listening socket.
        os.kill(stuck, signal.SIGSTOP)
        await _gone(stuck)
        await _restarts(server, "stuck", 1)
        now = {int(node.rsplit(":", 1)[1]) for node in await served_by_all(server, 2)}
        assert stuck not in now and other in now, (first, now)

        os.kill(other, signal.SIGKILL)
        await _gone(other)
        await _restarts(server, "exited", 1)
        final = {int(node.rsplit(":", 1)[1]) for node in await served_by_all(server, 2)}
        assert not final & first
        samples = await scrape(server.base)
        assert value(samples, "live_worker_restarts_total", reason="stuck") == 1

        records = [
            r for r in server.log_records()
            if r["logger"] == "live_server.serve" and r.get("reason") in ("stuck", "exited")
        ]  # fmt: skip
        assert [(r["reason"], r["level"], r["logger"]) for r in records] == [
            ("stuck", "ERROR", "live_server.serve"),
            ("exited", "ERROR", "live_server.serve"),
        ]
        assert "event loop stuck" in records[0]["message"]
        assert "signal SIGKILL" in records[1]["message"]
    assert server.proc.returncode == 0


async def test_workers_end_with_a_killed_supervisor(tmp_path: Path) -> None:
    """SIGKILL the supervisor (it cannot stop its workers): the workers stop by themselves,
    and nothing keeps serving the port."""
    async with running_server(tmp_path, workers=2) as server:
        workers = {int(node.rsplit(":", 1)[1]) for node in await served_by_all(server, 2)}
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        for pid in workers:
            await _gone(pid, within_s=20)
