"""The embedded default: a real Valkey with AOF, stopped with us, one owner per data dir,
stale ones handled (replaced by a server, never stopped by a CLI), restarted when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.core.commands import redis_for_cli
from live_server.core.embedded_redis import (
    DataDirInUse,
    EmbeddedRedis,
    RedisWatchdog,
    _process_is_valkey,
    find_running,
    ping,
)
from live_server.settings import Settings


def poll(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out after {within}s waiting for {what}"
        time.sleep(0.05)  # polling interval, with a deadline


def test_start_persist_restart(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = sync_redis.Redis.from_url(server.url)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("appendfsync")["appendfsync"] == "everysec"
        client.set("booking:1", "kept")
        client.close()
        pid = server.process.pid if server.process else 0
    assert not _process_is_valkey(pid)
    assert (tmp_path / "appendonlydir").is_dir()
    with EmbeddedRedis(tmp_path, fsync="always") as again:
        client = sync_redis.Redis.from_url(again.url)
        assert client.get("booking:1") == b"kept"
        assert client.config_get("appendfsync")["appendfsync"] == "always"
        client.close()


def test_stale_server_from_a_crash_is_stopped(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    first.start()
    stale = first.process
    assert stale is not None
    stale_pid = stale.pid
    first.process = None  # forget it, as a crashed parent would (its lock goes with it)
    first._release()
    found = find_running(tmp_path, wait=0)
    assert found is not None and found.stale and found.pid == stale_pid
    assert found.url == first.url
    second = EmbeddedRedis(tmp_path)
    try:
        second.start()
        assert not _process_is_valkey(stale_pid)
        assert second.process is not None and second.process.pid != stale_pid
    finally:
        second.stop()
        if _process_is_valkey(stale_pid):
            os.kill(stale_pid, signal.SIGKILL)
        stale.wait()
        if stale.stderr:
            stale.stderr.close()


def test_dies_with_its_parent(tmp_path: Path) -> None:
    """kill -9 of the server process takes its embedded Redis down too."""
    code = (
        "import sys,time; from live_server.core.embedded_redis import EmbeddedRedis;"
        f"e=EmbeddedRedis({str(tmp_path)!r}); e.start(); print(e.process.pid, flush=True);"
        "time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _process_is_valkey(child_pid)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    import time

    deadline = time.monotonic() + 5
    while _process_is_valkey(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _process_is_valkey(child_pid)


async def test_readyz_fails_while_redis_is_down_and_recovers(tmp_path: Path) -> None:
    own = EmbeddedRedis(tmp_path / "redis")
    url = own.start()
    settings = Settings.from_env({}, data_dir=tmp_path, redis_url=url, access_log=False)
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            ready = str(server.make_url("/readyz"))
            async with http.get(ready) as resp:
                assert resp.status == 200
            own.stop()
            async with http.get(ready) as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"]
                body = await resp.json(content_type=None)
                assert body["title"] == "Service unavailable"
            async with http.get(str(server.make_url("/healthz"))) as resp:
                assert resp.status == 200  # the process itself is fine
            own.start()  # same port, same data
            async with http.get(ready) as resp:
                assert resp.status == 200
    finally:
        await server.close()
        own.stop()


@pytest.mark.parametrize("missing", ["nonexistent-binary"])
def test_clear_error_when_binary_missing(missing: str) -> None:
    from live_server.core.embedded_redis import valkey_binary

    with pytest.raises(RuntimeError, match="not found"):
        valkey_binary(missing)


def test_one_owner_per_data_dir_and_a_cli_never_stops_it(tmp_path: Path) -> None:
    """A running server's Redis is found (lock + PING), and nothing else may start or stop
    one on its data dir: not a CLI's temporary server, not a second server."""
    owner = EmbeddedRedis(tmp_path)
    owner.start()
    try:
        assert owner.process is not None
        pid = owner.process.pid
        found = find_running(tmp_path)
        assert found is not None and not found.stale and not found.temporary
        assert (found.url, found.pid, found.owner_pid) == (owner.url, pid, os.getpid())
        temp = EmbeddedRedis(tmp_path, owner="stores import", temporary=True, replace_stale=False)
        with pytest.raises(DataDirInUse, match="belongs to `live-server serve`"):
            temp.start(patience=0.2)
        with pytest.raises(DataDirInUse):
            EmbeddedRedis(tmp_path).start(patience=0.2)
        assert owner.process is not None and owner.process.pid == pid and ping(owner.port or 0)
    finally:
        owner.stop()
    assert find_running(tmp_path, wait=0) is None


def test_cli_uses_a_running_server_and_leaves_it_running(tmp_path: Path) -> None:
    redis_dir = tmp_path / "redis"
    owner = EmbeddedRedis(redis_dir)
    owner.start()
    try:
        settings = Settings.from_env({}, data_dir=tmp_path, secret="x" * 40)
        with redis_for_cli(settings, "stores import") as connected:
            assert connected.redis_url == owner.url
        assert owner.process is not None and owner.process.poll() is None
        assert ping(owner.port or 0)
    finally:
        owner.stop()


def test_cli_uses_a_stale_server_and_never_stops_it(tmp_path: Path) -> None:
    """Its owner gone, a Valkey left on the data dir is used by a CLI as it is; a CLI's own
    temporary server refuses to replace it; only a server replaces it."""
    redis_dir = tmp_path / "redis"
    first = EmbeddedRedis(redis_dir)
    first.start()
    stale = first.process
    assert stale is not None
    first.process = None
    first._release()  # as if its owner had died
    try:
        settings = Settings.from_env({}, data_dir=tmp_path, secret="x" * 40)
        with redis_for_cli(settings, "stores import") as connected:
            assert connected.redis_url == first.url
        assert stale.poll() is None
        temp = EmbeddedRedis(redis_dir, owner="stores import", temporary=True, replace_stale=False)
        with pytest.raises(DataDirInUse, match="left running by an earlier run"):
            temp.start()
        assert stale.poll() is None and ping(first.port or 0)
        assert not temp.owned
    finally:
        stale.send_signal(signal.SIGTERM)
        stale.wait(10)
        if stale.stderr:
            stale.stderr.close()


def test_a_server_waits_for_a_temporary_owner(tmp_path: Path) -> None:
    temp = EmbeddedRedis(tmp_path, owner="stores import", temporary=True, replace_stale=False)
    temp.start()
    server = EmbeddedRedis(tmp_path)
    with pytest.raises(DataDirInUse, match="stores import"):
        server.start(patience=0.3)
    release = threading.Timer(0.3, temp.stop)  # the import finishes meanwhile
    release.start()
    try:
        server.start(patience=15)
        assert not temp.owned and server.owned
    finally:
        release.join()
        server.stop()
        temp.stop()


def test_watchdog_restarts_a_killed_redis_on_the_same_port(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, fsync="always")
    url = server.start()
    gave_up = threading.Event()
    watchdog = RedisWatchdog(server, gave_up.set, interval=0.05, first_delay=0.05)
    watchdog.start()
    try:
        client = sync_redis.Redis.from_url(url)
        client.set("kept", "1")
        assert server.process is not None
        victim = server.process.pid
        os.kill(victim, signal.SIGKILL)
        poll(lambda: watchdog.restarts == 1 and ping(server.port or 0), 20, "a restart")
        assert server.url == url
        assert server.process is not None and server.process.pid != victim
        assert client.get("kept") == b"1"  # the client reconnects to the same URL
        found = find_running(tmp_path)
        assert found is not None and found.pid == server.process.pid
        client.close()
        assert not gave_up.is_set()
    finally:
        server.stop()
        watchdog.stop()
        watchdog.join(10)
    assert server.process is None and watchdog.restarts == 1  # nothing restarted after stop


def test_watchdog_gives_up_past_its_restart_rate(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path, persistent=False)
    server.start()
    gave_up = threading.Event()
    watchdog = RedisWatchdog(
        server, gave_up.set, interval=0.05, first_delay=0.05, max_restarts=1, window=60
    )
    watchdog.start()
    try:
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        poll(lambda: watchdog.restarts == 1 and ping(server.port or 0), 20, "a restart")
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        poll(gave_up.is_set, 20, "the watchdog to give up")
        assert watchdog.gave_up and watchdog.restarts == 1
    finally:
        server.stop()
        watchdog.stop()
        watchdog.join(10)
