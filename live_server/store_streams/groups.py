"""Integrations (POS, CRM) read a store's stream as members of a consumer group.

A :class:`StoreConsumer` is one member: each :meth:`poll` first claims entries another
member left pending for longer than ``claim_idle_ms`` (``XAUTOCLAIM``: that member
crashed or hung), then reads new ones (``XREADGROUP >``), hands each to the handler and
``XACK``s it once the handler returned. An entry whose handler raised stays pending and
comes back after the idle timeout; one delivered more than ``max_deliveries`` times is
moved to the dead-letter stream (``keys.store_dead_letter``) and acked, in one Lua call,
so a poison entry cannot block the group forever (``service.dead_letter_due``).
"""

from __future__ import annotations

import asyncio
import logging

from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import Hash
from live_server.core.util import as_text, now_ms
from live_server.store_streams.events import decode_entry
from live_server.store_streams.models import (
    ConsumerConfig,
    Handler,
    PollResult,
    default_consumer_name,
)
from live_server.store_streams.service import dead_letter_due
from live_server.store_streams.store import DeadLetterCall, StreamStore

__all__ = [
    "ConsumerConfig",
    "Handler",
    "PollResult",
    "StoreConsumer",
    "default_consumer_name",
]

log = logging.getLogger(__name__)


class StoreConsumer:
    """One member of a consumer group on one store's stream."""

    def __init__(self, redis: RedisClient, store_id: str, config: ConsumerConfig) -> None:
        self.store = StreamStore(redis)
        self.store_id = store_id
        self.config = config
        self._claim_cursor = "0-0"

    async def ensure_group(self) -> bool:
        """Create the group (and the stream) if missing; True if it was created."""
        return await self.store.create_group(self.store_id, self.config.group, self.config.start)

    async def poll(self, handler: Handler, *, block: bool = True) -> PollResult:
        """One round: claim stale pending entries, read new ones, handle and ack them."""
        result = PollResult()
        claimed = await self._claim()
        result.claimed = len(claimed)
        if claimed:
            counts = await self._delivery_counts([entry_id for entry_id, _ in claimed])
            for entry_id, fields in claimed:
                deliveries = counts.get(entry_id, self.config.max_deliveries + 1)
                if dead_letter_due(deliveries, self.config):
                    await self._give_up(entry_id, deliveries, result)
                else:
                    await self._handle(entry_id, fields, handler, result)
        fresh = await self.store.read_group(
            self.store_id, self.config.group, self.config.consumer, self.config.batch,
            self.config.block_ms if block and not claimed else None,
        )  # fmt: skip
        for raw_id, fields in fresh:
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

    async def _claim(self) -> list[tuple[str, Hash]]:
        self._claim_cursor, found = await self.store.claim_idle(
            self.store_id, self.config.group, self.config.consumer,
            min_idle_ms=self.config.claim_idle_ms, cursor=self._claim_cursor,
            count=self.config.batch,
        )  # fmt: skip
        return [(as_text(raw_id), fields) for raw_id, fields in found]

    async def _delivery_counts(self, entry_ids: list[str]) -> dict[str, int]:
        return await self.store.delivery_counts(
            self.store_id, self.config.group, self.config.consumer, entry_ids,
            count=len(entry_ids) + self.config.batch,
        )  # fmt: skip

    async def _handle(
        self, entry_id: str, fields: Hash, handler: Handler, result: PollResult
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
        await self.store.ack_entry(self.store_id, self.config.group, entry_id)
        result.handled.append(entry_id)

    async def _give_up(self, entry_id: str, deliveries: int, result: PollResult) -> None:
        moved = await self.store.dead_letter(DeadLetterCall(
            store_id=self.store_id, group=self.config.group, entry_id=entry_id,
            consumer=self.config.consumer, deliveries=deliveries, now_ms=now_ms(),
        ))  # fmt: skip
        if moved:
            log.warning("store %s group %s: %s dead-lettered after %d deliveries",
                        self.store_id, self.config.group, entry_id, deliveries)  # fmt: skip
            result.dead.append(entry_id)
