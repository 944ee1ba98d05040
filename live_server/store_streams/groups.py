"""Integrations (POS, CRM) read a store's stream as members of a consumer group.

A :class:`StoreConsumer` is one member: each :meth:`poll` first claims entries another
member left pending for longer than ``claim_idle_ms`` (``XAUTOCLAIM``: that member
crashed or hung), then reads new ones (``XREADGROUP >``), hands each to the handler and
``XACK``s it once the handler returned. An entry whose handler raised stays pending and
comes back after the idle timeout; one delivered more than ``max_deliveries`` times is
moved to the dead-letter stream (``keys.store_dead_letter``) and acked, in one Lua call,
so a poison entry cannot block the group forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.exceptions import ResponseError

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import autoclaimed, pending, streams
from live_server.core.util import as_text
from live_server.store_streams.events import decode_entry

log = logging.getLogger(__name__)

_DEAD_LETTER = (Path(__file__).parent / "dead_letter.lua").read_text()

Handler = Callable[[dict[str, Any]], Awaitable[None]]


def default_consumer_name() -> str:
    """Unique per process, stable for its life: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    """How one group member behaves."""

    group: str = "integration"
    consumer: str = field(default_factory=default_consumer_name)
    claim_idle_ms: int = 60_000
    """a pending entry idle this long is taken over from its (crashed) consumer"""
    max_deliveries: int = 5
    """delivered more often than this: dead-lettered instead of handled again"""
    batch: int = 100
    block_ms: int = 2000
    start: str = "$"
    """where a newly created group starts: ``$`` new entries only, ``0`` every entry kept"""


@dataclass(slots=True)
class PollResult:
    handled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    claimed: int = 0


class StoreConsumer:
    """One member of a consumer group on one store's stream."""

    def __init__(self, redis: RedisClient, store_id: str, config: ConsumerConfig) -> None:
        self.redis = redis
        self.store_id = store_id
        self.config = config
        self.stream = keys.store_stream(store_id)
        self.dead_letter_stream = keys.store_dead_letter(store_id)
        self._dead_letter = redis.register_script(_DEAD_LETTER)
        self._claim_cursor = "0-0"

    async def ensure_group(self) -> bool:
        """Create the group (and the stream) if missing; True if it was created."""
        try:
            await self.redis.xgroup_create(
                self.stream, self.config.group, id=self.config.start, mkstream=True
            )
            return True
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return False
            raise

    async def poll(self, handler: Handler, *, block: bool = True) -> PollResult:
        """One round: claim stale pending entries, read new ones, handle and ack them."""
        result = PollResult()
        claimed = await self._claim()
        result.claimed = len(claimed)
        if claimed:
            counts = await self._delivery_counts([entry_id for entry_id, _ in claimed])
            for entry_id, fields in claimed:
                deliveries = counts.get(entry_id, self.config.max_deliveries + 1)
                if deliveries > self.config.max_deliveries:
                    await self._give_up(entry_id, deliveries, result)
                else:
                    await self._handle(entry_id, fields, handler, result)
        reply = await self.redis.xreadgroup(
            self.config.group, self.config.consumer, {self.stream: ">"},
            count=self.config.batch,
            block=self.config.block_ms if block and not claimed else None,
        )  # fmt: skip
        for _stream, entries in streams(reply) or ():
            for raw_id, fields in entries:
                await self._handle(as_text(raw_id), fields, handler, result)
        return result

    async def run(self, handler: Handler, stop: asyncio.Event | None = None) -> None:
        """Poll until ``stop`` is set; Redis errors are retried with backoff."""
        await self.ensure_group()
        backoff = 0.2
        while stop is None or not stop.is_set():
            try:
                await self.poll(handler)
                backoff = 0.2
            except (ConnectionError, OSError, TimeoutError) as exc:
                log.warning(
                    "store %s group %s: %s; retrying", self.store_id, self.config.group, exc
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _claim(self) -> list[tuple[str, dict[bytes, bytes]]]:
        reply = await self.redis.xautoclaim(
            self.stream, self.config.group, self.config.consumer,
            min_idle_time=self.config.claim_idle_ms, start_id=self._claim_cursor,
            count=self.config.batch,
        )  # fmt: skip
        # [next cursor, entries, ids deleted while pending (Redis >= 7)]
        cursor_and_entries = autoclaimed(reply)
        self._claim_cursor = as_text(cursor_and_entries[0])
        return [
            (as_text(raw_id), fields)
            for raw_id, fields in cursor_and_entries[1]
            if fields is not None
        ]

    async def _delivery_counts(self, entry_ids: list[str]) -> dict[str, int]:
        rows = pending(await self.redis.xpending_range(
            self.stream, self.config.group, min=entry_ids[0], max=entry_ids[-1],
            count=len(entry_ids) + self.config.batch, consumername=self.config.consumer,
        ))  # fmt: skip
        return {as_text(row["message_id"]): int(row["times_delivered"]) for row in rows}

    async def _handle(
        self, entry_id: str, fields: dict[bytes, bytes], handler: Handler, result: PollResult
    ) -> None:
        try:
            entry = decode_entry(entry_id, fields)
        except Exception:  # a malformed entry can never succeed: straight to dead letters
            log.exception("store %s: undecodable entry %s", self.store_id, entry_id)
            await self._give_up(entry_id, 1, result)
            return
        try:
            await handler(entry)
        except Exception:
            # Left pending: after claim_idle_ms a member (this one too) retries it.
            log.exception("store %s group %s: handler failed on %s",
                          self.store_id, self.config.group, entry_id)  # fmt: skip
            result.failed.append(entry_id)
            return
        await self.redis.xack(self.stream, self.config.group, entry_id)
        result.handled.append(entry_id)

    async def _give_up(self, entry_id: str, deliveries: int, result: PollResult) -> None:
        moved = await self._dead_letter(
            keys=[self.stream, self.dead_letter_stream],
            args=[self.config.group, entry_id, self.config.consumer, deliveries,
                  int(time.time() * 1000)],
        )  # fmt: skip
        if moved:
            log.warning("store %s group %s: %s dead-lettered after %d deliveries",
                        self.store_id, self.config.group, entry_id, deliveries)  # fmt: skip
            result.dead.append(entry_id)
