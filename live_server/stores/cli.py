"""``live-server stores import FILE``: the same all-or-nothing upsert as PUT /api/v1/stores.

Beside a running ``live-server serve`` on the same ``--data-dir`` it writes through that
server's embedded Redis (the workers pick the change up within a second); with no server
running it starts a temporary one on the data dir (see :func:`redis_for_cli`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

from live_server.core.commands import redis_for_cli
from live_server.core.redis_conn import connect_redis
from live_server.settings import Settings
from live_server.stores.service import StoreFileInvalid, parse_store_file
from live_server.stores.store import StoreRegistry


class RowProgress:
    """``rows done / total`` on stderr: one line redrawn in place on a terminal, otherwise
    a line at most every ``interval_s`` (and the last one), so a log stays short."""

    def __init__(self, what: str, stream: TextIO | None = None, interval_s: float = 1.0) -> None:
        self.what = what
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval_s = interval_s
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < (0.1 if self.tty else self.interval_s):
            return
        self._last = now
        percent = 100 * done / total if total else 100.0
        line = f"{self.what}: {done:,} / {total:,} rows ({percent:.0f}%)"
        if self.tty:
            print("\r" + line, end="\n" if done >= total else "", file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)


def import_stores(settings: Settings, path: Path) -> int:
    try:
        stores = parse_store_file(
            path.read_bytes(), path.name, progress=RowProgress(f"checking {path.name}")
        )
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

    print(f"writing {len(stores):,} stores in one atomic step", file=sys.stderr, flush=True)
    with redis_for_cli(settings, "stores import") as connected:
        version = asyncio.run(run(connected))
    print(f"imported {len(stores)} stores from {path} (registry version {version})")
    return 0
