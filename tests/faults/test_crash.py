"""Crash under load: nothing a client saw acknowledged is lost, and the counters reconcile.

(a) ``kill -9`` one worker of ``serve --workers 2``: the supervisor restarts it, the other
    keeps serving. (b) ``kill -9`` the whole server, its embedded Valkey included (AOF with
    ``--aof-fsync always``), then ``serve`` again on the same data dir.

After each: every acknowledged booking, claim and redemption is in Redis and (bookings,
redemptions) in its store's stream exactly once; seat counters equal the bookings recorded
and never exceed capacity; the campaign's stock counters equal its code records.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as sync_redis

from .harness import ServerProcess, check_invariants, prepare, run_load, wait_appended

pytestmark = pytest.mark.slow


async def _poll(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await asyncio.to_thread(predicate):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)  # polling interval, with a deadline


@pytest.mark.timeout(90)
async def test_kill_one_worker_under_load(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    await asyncio.to_thread(server.start)
    try:
        sc = await prepare(server.base, server.demo())
        first = await server.serving_nodes(2)
        before = server.worker_pids()
        assert len(before) == 2
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(server.base, sc, stop))
        await asyncio.sleep(1.5)  # let the load run before the crash (load duration)
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        # The supervisor notices and spawns a replacement; the load goes on meanwhile.
        await _poll(
            lambda: len(pids := server.worker_pids()) == 2 and victim not in pids,
            30,
            "the supervisor to restart the worker",
        )
        now_serving = await server.serving_nodes(2)
        assert now_serving != first, "the replacement worker never served"
        await asyncio.sleep(1.5)  # more load with the replacement serving (load duration)
        stop.set()
        acked = await load
        assert server.proc is not None and server.proc.poll() is None, "the supervisor died"

        r = sync_redis.Redis.from_url(server.redis_url())
        try:
            wait_appended(r, sc.campaign_id)
            numbers = check_invariants(r, (tmp_path / "secret").read_text().strip(), sc, acked)
        finally:
            r.close()
        print("worker kill:", numbers, dict(acked.outcomes))
        assert numbers["bookings_acked"] > 20 and numbers["claims_acked"] > 20
        assert numbers["redemptions_acked"] > 5
        # The surviving worker kept the port open. With SO_REUSEPORT the kernel drops the
        # connections still queued on the killed worker's socket (a handful, refused or
        # reset); clients retry those, and none of them was acknowledged. Bound it: a dead
        # port would fail every request of the load, not a few.
        cut = sum(n for outcome, n in acked.outcomes.items() if outcome.startswith("error "))
        assert cut <= 50, acked.outcomes
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.timeout(120)
async def test_kill_whole_server_and_redis_then_restart(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, fsync="always")
    await asyncio.to_thread(server.start)
    try:
        sc = await prepare(server.base, server.demo())
        stop = asyncio.Event()
        load = asyncio.create_task(run_load(server.base, sc, stop))
        await asyncio.sleep(2.5)  # load duration before the crash
        await asyncio.to_thread(server.kill_everything)
        stop.set()
        acked = await load

        restarted = ServerProcess(tmp_path, port=server.port, fsync="always")
        await asyncio.to_thread(restarted.start)
        try:
            r = sync_redis.Redis.from_url(restarted.redis_url())
            try:
                wait_appended(r, sc.campaign_id)
                numbers = check_invariants(r, (tmp_path / "secret").read_text().strip(), sc, acked)
            finally:
                r.close()
        finally:
            await asyncio.to_thread(restarted.stop)
        print("whole-server kill:", numbers, dict(acked.outcomes))
        assert numbers["bookings_acked"] > 20 and numbers["claims_acked"] > 20
    finally:
        await asyncio.to_thread(server.stop)
