"""``live-server stores import FILE``: the same all-or-nothing upsert as PUT /api/v1/stores.

Beside a running ``live-server serve`` on the same ``--data-dir`` it writes through that
server's embedded Redis (the workers pick the change up within a second); with no server
running it starts a temporary one on the data dir (see :func:`redis_for_cli`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from live_server.core.commands import redis_for_cli
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

    async def run(settings: Settings) -> int:
        redis = connect_redis(settings)
        try:
            return await StoreRegistry(redis).upsert(stores)
        finally:
            await redis.aclose()

    with redis_for_cli(settings, "stores import") as connected:
        version = asyncio.run(run(connected))
    print(f"imported {len(stores)} stores from {path} (registry version {version})")
    return 0
