"""Running the server: the embedded Redis, the demo seed, one or N worker processes.

``--workers N`` starts N processes that each bind the same port with SO_REUSEPORT (the
kernel spreads connections); Socket.IO's Redis manager carries broadcasts between them.
SIGTERM/SIGINT: stop accepting, finish in-flight requests, close sockets, stop the
embedded Redis, exit 0. A worker that dies is restarted by the supervisor; an embedded
Redis that dies is restarted on the same port by a watchdog thread (bounded: see
:class:`~live_server.core.embedded_redis.RedisWatchdog`; past its limit the server shuts
down with exit code 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import sys
import time
from multiprocessing.process import BaseProcess
from typing import Any

from aiohttp import web

from live_server.core.embedded_redis import EmbeddedRedis, RedisWatchdog, raise_fd_limit
from live_server.settings import Settings

log = logging.getLogger(__name__)


class JsonishFormatter(logging.Formatter):
    """One line per record: time, level, logger, message, then structured context."""

    _skip = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message",
        "asctime",
    }

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in self._skip}
        if extra:
            base += " " + " ".join(f"{k}={v}" for k, v in extra.items())
        return base


GC_YOUNG_THRESHOLD = 10_000  # see _run_app


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonishFormatter("%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("engineio").setLevel(logging.WARNING)
    logging.getLogger("socketio").setLevel(logging.WARNING)


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - non-Linux dev machines
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _run_app(settings: Settings, ready: Any = None) -> None:
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
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("worker stopping: finishing in-flight requests")
    await runner.cleanup()
    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in left:  # asyncio.run cancels these next; one that ignores it hangs the exit
        log.warning("task still running after cleanup: %r", task)
    log.info("worker stopped")


def run_worker(settings: Settings, ready: Any = None) -> None:
    """Entry point of one worker process (also used in-process for ``--workers 1``)."""
    setup_logging(settings.log_level)
    _install_uvloop()
    asyncio.run(_run_app(settings, ready))


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
    print(f"  room id          {demo['room_id']}", file=out)
    print(f"  ops token        {demo['ops_token']}", file=out)
    print(f"  host token       {demo['host_token']}", file=out)
    first = demo["stores"][0]
    print(f"  staff token      {first['staff_token']}  ({first['id']}; all in demo.json)", file=out)
    for g in demo["groups"]:
        print(f"  group            {g['id']} -> {g['store_id']}  secret {g['secret']}", file=out)
    print("", file=out)
    out.flush()


class _Supervisor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx = multiprocessing.get_context("spawn")
        self.workers: dict[int, BaseProcess] = {}
        self.stopping = False

    def _spawn(self, slot: int) -> None:
        ready = self.ctx.Event()
        proc = self.ctx.Process(
            target=run_worker, args=(self.settings, ready), name=f"live-worker-{slot}"
        )
        proc.start()
        ready.wait(30)
        self.workers[slot] = proc

    def run(self) -> int:
        def on_signal(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        for slot in range(self.settings.workers):
            self._spawn(slot)
        log.info(
            "%d workers serving http://%s:%s",
            self.settings.workers, self.settings.host, self.settings.port,
        )  # fmt: skip
        while not self.stopping:
            time.sleep(0.2)
            for slot, proc in list(self.workers.items()):
                if not proc.is_alive() and not self.stopping:
                    log.error("worker %s exited with %s; restarting it", proc.name, proc.exitcode)
                    self._spawn(slot)
        for proc in self.workers.values():
            if proc.is_alive() and proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout + 5
        for proc in self.workers.values():
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                log.error("worker %s did not stop in time; killing it", proc.name)
                proc.kill()
                proc.join()
        return 0


def _shut_down_self() -> None:
    """Ask this process to shut down as on SIGTERM (the watchdog gave up on Redis)."""
    os.kill(os.getpid(), signal.SIGTERM)


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    setup_logging(settings.log_level)
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
