"""Cluster fixtures: a real local 3-master Valkey cluster and server nodes on it.

With ``--redis-cluster`` (or LIVE_TEST_CLUSTER=1) the session's cluster is reused;
otherwise these tests start their own (about 3 s), so the default suite proves the
multi-node path too.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from live_server.core.cluster import LocalCluster, flush_cluster
from live_server.core.embedded_redis import free_port
from tests.live_server.test_serve import wait_ready


@pytest.fixture(scope="module")
def cluster_url(
    request: pytest.FixtureRequest, redis_cluster: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Seed URL of a Redis Cluster: the session's (--redis-cluster) or a fresh local one."""
    if redis_cluster:
        yield request.getfixturevalue("redis_url")
        return
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"))
    yield cluster.start()
    cluster.stop()


@dataclass
class ServerNode:
    """One ``live-server serve`` process."""

    name: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class TwoNodes:
    a: ServerNode
    b: ServerNode
    secret: str
    nodes: list[ServerNode] = field(default_factory=list)


def start_node(
    name: str, tmp: Path, cluster_url: str, secret: str, *extra: str,
    env: dict[str, str] | None = None,
) -> ServerNode:  # fmt: skip
    """Start ``live-server serve`` on a free port against the cluster (env only, as ops
    would); ``env``: more environment for this node."""
    port = free_port()
    data_dir = tmp / name
    data_dir.mkdir()
    more = env or {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "LIVE_"))}
    env.update(REDIS_URL=cluster_url, REDIS_CLUSTER="1", LIVE_SECRET=secret, **more)
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "live_server.cli", "serve", "--port", str(port),
             "--data-dir", str(data_dir), *extra],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    node = ServerNode(name, port, data_dir, proc, log_path)
    try:
        wait_ready(f"{node.base}/readyz", proc)
    except AssertionError as exc:
        stop_node(node)
        raise AssertionError(f"node {name} did not start: {exc}\n{node.log_tail()}") from None
    return node


def stop_node(node: ServerNode) -> int:
    """SIGTERM (graceful drain), then kill if it hangs; returns the exit code."""
    if node.proc.poll() is None:
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(30)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait()
    return node.proc.returncode


@pytest.fixture(scope="module")
def two_nodes(cluster_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    """Node A (seeds the demo brand: demo.json in its data dir) and node B, sharing the
    cluster and LIVE_SECRET."""
    flush_cluster(cluster_url)
    tmp = tmp_path_factory.mktemp("nodes")
    secret = secrets.token_urlsafe(48)
    a = start_node("a", tmp, cluster_url, secret, "--demo")
    try:
        b = start_node("b", tmp, cluster_url, secret)
    except BaseException:
        stop_node(a)
        raise
    pair = TwoNodes(a, b, secret, [a, b])
    yield pair
    codes = {n.name: stop_node(n) for n in pair.nodes}
    assert codes == {"a": 0, "b": 0}, f"exit codes {codes}\n{a.log_tail()}\n{b.log_tail()}"
