"""``live-server stores import FILE``: the same all-or-nothing upsert as PUT /api/v1/stores."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from live_server.core.embedded_redis import EmbeddedRedis
from live_server.core.redis_conn import connect_redis
from live_server.settings import Settings
from live_server.stores.service import StoreFileInvalid, parse_store_file
from live_server.stores.store import StoreRegistry


def import_stores(settings: Settings, path: Path) -> int:
    try:
        stores = parse_store_file(path.read_bytes(), path.name)
    except StoreFileInvalid as exc:
        print(f"{path}: refused, nothing imported:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  row {problem['row']}: {problem['reason']}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{path}: {exc.strerror}", file=sys.stderr)
        return 1
    embedded = None
    if settings.redis_url is None:
        embedded = EmbeddedRedis(settings.data_dir / "redis", fsync=settings.aof_fsync)
        settings = settings.with_changes(redis_url=embedded.start())

    async def run() -> int:
        redis = connect_redis(settings)
        try:
            return await StoreRegistry(redis).upsert(stores)
        finally:
            await redis.aclose()

    try:
        version = asyncio.run(run())
    finally:
        if embedded:
            embedded.stop()
    print(f"imported {len(stores)} stores from {path} (registry version {version})")
    return 0
