"""Consumer groups for integrations: handled entries are acked, a crashed member's
pending entries are claimed after the idle timeout, poison entries go to the dead-letter
stream, and the store-tail CLI prints JSON lines as a group member."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import orjson
import redis.asyncio as aioredis

from live_server.core import keys
from live_server.store_streams.groups import ConsumerConfig, StoreConsumer

from .conftest import Append


def member(redis: aioredis.Redis, name: str, **kw: Any) -> StoreConsumer:
    config = ConsumerConfig(group="pos", consumer=name, block_ms=50, start="0", **kw)
    return StoreConsumer(redis, "s_a", config)


async def test_member_handles_and_acks_in_order(aredis: aioredis.Redis, append: Append) -> None:
    ids = [await append("s_a", n) for n in range(5)]
    seen: list[dict[str, Any]] = []

    async def handle(entry: dict[str, Any]) -> None:
        seen.append(entry)

    pos = member(aredis, "till-1")
    assert await pos.ensure_group() is True
    assert await pos.ensure_group() is False
    result = await pos.poll(handle)
    assert result.handled == ids
    assert [e["n"] for e in seen] == list(range(5)) and seen[0]["type"] == "booking.created"
    assert (await aredis.xpending(keys.store_stream("s_a"), "pos"))["pending"] == 0


async def test_crashed_members_entries_are_claimed_after_idle(
    aredis: aioredis.Redis, append: Append
) -> None:
    ids = [await append("s_a", n) for n in range(3)]
    crashed = member(aredis, "till-1")
    await crashed.ensure_group()
    # till-1 reads and dies before acking
    await aredis.xreadgroup("pos", "till-1", {keys.store_stream("s_a"): ">"}, count=10)

    seen: list[str] = []

    async def handle(entry: dict[str, Any]) -> None:
        seen.append(entry["id"])

    patient = member(aredis, "till-2", claim_idle_ms=60_000)
    result = await patient.poll(handle, block=False)
    assert result.claimed == 0 and seen == []  # not idle long enough yet

    eager = member(aredis, "till-2", claim_idle_ms=0)
    result = await eager.poll(handle, block=False)
    assert result.claimed == 3 and seen == ids
    assert (await aredis.xpending(keys.store_stream("s_a"), "pos"))["pending"] == 0


async def test_poison_entry_is_dead_lettered_after_max_deliveries(
    aredis: aioredis.Redis, append: Append
) -> None:
    bad = await append("s_a", 0)
    good = await append("s_a", 1)
    attempts: dict[str, int] = {}

    async def handle(entry: dict[str, Any]) -> None:
        attempts[entry["id"]] = attempts.get(entry["id"], 0) + 1
        if entry["n"] == 0:
            raise RuntimeError("the POS rejects this one")

    pos = member(aredis, "till-1", claim_idle_ms=0, max_deliveries=3)
    await pos.ensure_group()
    first = await pos.poll(handle, block=False)
    assert first.failed == [bad] and first.handled == [good]
    dead: list[str] = []
    for _ in range(6):
        dead += (await pos.poll(handle, block=False)).dead
        if dead:
            break
    assert dead == [bad]
    assert attempts[bad] == 3 and attempts[good] == 1
    [(_dead_id, fields)] = await aredis.xrange(keys.store_dead_letter("s_a"))
    assert fields[b"orig_id"] == bad.encode() and fields[b"group"] == b"pos"
    assert fields[b"deliveries"] == b"4" and fields[b"type"] == b"booking.created"
    assert (await aredis.xpending(keys.store_stream("s_a"), "pos"))["pending"] == 0


async def test_store_tail_cli_prints_json_lines_and_acks(
    aredis: aioredis.Redis, append: Append, redis_url: str, tmp_path: Any
) -> None:
    ids = [await append("s_a", n) for n in range(4)]
    env = {**os.environ, "LIVE_SECRET": "x" * 40}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from live_server.cli import main; raise SystemExit(main())",
        "store-tail", "s_a", "--group", "crm", "--consumer", "c1", "--from-start",
        "--exit-when-idle", "--redis-url", redis_url, "--data-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert [line["id"] for line in lines] == ids
    assert lines[0]["type"] == "booking.created" and lines[0]["store_id"] == "s_a"
    assert (await aredis.xpending(keys.store_stream("s_a"), "crm"))["pending"] == 0
    info = {g["name"]: g for g in await aredis.xinfo_groups(keys.store_stream("s_a"))}
    assert info[b"crm"]["last-delivered-id"] == ids[-1].encode()
