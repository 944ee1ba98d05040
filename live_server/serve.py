"""Running the server: the embedded Redis, the demo seed, one or N worker processes.

``--workers N`` starts N processes that each bind the same port with SO_REUSEPORT (the
kernel spreads connections); Socket.IO's Redis manager carries broadcasts between them.
SIGTERM/SIGINT: stop accepting, finish in-flight requests, close sockets, stop the
embedded Redis, exit 0. A worker that dies, or whose event loop is stuck, is replaced by
the supervisor after a backoff (:class:`_Supervisor`); an embedded
Redis that dies is restarted on the same port by a watchdog thread (bounded: see
:class:`~live_server.core.embedded_redis.RedisWatchdog`; past its limit the server shuts
down with exit code 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from live_server.core.embedded_redis import EmbeddedRedis, RedisWatchdog, raise_fd_limit
from live_server.core.logs import setup_logging
from live_server.settings import Settings
from live_server.web.ops import SUPERVISOR_STATE, WORKER_RESTART_REASONS

log = logging.getLogger(__name__)


GC_YOUNG_THRESHOLD = 10_000  # see _run_app


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - non-Linux dev machines
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


HEARTBEAT_S = 0.5
"""How often a worker's event loop stamps its heartbeat for the supervisor's watchdog."""


async def _heartbeat(beat: Any) -> None:
    """Stamp ``beat`` (a shared double) with the monotonic clock while the loop runs: a loop
    blocked by a CPU-bound call or a deadlock stops stamping, and the supervisor sees it."""
    while True:
        beat.value = time.monotonic()
        await asyncio.sleep(HEARTBEAT_S)


async def _run_app(settings: Settings, ready: Any = None, beat: Any = None) -> None:
    from live_server.app import create_app

    app = create_app(settings)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=settings.shutdown_timeout
    )
    await runner.setup()
    site = web.TCPSite(
        runner, settings.host, settings.port, reuse_port=settings.workers > 1, backlog=4096
    )
    await site.start()
    # Everything built so far (app, routes, schemas, demo data) lives as long as the
    # process: move it out of the collector's view, so a full collection under load scans
    # only what requests allocate (measured: 50-80 ms pauses every ~2 s at a flash claim
    # over ~95k startup objects otherwise).
    gc.freeze()
    # A young collection every 700 allocations (CPython's default) runs ~1,000 times a
    # second at a flash claim, so the objects of requests in flight (alive 20-50 ms) survive
    # two of them and are promoted to the old generation; those promotions trigger a full
    # collection every second or two, 15-30 ms each, with every request of the worker
    # waiting (collected: nothing). With 10,000, in-flight objects die young: at 256 claim
    # clients the full passes fell from ~6 to ~1 per 10 s and p99 from 47 to ~36 ms
    # (bench/RESULTS.md, claims). A young pass over 10,000 objects stays ~1-2 ms; with
    # thousands of sockets open the GcPacer (fanout.py) goes back to 700 (broadcast p99).
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker listening on http://%s:%s", settings.host, settings.port)
    heartbeat = loop.create_task(_heartbeat(beat)) if beat is not None else None
    if ready is not None:
        ready.set()
    await stop.wait()
    if heartbeat is not None:
        heartbeat.cancel()
    log.info("worker stopping: finishing in-flight requests")
    await runner.cleanup()
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in left:  # asyncio.run cancels these next; one that ignores it hangs the exit
        log.warning("task still running after cleanup: %r", task)
    log.info("worker stopped")


_PR_SET_PDEATHSIG = 1


def _die_with_supervisor(supervisor_pid: int) -> None:
    """A supervised worker ends when its supervisor does, even one killed with SIGKILL (it
    could not stop its workers): the kernel sends SIGTERM (a graceful stop) when the parent
    goes. An orphan would keep the port and serve on with nobody to restart or stop it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:  # it went before the prctl: nothing would signal
        raise SystemExit(0)


def run_worker(
    settings: Settings, ready: Any = None, beat: Any = None, supervisor_pid: int = 0
) -> None:
    """Entry point of one worker process (also used in-process for ``--workers 1``)."""
    if supervisor_pid:
        _die_with_supervisor(supervisor_pid)
    setup_logging(settings.log_level, settings.log_format)
    _install_uvloop()
    asyncio.run(_run_app(settings, ready, beat))


async def _seed_demo(settings: Settings) -> dict[str, Any]:
    from live_server.core.redis_conn import connect_redis
    from live_server.demo import seed_demo, write_demo_file

    redis = connect_redis(settings)
    try:
        demo = await seed_demo(settings, redis)
    finally:
        await redis.aclose()
    write_demo_file(settings.data_dir, demo)
    return demo


def print_demo(demo: dict[str, Any], settings: Settings) -> None:
    out = sys.stdout
    print("", file=out)
    print("Live companion server: demo data ready", file=out)
    print(f"  demo.json        {settings.data_dir / 'demo.json'}", file=out)
    print(f"  live room page   {demo['pages']['room']}", file=out)
    print(f"  host console     {demo['pages']['host']}", file=out)
    print(f"  store dashboard  {demo['pages']['store']}", file=out)
    for label, page in (
        ("guide's phone", "guide"),
        ("leaderboard", "leaderboard"),
        ("group report", "report"),
    ):
        if demo["pages"].get(page):
            print(f"  {label:<16} {demo['pages'][page]}", file=out)
    print(f"  room id          {demo['room_id']}", file=out)
    print(f"  ops token        {demo['ops_token']}", file=out)
    print(f"  host token       {demo['host_token']}", file=out)
    first = demo["stores"][0]
    print(f"  staff token      {first['staff_token']}  ({first['id']}; all in demo.json)", file=out)
    for g in demo["groups"]:
        print(f"  group            {g['id']} -> {g['store_id']}  secret {g['secret']}", file=out)
    print("", file=out)
    out.flush()


RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
"""Delay before restarting a worker, by how many times its slot failed in a row."""
HEALTHY_AFTER_S = 60.0
"""A worker that served this long before failing starts its slot's backoff afresh."""
READY_TIMEOUT_S = 60.0


@dataclass
class _Worker:
    """One slot of the supervisor: its process, heartbeat and restart history."""

    slot: int
    proc: BaseProcess | None = None
    ready: Any = None  # multiprocessing Event: set once the worker listens
    beat: Any = None  # multiprocessing double: the worker loop's last monotonic stamp
    started_at: float = 0.0
    failures: int = 0  # in a row, for the backoff
    restart_at: float | None = None  # set while waiting to restart


class _Supervisor:
    """Runs ``--workers N`` processes on one port and keeps them serving.

    A worker that exits is restarted after a backoff (0.5 s doubling to 30 s for a slot
    that keeps failing; reset once a worker has served a minute). A worker whose event
    loop has not stamped its heartbeat for ``worker_watchdog_s`` (stuck in a CPU-bound
    call, a deadlock) is killed and replaced the same way. Each replacement is logged with
    its reason and counted in ``live_worker_restarts_total{reason}`` (the state file in the
    peer dir, read by whichever worker answers a scrape).
    """

    def __init__(self, settings: Settings) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.peer_dir = Path(tempfile.mkdtemp(prefix="live-workers-"))
        self.settings = settings.with_changes(peer_dir=self.peer_dir)
        self.workers = [_Worker(slot) for slot in range(settings.workers)]
        self.restarts = {reason: 0 for reason in WORKER_RESTART_REASONS}
        self.stopping = False

    def _write_state(self) -> None:
        state = {"workers": len(self.workers), "restarts": self.restarts}
        tmp = self.peer_dir / (SUPERVISOR_STATE + ".tmp")
        tmp.write_bytes(orjson.dumps(state))
        tmp.replace(self.peer_dir / SUPERVISOR_STATE)

    def _spawn(self, worker: _Worker) -> None:
        worker.ready = self.ctx.Event()
        worker.beat = self.ctx.Value("d", time.monotonic(), lock=False)
        settings = self.settings.with_changes(worker_id=str(worker.slot))
        proc = self.ctx.Process(
            target=run_worker, args=(settings, worker.ready, worker.beat, os.getpid()),
            name=f"live-worker-{worker.slot}",
        )  # fmt: skip
        proc.start()
        worker.proc, worker.started_at, worker.restart_at = proc, time.monotonic(), None

    def _replace(self, worker: _Worker, reason: str, detail: str) -> None:
        """Count the failure and schedule the slot's restart after its backoff."""
        now = time.monotonic()
        if now - worker.started_at >= HEALTHY_AFTER_S:
            worker.failures = 0
        delay = RESTART_BACKOFF_S[min(worker.failures, len(RESTART_BACKOFF_S) - 1)]
        worker.failures += 1
        worker.restart_at = now + delay
        self.restarts[reason] += 1
        self._write_state()
        name = worker.proc.name if worker.proc is not None else f"live-worker-{worker.slot}"
        log.error(
            "worker %s %s; restarting it in %.1f s", name, detail, delay,
            extra={"worker": worker.slot, "reason": reason, "restart_in_s": delay},
        )  # fmt: skip

    def _check(self, worker: _Worker) -> None:
        now = time.monotonic()
        if worker.restart_at is not None:
            if now >= worker.restart_at:
                self._spawn(worker)
            return
        proc = worker.proc
        assert proc is not None
        if not proc.is_alive():
            self._replace(worker, "exited", f"exited with {_exit_text(proc.exitcode)}")
            return
        if not worker.ready.is_set():
            if now - worker.started_at > READY_TIMEOUT_S:
                self._kill(proc)
                self._replace(worker, "stuck", f"did not start in {READY_TIMEOUT_S:.0f} s")
            return
        silent, limit = now - worker.beat.value, self.settings.worker_watchdog_s
        if silent > limit:
            self._kill(proc)
            detail = f"event loop stuck for {silent:.1f} s (watchdog {limit:g} s); killed it"
            self._replace(worker, "stuck", detail)

    @staticmethod
    def _kill(proc: BaseProcess) -> None:
        proc.kill()  # a stuck loop would never run a SIGTERM handler
        proc.join(5)

    def run(self) -> int:
        def on_signal(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self._write_state()
        try:
            for worker in self.workers:  # one after the other: each loads the same data
                self._spawn(worker)
                worker.ready.wait(READY_TIMEOUT_S)
            log.info(
                "%d workers serving http://%s:%s",
                len(self.workers), self.settings.host, self.settings.port,
            )  # fmt: skip
            while not self.stopping:
                time.sleep(0.2)
                for worker in self.workers:
                    if not self.stopping:
                        self._check(worker)
            self._stop_all()
        finally:
            shutil.rmtree(self.peer_dir, ignore_errors=True)
        return 0

    def _stop_all(self) -> None:
        running = [w.proc for w in self.workers if w.proc is not None and w.restart_at is None]
        for proc in running:
            if proc.is_alive() and proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout + 5
        for proc in running:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                log.error("worker %s did not stop in time; killing it", proc.name)
                proc.kill()
                proc.join()


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _shut_down_self() -> None:
    """Ask this process to shut down as on SIGTERM (the watchdog gave up on Redis)."""
    os.kill(os.getpid(), signal.SIGTERM)


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    setup_logging(settings.log_level, settings.log_format)
    raise_fd_limit()  # one socket per viewer: the default 1024 is far too few
    embedded: EmbeddedRedis | None = None
    watchdog: RedisWatchdog | None = None
    if settings.redis_url is None:
        embedded = EmbeddedRedis(settings.data_dir / "redis", fsync=settings.aof_fsync)
        settings = settings.with_changes(redis_url=embedded.start())
        watchdog = RedisWatchdog(embedded, on_give_up=_shut_down_self)
        watchdog.start()
    try:
        if settings.demo:
            _install_uvloop()
            demo = asyncio.run(_seed_demo(settings))
            print_demo(demo, settings)
        if settings.workers == 1:
            run_worker(settings)
            code = 0
        else:
            code = _Supervisor(settings).run()
        return 1 if watchdog is not None and watchdog.gave_up else code
    finally:
        # Redis first, then the watchdog: a Valkey the watchdog restarted gets SIGTERM
        # when the watchdog's thread ends (the parent-death signal follows the thread).
        if embedded is not None:
            embedded.stop()
            log.info("embedded Redis stopped")
        if watchdog is not None:
            watchdog.stop()
            watchdog.join(20)
