"""Notices to community groups: a Redis-stream outbox per group, with retries and dead
letters, and a delivery state per notice.

Every notice (a join gift, a store post, a preview, a follow-up, a group-only offer) is
queued once by its key (enqueue.lua: the outbox entry and its state in one step on the
group's tag ``{group:G}``). Delivery workers (one task per process, any number of
processes) share each group's stream through the consumer group ``deliveries``:

* new entries (``XREADGROUP >``) are POSTed, signed with the group's secret
  (``live_server.core.signing``), to the group's ``callback_url``; a 2xx settles the
  entry ``delivered`` (state and ``XACK`` in one step, settle.lua);
* a failure leaves it pending (state ``retrying``): after ``backoff(attempt)`` a worker
  ``XCLAIM``s it (one worker wins) and tries again; after ``max_attempts`` it moves to the
  group's dead-letter stream (state ``dead``), in the same step as the ack.

``X-Delivery-Id`` (the entry id) is stable across attempts: a receiver that saw a notice
twice (a worker died after the POST, before the ack) can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from redis.exceptions import RedisError

from live_server.core import keys
from live_server.core.redis_types import claimed, pending, streams
from live_server.core.signing import sign
from live_server.core.tasks import cancel_and_wait
from live_server.core.util import as_text, now_ms
from live_server.groups.models import GroupConfig
from live_server.groups.store import GroupStore, Settlement
from live_server.questions.models import Group

log = logging.getLogger(__name__)

BATCH = 50
GroupLookup = Callable[[str], Awaitable[Group | None]]


class GroupOutbox:
    """Background delivery of group notices (start/stop from the domain's cleanup context)."""

    def __init__(
        self, store: GroupStore, config: GroupConfig, group: GroupLookup,
        before_pass: Callable[[], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.redis = store.redis
        self.config = config
        self.group = group
        self.before_pass = before_pass
        """Run at the start of each pass: the service repairs join gifts whose notice was
        never queued (a crash between the decision and the queue)."""
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.delivered = 0
        self.failed = 0
        self.dead = 0
        self.settled = asyncio.Condition()
        """Notified after each settled attempt (tests wait on it, never sleep)."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ready: set[str] = set()
        self._inflight: set[str] = set()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            headers={"User-Agent": "live-companion-groups/1"},
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                log.warning("group outbox: %s; retrying", exc)
            except Exception:
                log.exception("group outbox pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_s)

    async def run_once(self) -> int:
        """One pass over every group with an outbox: new entries, then due retries.
        Answers the number of delivery attempts made."""
        if self.before_pass is not None:
            await self.before_pass()
        attempts = 0
        for group_id in await self.store.outbox_groups():
            stream = keys.group_outbox(group_id)
            if group_id not in self._ready:
                await self.store.ensure_outbox(group_id)
                self._ready.add(group_id)
            fresh = await self.redis.xreadgroup(
                keys.GROUP_OUTBOX_GROUP, self.consumer, {stream: ">"}, count=BATCH
            )
            jobs = []
            for _name, found in streams(fresh) or []:
                for entry_id, fields in found:
                    eid = as_text(entry_id)
                    self._inflight.add(eid)  # pending now: not a retry of this pass
                    jobs.append(self._deliver(group_id, eid, fields, attempt=1))
            jobs += await self._due_retries(group_id, stream)
            if jobs:
                await asyncio.gather(*jobs)
            attempts += len(jobs)
        return attempts

    async def _due_retries(self, group_id: str, stream: str) -> list[Any]:
        rows = pending(await self.redis.xpending_range(
            stream, keys.GROUP_OUTBOX_GROUP, min="-", max="+", count=BATCH,
            idle=self.config.backoff_ms(1),
        ))  # fmt: skip
        jobs = []
        for item in rows:
            entry_id = as_text(item["message_id"])
            attempts = int(item["times_delivered"])
            wait_ms = self.config.backoff_ms(attempts)
            if entry_id in self._inflight or int(item["time_since_delivered"]) < wait_ms:
                continue
            won = claimed(await self.redis.xclaim(
                stream, keys.GROUP_OUTBOX_GROUP, self.consumer, min_idle_time=wait_ms,
                message_ids=[entry_id],
            ))  # fmt: skip
            for claimed_id, fields in won:
                if fields:
                    self._inflight.add(entry_id)
                    jobs.append(
                        self._deliver(group_id, as_text(claimed_id), fields, attempt=attempts + 1)
                    )
        return jobs

    async def _deliver(
        self, group_id: str, entry_id: str, fields: dict[bytes, bytes], attempt: int
    ) -> None:
        self._inflight.add(entry_id)
        notice_key = as_text(fields.get(b"key", b""))
        kind = as_text(fields.get(b"type", b""))
        body = as_text(fields.get(b"body", b"{}"))
        try:
            error = await self._post(group_id, entry_id, kind, body)
            if error is None:
                outcome = Settlement.DELIVERED
                self.delivered += 1
            elif error == "skipped":
                outcome = Settlement.SKIPPED
            else:
                self.failed += 1
                log.info("group notice %s to %s attempt %d: %s", entry_id, group_id, attempt, error)
                dead = attempt >= self.config.max_attempts
                outcome = Settlement.DEAD if dead else Settlement.RETRYING
            await self.store.settle(
                group_id=group_id, entry_id=entry_id, notice_key=notice_key, outcome=outcome,
                attempts=attempt, error="" if error in (None, "skipped") else str(error),
                now_ms=now_ms(), kind=kind, body=body,
            )  # fmt: skip
            async with self.settled:
                self.dead += outcome is Settlement.DEAD
                self.settled.notify_all()
            if outcome is Settlement.DEAD:
                log.warning("group notice %s to %s dead after %d attempts: %s",
                            entry_id, group_id, attempt, error)  # fmt: skip
        except RedisError:
            log.exception("group notice %s: Redis error (stays pending)", entry_id)
        finally:
            self._inflight.discard(entry_id)

    async def _post(self, group_id: str, entry_id: str, kind: str, body: str) -> str | None:
        """POST one notice; None on 2xx, "skipped" with nowhere to send, else the error."""
        group = await self.group(group_id)
        if group is None or not group.callback_url:
            return "skipped"
        payload = orjson.dumps({**orjson.loads(body), "delivery_id": entry_id})
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json", "X-Timestamp": timestamp,
            "X-Signature": sign(group.secret, timestamp, payload), "X-Delivery-Id": entry_id,
            "X-Event": kind,
        }  # fmt: skip
        assert self._session is not None
        try:
            async with self._session.post(group.callback_url, data=payload, headers=headers) as r:
                await r.read()
                return None if 200 <= r.status < 300 else f"HTTP {r.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
