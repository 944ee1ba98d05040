"""Running it locally as the README says: CLI commands beside a running ``serve`` on the
same data dir use that server's embedded Redis and never stop it; the server restarts
its embedded Redis when it dies; ``token`` refuses a data dir without a secret.

Real processes throughout: ``python -m live_server.cli serve --demo`` with its embedded
Valkey, the CLI commands as subprocesses, HTTP over TCP.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from live_server.core import keys
from live_server.core.embedded_redis import (
    EmbeddedRedis,
    _process_is_valkey,
    find_running,
    free_port,
    ping,
)
from live_server.core.tokens import TokenSigner
from tests.live_server.test_serve import children_of, wait_ready

CSV = (
    "id,name,lat,lng,address,city,timezone,hours,services,capacity\n"
    "imp_1,Imported Bakery,31.2304,121.4737,1 Road,Shanghai,Asia/Shanghai,"
    '"mon-sun 08:00-21:00",cake|bread,6\n'
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LIVE_SECRET")}
    env.pop("LIVE_DATA_DIR", None)
    return {**env, **extra}


def cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "live_server.cli", *args],
        env=_env(**env), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def poll(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out after {within}s waiting for {what}"
        time.sleep(0.1)  # polling interval, with a deadline


def readyz(base: str) -> int:
    try:
        return http("GET", f"{base}/readyz")[0]
    except OSError:
        return 0


class Server:
    """``live-server serve --demo`` on a free port and its own data dir."""

    def __init__(self, data_dir: Path, workers: int = 1) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (data_dir.parent / f"{data_dir.name}-server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "live_server.cli", "serve", "--demo", "--port",
             str(self.port), "--data-dir", str(data_dir), "--workers", str(workers)],
            env=_env(), stdout=subprocess.DEVNULL, stderr=self.log,
        )  # fmt: skip
        wait_ready(f"{self.base}/readyz", self.proc, timeout=60)

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "redis" / "server.json").read_text()))

    def valkey_pid(self) -> int:
        """The embedded Valkey: its pid from server.json, checked to be our child."""
        pid = int(self.state()["pid"])
        assert pid in children_of(self.proc.pid) and _process_is_valkey(pid)
        return pid

    def demo(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "demo.json").read_text()))

    def log_text(self) -> str:
        self.log.flush()
        return (self.data_dir.parent / f"{self.data_dir.name}-server.log").read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "var")
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_stores_import_beside_a_running_server(server: Server, tmp_path: Path) -> None:
    """The README's `live-server stores import stores.csv` while `serve --demo` runs on the
    same data dir: written through the server's Redis, which keeps running."""
    valkey = server.valkey_pid()
    csv_file = tmp_path / "stores.csv"
    csv_file.write_text(CSV)

    done = cli("stores", "import", str(csv_file), "--data-dir", str(server.data_dir))
    assert done.returncode == 0, done.stderr
    assert "imported 1 stores" in done.stdout
    assert f"running `live-server serve` (pid {server.proc.pid})" in done.stderr
    assert f"127.0.0.1:{server.state()['port']}" in done.stderr

    assert readyz(server.base) == 200
    assert server.valkey_pid() == valkey, "the server's Redis was replaced"
    poll(  # workers poll the registry version every 0.5 s
        lambda: http("GET", f"{server.base}/api/v1/stores/imp_1")[0] == 200,
        15, "the imported store to be served",
    )  # fmt: skip
    status, store = http("GET", f"{server.base}/api/v1/stores/imp_1")
    assert status == 200 and store["name"] == "Imported Bakery"

    # store-tail finds the same Redis (and, like import, leaves it running).
    tail = cli(
        "store-tail", "imp_1", "--from-start", "--exit-when-idle",
        "--data-dir", str(server.data_dir),
    )  # fmt: skip
    assert tail.returncode == 0, tail.stderr
    assert f"running `live-server serve` (pid {server.proc.pid})" in tail.stderr

    # A second server on the same data dir refuses instead of taking the Redis over.
    second = cli("serve", "--port", str(free_port()), "--data-dir", str(server.data_dir))
    assert second.returncode == 2, second.stderr
    assert f"belongs to `live-server serve` (pid {server.proc.pid})" in second.stderr

    assert readyz(server.base) == 200
    assert server.valkey_pid() == valkey
    assert server.proc.poll() is None
    assert server.stop() == 0


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("workers", [1, 2])
def test_embedded_redis_killed_is_restarted(tmp_path: Path, workers: int) -> None:
    """kill -9 of the embedded Valkey: the server restarts it on the same port and data,
    /readyz is 200 again and writes work, without restarting the server."""
    server = Server(tmp_path / "var", workers=workers)
    try:
        demo = server.demo()
        before = server.state()
        valkey = server.valkey_pid()
        status, viewer = http("POST", f"{server.base}/api/v1/rooms/{demo['room_id']}/viewers", {})
        assert status == 201, viewer

        os.kill(valkey, signal.SIGKILL)

        def restarted() -> bool:
            try:
                state = server.state()
            except (OSError, ValueError):
                return False
            return state["pid"] != valkey and readyz(server.base) == 200

        poll(restarted, 45, "/readyz to be 200 with a restarted Redis")
        after = server.state()
        assert after["port"] == before["port"], "the Redis URL changed"
        assert server.valkey_pid() == after["pid"]
        assert not _process_is_valkey(valkey)

        # Writes go through; what was written before the crash is still there (AOF).
        status, again = http("POST", f"{server.base}/api/v1/rooms/{demo['room_id']}/viewers", {})
        assert status == 201, again
        r = sync_redis.Redis(port=after["port"])
        try:
            assert r.exists(keys.room(demo["room_id"]))
        finally:
            r.close()
        assert server.proc.poll() is None
        assert "embedded Redis restarted" in server.log_text()
    finally:
        code = server.stop()
    assert code == 0
    assert not _process_is_valkey(int(after["pid"])), "the restarted Redis was left behind"


def test_stores_import_without_a_server_uses_a_temporary_redis(tmp_path: Path) -> None:
    """No server on the data dir: the import starts its own embedded Redis there, stops it
    (and only it) when done; the stores are in the data for the next `serve`."""
    csv_file = tmp_path / "stores.csv"
    csv_file.write_text(CSV)
    data_dir = tmp_path / "var"
    done = cli("stores", "import", str(csv_file), "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert "started a temporary embedded Redis" in done.stderr
    redis_dir = data_dir / "redis"
    assert find_running(redis_dir, wait=0) is None, "the temporary Redis was left running"
    assert not (redis_dir / "server.json").exists()
    with EmbeddedRedis(redis_dir) as again:
        assert again.port is not None and ping(again.port)
        r = sync_redis.Redis.from_url(again.url)
        try:
            assert r.hexists(keys.STORES, "imp_1")
        finally:
            r.close()


def test_token_needs_an_existing_secret_or_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped --data-dir has no secret: refused (exit 2, naming --init) instead of a
    token signed with a fresh secret no server knows."""
    from live_server.cli import main

    monkeypatch.delenv("LIVE_SECRET", raising=False)
    monkeypatch.delenv("LIVE_DATA_DIR", raising=False)
    monkeypatch.delenv("LIVE_ENV", raising=False)
    empty = tmp_path / "typo"
    assert main(["token", "ops", "--data-dir", str(empty)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--init" in err and str(empty / "secret") in err
    assert not (empty / "secret").exists()

    assert main(["token", "ops", "--data-dir", str(empty), "--init"]) == 0
    out, err = capsys.readouterr()
    secret = (empty / "secret").read_text().strip()
    assert TokenSigner(secret).verify(out.strip()).role.value == "ops"
    assert "created a new secret" in err

    # Once the secret exists no --init is needed; with LIVE_SECRET none is needed at all.
    assert main(["token", "host", "r_1", "--data-dir", str(empty)]) == 0
    assert TokenSigner(secret).verify(capsys.readouterr().out.strip()).scope == "r_1"
    # a host or staff token without its room or store, or already expired: refused
    for wrong in (["host"], ["staff"], ["host", "r_1", "--ttl", "-5"], ["ops", "--ttl", "0"]):
        assert main(["token", *wrong, "--data-dir", str(empty)]) == 2, wrong
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("live-server token:"), wrong
    env_secret = "s" * 48
    monkeypatch.setenv("LIVE_SECRET", env_secret)
    other = tmp_path / "other"
    assert main(["token", "ops", "--data-dir", str(other)]) == 0
    assert TokenSigner(env_secret).verify(capsys.readouterr().out.strip()).role.value == "ops"
    assert not (other / "secret").exists()


def test_token_refusal_from_the_command_line(tmp_path: Path) -> None:
    """The same refusal as a user meets it: `live-server token ops --data-dir <typo>`."""
    refused = cli("token", "ops", "--data-dir", str(tmp_path / "typo"))
    assert refused.returncode == 2 and refused.stdout == ""
    assert "--init" in refused.stderr
