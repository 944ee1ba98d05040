"""Store notices: what the store is told of its stream's entries (a new task, a reminder,
a reassignment, an overdue accept: guides.models.notice_for), POSTed signed to the store's
webhook (a WeCom or SMS gateway sits behind it).

The outbox is the store's own stream: the notices are read from it by the consumer group
``notices`` (:mod:`.groups`), so a notice exists exactly when its entry does.
A failed POST leaves the entry pending; after ``retry_after_ms`` a worker (any node) claims
it and tries again; after ``max_deliveries`` it moves to the store's dead-letter stream,
which ``GET /api/v1/stores/{store}/webhook`` shows with the pending count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from redis.exceptions import RedisError

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import entries
from live_server.core.signing import sign
from live_server.core.tasks import Periodic
from live_server.core.util import as_text
from live_server.store_streams.groups import ConsumerConfig, StoreConsumer
from live_server.store_streams.store import StreamStore

log = logging.getLogger(__name__)


class StoreNotices(Periodic):
    """Delivers the notices of every store with a webhook (one per process)."""

    name = "store-notices"

    def __init__(
        self, redis: RedisClient, store: StreamStore,
        notice_for: Callable[[dict[str, Any]], dict[str, Any] | None], *, poll_s: float = 1.0,
        timeout_s: float = 5.0, retry_after_ms: int = 30_000, max_deliveries: int = 5,
    ) -> None:  # fmt: skip
        super().__init__(poll_s)
        self.redis = redis
        self.store = store
        self.notice_for = notice_for
        self.timeout_s = timeout_s
        self.config = ConsumerConfig(
            group=keys.STORE_NOTICE_GROUP, claim_idle_ms=retry_after_ms,
            max_deliveries=max_deliveries, batch=50, start="$",
        )  # fmt: skip
        self.delivered = 0
        self.failed = 0
        self._consumers: dict[str, StoreConsumer] = {}
        self._session: aiohttp.ClientSession | None = None

    def consumer(self, store_id: str) -> StoreConsumer:
        consumer = self._consumers.get(store_id)
        if consumer is None:
            consumer = self._consumers[store_id] = StoreConsumer(self.redis, store_id, self.config)
        return consumer

    def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers={"User-Agent": "live-companion-notices/1"},
        )
        super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._session is not None:
            await self._session.close()

    async def run_once(self) -> None:
        for store_id in await self.store.webhook_stores():
            hook = await self.store.webhook(store_id)
            if hook is None:
                continue
            consumer = self.consumer(store_id)
            await consumer.ensure_group()

            async def deliver(entry: dict[str, Any], hook: tuple[str, str] = hook) -> None:
                await self._deliver(entry, *hook)

            await consumer.poll(deliver, block=False)

    async def _deliver(self, entry: dict[str, Any], url: str, secret: str) -> None:
        notice = self.notice_for(entry)
        if notice is None:
            return  # acked: not a notice
        body = orjson.dumps(notice)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json", "X-Timestamp": timestamp,
            "X-Signature": sign(secret, timestamp, body), "X-Delivery-Id": entry["id"],
            "X-Event": notice["type"],
        }  # fmt: skip
        assert self._session is not None
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if not 200 <= resp.status < 300:
                    raise RuntimeError(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
            self.failed += 1
            log.info("store notice %s to %s failed: %s", entry["id"], url, exc)
            raise  # stays pending: retried after retry_after_ms, dead after max_deliveries
        self.delivered += 1

    async def state(self, store_id: str) -> tuple[int, list[dict[str, Any]]]:
        """Notices waiting for (re)delivery, and the last dead letters of the group."""
        try:
            summary = await self.redis.xpending(
                keys.store_stream(store_id), keys.STORE_NOTICE_GROUP
            )
            waiting = int(summary.get("pending", 0)) if isinstance(summary, dict) else 0
        except RedisError:  # no group yet
            waiting = 0
        dead = []
        for entry_id, fields in entries(
            await self.redis.xrevrange(keys.store_dead_letter(store_id), count=50)
        ):
            f = {as_text(k): v for k, v in fields.items()}
            if as_text(f.get("group", b"")) != keys.STORE_NOTICE_GROUP:
                continue
            dead.append({
                "id": as_text(entry_id), "orig_id": as_text(f.get("orig_id", b"")),
                "type": as_text(f.get("type", b"")),
                "deliveries": int(as_text(f.get("deliveries", b"0")) or 0),
                "dead_at": int(as_text(f.get("dead_at", b"0")) or 0),
            })  # fmt: skip
        return waiting, dead[:20]
