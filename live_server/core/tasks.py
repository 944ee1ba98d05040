"""Stopping background tasks without ever hanging shutdown."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def cancel_and_wait(
    task: asyncio.Task[object] | None,
    timeout: float = 2.0,  # noqa: ASYNC109  a bound that logs and returns, never raises
) -> None:
    """Cancel a background task and wait for it, bounded.

    A cancel can be swallowed (Python 3.11's ``wait_for`` loses a cancellation that races
    with completion, and a ``while True`` loop then goes on), so the cancel is repeated
    until the task ends or ``timeout`` passes; shutdown never waits longer than that.
    """
    if task is None or task.done():
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("background task %s did not stop within %.1fs", task.get_name(), timeout)
            return
        await asyncio.wait([task], timeout=min(0.2, remaining))


def cancel_requested() -> bool:
    """True when the running task has been asked to stop, even if a library swallowed the
    CancelledError (redis-py's blocking reads can turn it into another error or a retry):
    a retrying ``while True`` loop checks this so a cancel is never lost for good."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Periodic:
    """A background pass run every ``interval_s`` seconds until stopped (task timers, store
    notices, group timers): a Redis error is logged as a warning and tried again on the
    next tick, any other error is logged with its traceback, a cancel stops it. Subclasses
    define :meth:`run_once` (which tests call directly, with a clock they choose)."""

    name = "periodic"

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        from redis.exceptions import RedisError

        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                log.warning("%s: %s; retrying", self.name, exc)
            except Exception:
                log.exception("%s pass failed", self.name)
            await asyncio.sleep(self.interval_s)
