"""Fixtures for the store-stream tests: an asyncio Redis client and an entry writer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from live_server.core.redis_conn import RedisClient, connect_redis
from live_server.settings import Settings
from live_server.store_streams import events as store_events


@pytest.fixture
async def aredis(settings: Settings) -> AsyncIterator[RedisClient]:
    """The same kind of client the app uses (single node or cluster)."""
    client = connect_redis(settings)
    yield client
    await client.aclose()


Append = Callable[..., Awaitable[str]]


@pytest.fixture
def append(aredis: RedisClient) -> Append:
    """Append a store event the way the writers do; returns its stream id."""

    async def write(
        store_id: str, n: int = 0, event_type: str = "booking.created", **data: Any
    ) -> str:
        payload = {"booking_id": f"b{n}", "store_id": store_id, "n": n, **data}
        return await store_events.append(aredis, store_id, event_type, payload)

    return write
