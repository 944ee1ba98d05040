"""The auto-pipelined connection of the claim hot path, against the real embedded Valkey:
replies reach the right caller under concurrency, scripts reload after a flush, a dead
or stalled connection fails fast and the next command reconnects."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live_server.core.fastredis import FastRedis, FastScript, connect_fast


@pytest.fixture
async def fast(redis_url: str, redis_cluster: bool, clean_redis: Any) -> AsyncIterator[FastRedis]:
    if redis_cluster:
        pytest.skip("FastRedis speaks to one node; on a cluster the claim keeps redis-py")
    client = connect_fast(redis_url, timeout=2.0)
    assert client is not None
    yield client
    await client.aclose()


async def test_concurrent_callers_each_get_their_own_reply(
    fast: FastRedis, clean_redis: Any
) -> None:
    n = 2000
    await asyncio.gather(*(fast.execute("SET", f"fast:{i}", i) for i in range(n)))
    replies = await asyncio.gather(*(fast.execute("GET", f"fast:{i}") for i in range(n)))
    assert replies == [str(i).encode() for i in range(n)]
    assert clean_redis.get("fast:1999") == b"1999"
    assert await fast.execute("INCRBY", "fast:count", 5) == 5
    assert await fast.execute("GET", "fast:missing") is None


def test_the_same_under_uvloop(redis_url: str, redis_cluster: bool, clean_redis: Any) -> None:
    """The server runs on uvloop, whose transports differ from asyncio's."""
    if redis_cluster:
        pytest.skip("one node only")
    import uvloop

    async def scenario() -> list[Any]:
        client = connect_fast(redis_url, timeout=2.0)
        assert client is not None
        try:
            script = FastScript(client, "return redis.call('INCRBY', KEYS[1], ARGV[1])")
            return await asyncio.gather(*(script(["fast:uv"], [1]) for _ in range(300)))
        finally:
            await client.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert sorted(runner.run(scenario())) == list(range(1, 301))


async def test_script_runs_and_reloads_after_a_flush(fast: FastRedis, clean_redis: Any) -> None:
    script = FastScript(fast, "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")
    assert await script(["fast:s"], ["a"]) == [b"fast:s", b"a", 1]
    clean_redis.script_flush()  # a restarted Redis forgets its scripts
    assert await script(["fast:s"], ["b"]) == [b"fast:s", b"b", 2]


async def test_a_burst_after_a_flush_reloads_and_every_caller_gets_its_own_reply(
    fast: FastRedis, clean_redis: Any
) -> None:
    """Many calls in flight when Redis has forgotten the script: each gets NOSCRIPT, is
    run again after the load, and still gets its own reply; plain commands between them too."""
    script = FastScript(fast, "return {ARGV[1], redis.call('INCR', KEYS[1])}")
    assert await script(["fast:b"], ["warm"]) == [b"warm", 1]
    clean_redis.script_flush()
    calls = []
    for i in range(200):
        calls.append(script(["fast:b"], [f"c{i}"]))
        calls.append(fast.execute("ECHO", f"e{i}"))
    replies = await asyncio.gather(*calls)
    assert replies[1::2] == [f"e{i}".encode() for i in range(200)]
    assert [r[0] for r in replies[::2]] == [f"c{i}".encode() for i in range(200)]
    assert sorted(r[1] for r in replies[::2]) == list(range(2, 202))  # each ran exactly once
    assert clean_redis.get("fast:b") == b"201"


async def test_a_script_that_cannot_load_fails_its_caller_once(
    fast: FastRedis, clean_redis: Any
) -> None:
    """NOSCRIPT again after the load (the load itself failed): the caller gets the error,
    not an endless reload loop, and the connection goes on."""
    broken = FastScript(fast, "this is not lua")
    with pytest.raises(ResponseError):
        await broken([], [])
    assert await fast.execute("PING") == b"PONG"


async def test_a_script_error_is_a_response_error_and_the_connection_goes_on(
    fast: FastRedis,
) -> None:
    broken = FastScript(fast, "return redis.call('NOSUCHCOMMAND')")
    with pytest.raises(ResponseError):
        await broken([], [])
    assert await fast.execute("PING") == b"PONG"


async def test_a_killed_connection_fails_and_the_next_command_reconnects(
    fast: FastRedis, clean_redis: Any
) -> None:
    client_id = await fast.execute("CLIENT", "ID")
    assert clean_redis.client_kill_filter(_id=client_id) == 1
    failures = 0
    deadline = asyncio.get_running_loop().time() + 5
    while True:  # at most the command racing the close fails; then a fresh connection
        try:
            assert await fast.execute("CLIENT", "ID") != client_id
            break
        except RedisConnectionError:
            failures += 1
            assert asyncio.get_running_loop().time() < deadline
    assert failures <= 1


async def test_no_reply_within_the_timeout_is_a_timeout_and_order_is_kept(
    redis_url: str, redis_cluster: bool, clean_redis: Any
) -> None:
    if redis_cluster:
        pytest.skip("one node only")
    client = connect_fast(redis_url, timeout=0.2)
    assert client is not None
    try:
        await client.execute("SET", "fast:order", "before")
        clean_redis.execute_command("CLIENT", "PAUSE", "600", "ALL")
        with pytest.raises(RedisTimeoutError):
            await client.execute("GET", "fast:order")
        deadline = asyncio.get_running_loop().time() + 5
        while True:  # after the pause: a fresh connection, and each reply is its own again
            try:
                assert await client.execute("ECHO", "after") == b"after"
                break
            except (RedisTimeoutError, RedisConnectionError):
                assert asyncio.get_running_loop().time() < deadline
        assert await client.execute("GET", "fast:order") == b"before"
    finally:
        clean_redis.execute_command("CLIENT", "UNPAUSE")
        await client.aclose()


async def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        client = FastRedis("127.0.0.1", port, timeout=1.0)
        with pytest.raises(RedisConnectionError):
            await client.execute("PING")
        await client.aclose()


def test_urls_it_speaks_and_those_it_leaves_to_redis_py() -> None:
    client = connect_fast("redis://user:p%40ss@10.0.0.5:6380/3", timeout=1.0)
    assert client is not None
    assert (client.host, client.port, client.username, client.password, client.db) == (
        "10.0.0.5", 6380, "user", "p@ss", 3,
    )  # fmt: skip
    unix = connect_fast("unix:///run/valkey.sock?db=2", timeout=1.0)
    assert unix is not None and (unix.path, unix.db) == ("/run/valkey.sock", 2)
    assert connect_fast("rediss://secure:6380", timeout=1.0) is None


async def test_calls_before_one_await_keep_their_order_even_while_connecting(
    fast: FastRedis, clean_redis: Any
) -> None:
    for round_ in range(2):  # first on a client that has not connected yet, then connected
        calls = [fast.execute("APPEND", "fast:ordered", str(i)) for i in range(50)]
        await asyncio.gather(*calls)
        assert clean_redis.get("fast:ordered") == "".join(map(str, range(50))).encode() * (
            round_ + 1
        )
