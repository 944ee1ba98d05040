"""Answer notices back to the community groups: a Redis-stream outbox with retries.

When the host answers a question, transition.lua appends one entry per originating group
to the room's outbox stream (atomically with the status change). Delivery workers (one
task per process; any number of processes) share the stream through a consumer group:

* new entries: ``XREADGROUP ... >``; each is POSTed, signed with the group's secret, to
  the group's ``callback_url``; a 2xx acks it (``delivered``);
* a failure leaves the entry pending. Its delivery count is the attempt number; once it
  has been idle for ``backoff(attempt)`` (base * 2^(attempt-1), capped) a worker
  ``XCLAIM``s it (the claim is atomic: one worker wins) and tries again (``retried``);
* after ``webhook_max_attempts`` failed attempts the entry is copied to the dead-letter
  stream and acked (``dead``), in one MULTI.

A worker that crashes mid-delivery leaves its entries pending: another claims them after
the backoff. A receiver may therefore see a notice twice: ``X-Delivery-Id`` (the stream
entry id) is stable across attempts, for receivers to de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any

import aiohttp
import orjson
from redis.exceptions import RedisError, ResponseError

from live_server.core import keys
from live_server.core.metrics import Metrics
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import as_fields, claimed, entries, pending, streams
from live_server.core.tasks import cancel_and_wait
from live_server.core.util import as_text, now_ms
from live_server.questions.models import QuestionConfig, iso_ms, sign
from live_server.questions.store import QuestionStore

log = logging.getLogger(__name__)

BATCH = 50


class AnswerOutbox:
    """Background delivery of answer notices (start/stop from a cleanup context)."""

    def __init__(
        self, redis: RedisClient, store: QuestionStore, config: QuestionConfig, metrics: Metrics
    ) -> None:
        self.redis = redis
        self.store = store
        self.config = config
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.deliveries = metrics.counter(
            "live_question_webhooks_total",
            "Answer notices to groups: delivered, retried (an attempt failed, another follows "
            "after backoff), dead (given up), skipped (the group has no callback_url)",
            ("outcome",),
        )
        self.backlog = metrics.gauge(
            "live_question_webhooks_pending",
            "Answer notices waiting for (re)delivery",
            merge="max",  # every worker counts the same streams
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._groups_ready: set[str] = set()
        self._inflight: set[str] = set()
        self._stopping = False

    async def enqueued(self, room_id: str) -> None:
        """Follow-up after an answer: list the room for the workers (idempotent)."""
        await self.redis.sadd(keys.QUESTION_OUTBOX_ROOMS, room_id)
        self._wake.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.webhook_timeout_s),
            headers={"User-Agent": "live-companion-webhooks/1"},
        )
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish the pass in progress (cancelling mid-command would leak connections)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._task), self.config.webhook_timeout_s + 2
                )
            except TimeoutError:
                await cancel_and_wait(self._task)
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except RedisError as exc:  # Redis unavailable: keep the loop alive, retry next tick
                log.warning("answer outbox pass failed: %s", exc)
            except Exception:
                log.exception("answer outbox pass failed")
            if self._stopping:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.outbox_poll_s)

    async def run_once(self) -> None:
        """One pass over every room with an outbox: new entries, then due retries."""
        rooms = [as_text(r) for r in await self.redis.smembers(keys.QUESTION_OUTBOX_ROOMS)]
        pending_total = 0
        for room_id in rooms:
            stream = keys.question_outbox(room_id)
            await self._ensure_group(stream)
            fresh = await self.redis.xreadgroup(
                keys.QUESTION_OUTBOX_GROUP, self.consumer, {stream: ">"}, count=BATCH
            )
            jobs = [
                self._deliver(room_id, stream, entry_id, fields, attempt=1)
                for _name, found in streams(fresh) or []
                for entry_id, fields in found
            ]
            jobs += await self._due_retries(room_id, stream)
            if jobs:
                await asyncio.gather(*jobs)
            summary = await self.redis.xpending(stream, keys.QUESTION_OUTBOX_GROUP)
            pending = int(summary.get("pending", 0))
            pending_total += pending
            if not jobs and pending == 0 and await self._room_ended(room_id):
                # Nothing left to deliver for an ended room: drop it from the work list (an
                # answer after this re-lists it: the service lists before and after answering).
                await self.redis.srem(keys.QUESTION_OUTBOX_ROOMS, room_id)
                if await self._undelivered(stream):  # appended meanwhile: keep it listed
                    await self.redis.sadd(keys.QUESTION_OUTBOX_ROOMS, room_id)
        self.backlog.set(pending_total)

    async def _undelivered(self, stream: str) -> bool:
        last = entries(await self.redis.xrevrange(stream, count=1))
        if not last:
            return False
        for group in await self.redis.xinfo_groups(stream):
            if as_text(group["name"]) == keys.QUESTION_OUTBOX_GROUP:
                return as_text(group["last-delivered-id"]) != as_text(last[0][0])
        return True

    async def _room_ended(self, room_id: str) -> bool:
        return await self.redis.hget(keys.room(room_id), "status") in (None, b"ended")

    async def _ensure_group(self, stream: str) -> None:
        if stream in self._groups_ready:
            return
        try:
            await self.redis.xgroup_create(
                stream, keys.QUESTION_OUTBOX_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups_ready.add(stream)

    async def _due_retries(self, room_id: str, stream: str) -> list[Any]:
        rows = pending(await self.redis.xpending_range(
            stream, keys.QUESTION_OUTBOX_GROUP, min="-", max="+", count=BATCH,
            idle=int(self.config.backoff(1) * 1000),
        ))  # fmt: skip
        jobs = []
        for item in rows:
            entry_id = as_text(item["message_id"])
            attempts = int(item["times_delivered"])
            if entry_id in self._inflight:
                continue
            wait_ms = int(self.config.backoff(attempts) * 1000)
            if int(item["time_since_delivered"]) < wait_ms:
                continue
            # XCLAIM only succeeds if still idle that long: one worker wins each retry.
            won = claimed(await self.redis.xclaim(
                stream, keys.QUESTION_OUTBOX_GROUP, self.consumer, min_idle_time=wait_ms,
                message_ids=[entry_id],
            ))  # fmt: skip
            for claimed_id, fields in won:
                if fields:
                    jobs.append(
                        self._deliver(room_id, stream, claimed_id, fields, attempt=attempts + 1)
                    )
        return jobs

    async def _deliver(
        self,
        room_id: str,
        stream: str,
        entry_id: bytes | str,
        fields: dict[bytes, bytes],
        attempt: int,
    ) -> None:
        eid = as_text(entry_id)
        self._inflight.add(eid)
        try:
            error = await self._post(eid, {as_text(k): as_text(v) for k, v in fields.items()})
            if error is None:
                await self.redis.xack(stream, keys.QUESTION_OUTBOX_GROUP, eid)
                self.deliveries.labels("delivered").inc()
                return
            if error == "skipped":
                await self.redis.xack(stream, keys.QUESTION_OUTBOX_GROUP, eid)
                self.deliveries.labels("skipped").inc()
                return
            log.info("answer notice %s attempt %d failed: %s", eid, attempt, error)
            if attempt >= self.config.webhook_max_attempts:
                await self._dead(room_id, stream, eid, fields, attempt, error)
            else:
                self.deliveries.labels("retried").inc()  # stays pending: retried after backoff
        except RedisError:
            log.exception("answer notice %s: Redis error (stays pending)", eid)
        finally:
            self._inflight.discard(eid)

    async def _dead(
        self,
        room_id: str,
        stream: str,
        eid: str,
        fields: dict[bytes, bytes],
        attempts: int,
        error: str,
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                keys.question_outbox_dead(room_id),
                {
                    **as_fields(fields),
                    "entry_id": eid,
                    "attempts": attempts,
                    "last_error": error[:300],
                    "dead_ms": now_ms(),
                },
            )
            pipe.xack(stream, keys.QUESTION_OUTBOX_GROUP, eid)
            await pipe.execute()
        self.deliveries.labels("dead").inc()
        log.warning("answer notice %s to group %s dead after %d attempts: %s",
                    eid, as_text(fields.get(b"group_id", b"?")), attempts, error)  # fmt: skip

    async def _post(self, entry_id: str, entry: dict[str, str]) -> str | None:
        """POST one notice; None on 2xx, else why it failed ("skipped": nowhere to send)."""
        group = await self.store.group(entry.get("group_id", ""))
        if group is None or not group.callback_url:
            return "skipped"
        body = orjson.dumps(
            {
                "type": "question.answered",
                "delivery_id": entry_id,
                "question_id": entry.get("question_id"),
                "room_id": entry.get("room_id"),
                "group_id": group.id,
                "store_id": group.store_id,
                "text": entry.get("text"),
                "askers": int(entry.get("askers", "0") or 0),
                "groups": int(entry.get("groups", "0") or 0),
                "answered_at": iso_ms(int(entry.get("answered_ms", "0") or 0)),
            }
        )
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Timestamp": timestamp,
            "X-Signature": sign(group.secret, timestamp, body),
            "X-Delivery-Id": entry_id,
            "X-Event": "question.answered",
        }
        assert self._session is not None
        try:
            async with self._session.post(group.callback_url, data=body, headers=headers) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return None
                return f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
