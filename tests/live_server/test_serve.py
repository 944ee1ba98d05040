"""`live-server serve --demo` from an empty data dir: ready, demo.json, clean exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from live_server.core.embedded_redis import _process_is_valkey, free_port


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited early with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} not ready within {timeout}s")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_demo_then_sigterm(tmp_path: Path, workers: int) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LIVE_SECRET")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "live_server.cli", "serve", "--demo", "--port", str(port),
         "--data-dir", str(tmp_path), "--workers", str(workers)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        descendants = children_of(proc.pid)
        for child in list(descendants):
            descendants += children_of(child)
        valkeys = [p for p in descendants if _process_is_valkey(p)]
        assert len(valkeys) == 1
        demo = json.loads((tmp_path / "demo.json").read_text())
        assert demo["room_id"] and demo["ops_token"] and demo["host_token"]
        assert len(demo["stores"]) >= 20 and len(demo["groups"]) == 5
        assert all(s["staff_token"] for s in demo["stores"])
        assert set(demo["pages"]) == {"room", "host", "store", "guide", "leaderboard", "report"}
        guides = [g for s in demo["stores"] for g in s.get("guides", [])]
        assert guides and all(g["token"] and g["page"].startswith("http") for g in guides)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/stores/{demo['stores'][0]['id']}"
        ) as r:
            assert json.load(r)["name"] == demo["stores"][0]["name"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert b"ops token" in out
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in descendants) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in descendants if alive(pid)], "processes left behind"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_is_idempotent(tmp_path: Path) -> None:
    """Seeding twice keeps one room and the same stores (restart with --demo)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LIVE_SECRET")}
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "live_server.cli", "serve", "--demo", "--port", str(port),
             "--data-dir", str(tmp_path)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        demo = json.loads((tmp_path / "demo.json").read_text())
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    assert demo["room_id"] == "r_demo"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.json", "redis", "secret"]
