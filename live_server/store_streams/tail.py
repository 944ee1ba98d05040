"""``live-server store-tail STORE``: read a store's stream as a consumer-group member,
print each entry as one JSON line on stdout, ack it once printed.

    live-server store-tail s_0001 --group pos --consumer till-1 --redis-url redis://...

Entries another member left pending for ``--claim-idle-ms`` are taken over; entries
delivered more than ``--max-deliveries`` times go to the store's dead-letter stream.
Without ``--redis-url``/``REDIS_URL`` it reads from the embedded Redis of the local
``live-server serve`` running on ``--data-dir`` (never stopping it), and says so on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from dataclasses import replace
from typing import Any

import orjson

from live_server.core.commands import command, common_options, redis_for_cli, settings_from
from live_server.core.redis_conn import connect_redis
from live_server.store_streams.groups import StoreConsumer
from live_server.store_streams.models import ConsumerConfig, default_consumer_name


def _configure(p: argparse.ArgumentParser) -> None:
    """read a store's stream as a consumer-group member, print JSON lines, ack"""
    p.add_argument("store", help="store id")
    p.add_argument("--group", default="integration", help="consumer group (default integration)")
    p.add_argument("--consumer", default=None, help="member name (default host-pid)")
    p.add_argument(
        "--claim-idle-ms", type=int, default=60_000,
        help="take over entries pending this long elsewhere (default 60000)",
    )  # fmt: skip
    p.add_argument("--max-deliveries", type=int, default=5,
                   help="dead-letter an entry delivered more often (default 5)")  # fmt: skip
    p.add_argument(
        "--from-start", action="store_true",
        help="a new group starts at the oldest kept entry (default: new entries)",
    )  # fmt: skip
    p.add_argument("--max-entries", type=int, default=None, help="exit after this many")
    p.add_argument("--exit-when-idle", action="store_true",
                   help="exit once nothing is left to read (batch export)")  # fmt: skip
    common_options(p)


@command("store-tail", _configure)
def store_tail(args: argparse.Namespace) -> int:
    config = ConsumerConfig(
        group=args.group,
        consumer=args.consumer or default_consumer_name(),
        claim_idle_ms=args.claim_idle_ms,
        max_deliveries=args.max_deliveries,
        start="0" if args.from_start else "$",
        block_ms=200 if args.exit_when_idle else 2000,
    )
    with redis_for_cli(settings_from(args), "store-tail", may_start=False) as settings:
        return asyncio.run(
            _tail(settings, args.store, config, args.max_entries, args.exit_when_idle)
        )


async def _tail(
    settings: Any,
    store_id: str,
    config: ConsumerConfig,
    max_entries: int | None,
    exit_when_idle: bool,
) -> int:
    redis = connect_redis(settings.with_changes(redis_timeout=config.block_ms / 1000 + 5))
    consumer = StoreConsumer(redis, store_id, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    printed = 0
    out = sys.stdout.buffer

    async def print_entry(entry: dict[str, Any]) -> None:
        nonlocal printed
        out.write(orjson.dumps(entry) + b"\n")
        out.flush()  # printed before acked: a crash re-delivers, never drops
        printed += 1

    try:
        created = await consumer.ensure_group()
        if created:
            print(f"created group {config.group!r} on store {store_id}", file=sys.stderr)
        while not stop.is_set():
            if max_entries is not None:
                # read no more than is left to print: nothing is taken and left pending
                consumer.config = replace(
                    config, batch=max(1, min(config.batch, max_entries - printed))
                )
            result = await consumer.poll(print_entry)
            if max_entries is not None and printed >= max_entries:
                break
            if exit_when_idle and not (result.handled or result.failed or result.dead):
                break
    except BrokenPipeError:
        return 0
    finally:
        await redis.aclose()
    return 0
