"""Retention: trimming by age never drops an entry a consumer group still needs."""

from __future__ import annotations

import redis.asyncio as aioredis

from live_server.core import keys
from live_server.store_streams.ids import StreamId
from live_server.store_streams.service import StreamRetention
from live_server.store_streams.store import StreamStore

from .conftest import Append


def retention(redis: aioredis.Redis) -> StreamRetention:
    return StreamRetention(StreamStore(redis), lambda: ["s_a"], max_age_ms=0, approximate=False)


async def test_trims_everything_old_when_no_group_needs_it(
    aredis: aioredis.Redis, append: Append
) -> None:
    ids = [await append("s_a", n) for n in range(10)]
    now = StreamId.parse(ids[-1]).ms + 1
    result = await retention(aredis).trim("s_a", now_ms=now)
    assert result.trimmed == 10
    assert await aredis.xlen(keys.store_stream("s_a")) == 0


async def test_never_drops_pending_or_undelivered_entries(
    aredis: aioredis.Redis, append: Append
) -> None:
    stream = keys.store_stream("s_a")
    ids = [await append("s_a", n) for n in range(10)]
    await aredis.xgroup_create(stream, "pos", id="0")
    await aredis.xgroup_create(stream, "crm", id="0")
    # pos: read 6, acked the first 4 -> entries 4 and 5 are pending
    await aredis.xreadgroup("pos", "p1", {stream: ">"}, count=6)
    await aredis.xack(stream, "pos", *ids[:4])
    # crm: read and acked 8 -> entries 8, 9 not delivered yet
    await aredis.xreadgroup("crm", "c1", {stream: ">"}, count=8)
    await aredis.xack(stream, "crm", *ids[:8])

    now = StreamId.parse(ids[-1]).ms + 1
    result = await retention(aredis).trim("s_a", now_ms=now)
    assert result.min_id == ids[4] and result.trimmed == 4
    kept = [e[0].decode() for e in await aredis.xrange(stream)]
    assert kept == ids[4:]

    # pos acks everything: now crm's undelivered entries are the floor
    await aredis.xreadgroup("pos", "p1", {stream: ">"}, count=10)
    await aredis.xack(stream, "pos", *ids)
    await retention(aredis).trim("s_a", now_ms=now)
    kept = [e[0].decode() for e in await aredis.xrange(stream)]
    assert kept == ids[8:]


async def test_age_keeps_recent_entries(aredis: aioredis.Redis, append: Append) -> None:
    ids = [await append("s_a", n) for n in range(3)]
    keeper = StreamRetention(
        StreamStore(aredis), lambda: ["s_a"], max_age_ms=3_600_000, approximate=False
    )
    result = await keeper.trim("s_a")
    assert result.trimmed == 0
    assert await aredis.xlen(keys.store_stream("s_a")) == len(ids)
    assert await keeper.trim_all() == 0
