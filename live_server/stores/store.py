"""The store registry: Redis is the record, every worker keeps an in-memory copy.

A change bumps ``{stores}:version``; each worker polls that counter (one cheap GET every
``poll_interval``) and reloads when it moves, so every worker sees a change within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

import msgpack
from redis.exceptions import RedisError

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import Fields
from live_server.core.tasks import cancel_and_wait
from live_server.stores.models import Store

log = logging.getLogger(__name__)


class StoreRegistry:
    """Stores by id, loaded from Redis and kept fresh."""

    def __init__(self, redis: RedisClient, *, poll_interval: float = 0.5) -> None:
        self.redis = redis
        self.poll_interval = poll_interval
        self.version = -1
        self.stores: dict[str, Store] = {}
        self._listeners: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    def get(self, store_id: str) -> Store | None:
        return self.stores.get(store_id)

    def all(self) -> list[Store]:
        return list(self.stores.values())

    async def upsert(self, stores: Iterable[Store]) -> int:
        """Write stores (all or nothing) and bump the version; returns the new version."""
        mapping: Fields = {s.id: msgpack.packb(s.model_dump(mode="json")) for s in stores}
        if not mapping:
            return self.version
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.STORES, mapping=mapping)
            pipe.incr(keys.STORES_VERSION)
            _, version = await pipe.execute()
        await self.reload()
        return int(version)

    async def remove(self, store_ids: Iterable[str]) -> int:
        ids = list(store_ids)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.STORES, *ids)
            pipe.incr(keys.STORES_VERSION)
            removed, _ = await pipe.execute()
        await self.reload()
        return int(removed)

    async def reload(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.STORES_VERSION)
            pipe.hgetall(keys.STORES)
            version_raw, raw = await pipe.execute()
        stores = {}
        for key, value in raw.items():
            try:
                store = Store.model_validate(msgpack.unpackb(value))
            except Exception:  # a bad record must not take the registry down
                log.exception("skipping unreadable store record %r", key)
                continue
            stores[store.id] = store
        self.stores = stores
        self.version = int(version_raw or 0)
        self._on_change()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every reload (indexes built on the registry, e.g.
        :class:`geo.index.NearestStores`); it is called once right away."""
        self._listeners.append(listener)
        listener()

    def _on_change(self) -> None:
        """Tell indexes built on top of the registry, then wake anyone awaiting ``changed``."""
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # one broken index must not stop the registry
                log.exception("store registry listener failed")
        self.changed.set()
        self.changed = asyncio.Event()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                raw = await self.redis.get(keys.STORES_VERSION)
                if int(raw or 0) != self.version:
                    await self.reload()
            except RedisError as exc:
                log.debug("store registry poll failed: %s", exc)

    async def start(self) -> None:
        with contextlib.suppress(RedisError):
            await self.reload()
        self._task = asyncio.create_task(self._poll(), name="store-registry-poll")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
