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
