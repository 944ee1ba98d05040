"""The embedded default: a real Valkey with AOF, stopped with us, stale ones handled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis
from aiohttp.test_utils import TestServer

from live_server.app import create_app
from live_server.core.embedded_redis import EmbeddedRedis, _process_is_valkey
from live_server.settings import Settings


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
    first.process = None  # forget it, as a crashed parent would
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
