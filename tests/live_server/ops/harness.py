"""A real ``live-server serve --demo`` in a subprocess, for the ops tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from live_server.core.embedded_redis import free_port
from tests.live_server.test_serve import wait_ready


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    demo: dict[str, Any]
    log_path: Path

    def log_records(self) -> list[dict[str, Any]]:
        """The server's log so far, one JSON object per line (LIVE_LOG_FORMAT=json)."""
        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


@asynccontextmanager
async def running_server(
    tmp_path: Path, workers: int = 2, env: dict[str, str] | None = None
) -> AsyncIterator[Server]:
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LIVE_SECRET")}
    full_env.update({"LIVE_LOG_FORMAT": "json", "LIVE_RATE_LIMITS": "0", **(env or {})})
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: ASYNC220  a Popen: wait_ready polls it from a thread
            [sys.executable, "-m", "live_server.cli", "serve", "--demo", "--workers",
             str(workers), "--port", str(port), "--data-dir", str(tmp_path / "data")],
            env=full_env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        await asyncio.to_thread(wait_ready, f"{base}/readyz", proc, 60)
        demo = json.loads((tmp_path / "data" / "demo.json").read_text())
        server = Server(proc, base, demo, log_path)
        if workers > 1:
            await served_by_all(server, workers)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 30)


def fresh_session() -> aiohttp.ClientSession:
    """A new connection per request, so the kernel may pick any worker."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def served_by_all(server: Server, workers: int, within_s: float = 60) -> set[str]:
    """Poll until ``workers`` distinct workers have answered; their X-Served-By ids."""
    nodes: set[str] = set()
    deadline = asyncio.get_running_loop().time() + within_s
    async with fresh_session() as http:
        while len(nodes) < workers:
            assert asyncio.get_running_loop().time() < deadline, f"workers seen: {nodes}"
            try:
                async with http.get(f"{server.base}/healthz") as resp:
                    nodes.add(resp.headers["X-Served-By"])
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    return nodes


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base: str) -> Samples:
    """One scrape of /metrics: ``(sample name, labels) -> value``."""
    async with fresh_session() as http, http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return parse(text)


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _labels in samples}
