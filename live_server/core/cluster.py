"""A real local Redis Cluster (Valkey, cluster mode) from the embedded binary.

Production runs against a managed Redis/Valkey Cluster; tests, benchmarks and a laptop
rehearsal run this one: N masters (no replicas) on loopback ports, each an
:class:`~live_server.core.embedded_redis.EmbeddedRedis` started with ``--cluster-enabled yes``,
joined with ``valkey-cli --cluster create`` (the same CLI an operator uses), ready once
every node reports ``cluster_state:ok``.

Also here: :func:`flush_cluster` (FLUSHALL on every primary; a cluster client's plain
``flushall`` would only reach one node) and :func:`key_slot` (CRC16 of the hash tag, to
reason about where a key lives).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from live_server.core.embedded_redis import EmbeddedRedis, free_port, valkey_binary

log = logging.getLogger(__name__)

CLUSTER_SLOTS = 16384


class ClusterError(RuntimeError):
    """The local cluster could not be created or did not become ready."""


def _command(port: int, *args: str, timeout: float = 1.0) -> bytes:
    """One raw RESP command to 127.0.0.1:port; returns the reply's payload (best effort).

    A socket, not a client library: the harness must not depend on the client under test.
    """
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        raw = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"".join(parts))
        data = b""
        while True:
            chunk = sock.recv(65536)
            data += chunk
            if not chunk or _complete(data):
                return data


def _complete(data: bytes) -> bool:
    if data[:1] in (b"+", b"-", b":"):
        return data.endswith(b"\r\n")
    if data[:1] == b"$":
        head, _, rest = data.partition(b"\r\n")
        size = int(head[1:])
        return size < 0 or len(rest) >= size + 2
    if data[:1] == b"=":  # RESP3 verbatim string (not used: RESP2 connection)
        return data.endswith(b"\r\n")
    return False


class LocalCluster:
    """Start/stop a ``masters``-node Valkey cluster under ``data_dir`` (no replicas).

    ``with LocalCluster(path) as cluster: cluster.url`` is a seed URL for
    ``RedisCluster.from_url`` / ``live-server serve --redis-cluster``.
    """

    def __init__(self, data_dir: Path, masters: int = 3, node_timeout_ms: int = 3000) -> None:
        if masters < 3:
            raise ValueError("a Redis Cluster needs at least 3 masters")
        self.data_dir = Path(data_dir).resolve()
        self.masters = masters
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[EmbeddedRedis] = []

    @property
    def ports(self) -> list[int]:
        return [n.port for n in self.nodes if n.port is not None]

    @property
    def url(self) -> str:
        """Seed URL (the first node); the cluster client discovers the others."""
        if not self.nodes:
            raise ClusterError("the cluster is not started")
        return f"redis://127.0.0.1:{self.ports[0]}"

    @property
    def urls(self) -> list[str]:
        return [f"redis://127.0.0.1:{p}" for p in self.ports]

    def start(self, timeout: float = 30.0) -> str:
        """Start the nodes, create the cluster, wait for ``cluster_state:ok``; returns the
        seed URL."""
        try:
            for i in range(self.masters):
                # The cluster bus port is given explicitly (default port+10000 may be taken
                # or beyond 65535 for a high ephemeral port).
                node = EmbeddedRedis(
                    self.data_dir / f"node{i}",
                    persistent=False,
                    port=free_port(),
                    extra_args=(
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", str(self.data_dir / f"node{i}" / "nodes.conf"),
                        "--cluster-port", str(free_port()),
                        "--cluster-node-timeout", str(self.node_timeout_ms),
                        "--cluster-require-full-coverage", "yes",
                    ),
                )  # fmt: skip
                self.nodes.append(node)
                node.start()
            self._create(timeout)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        log.info("local Redis Cluster ready: %s", ", ".join(self.urls))
        return self.url

    def _create(self, timeout: float) -> None:
        cmd = [
            str(valkey_binary("valkey-cli")), "--cluster", "create",
            *(f"127.0.0.1:{p}" for p in self.ports),
            "--cluster-replicas", "0", "--cluster-yes",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                cmd, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"valkey-cli --cluster create hung for {timeout}s") from exc
        if done.returncode != 0:
            raise ClusterError(
                "valkey-cli --cluster create failed: "
                + (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll CLUSTER INFO on every node until all say ``cluster_state:ok``, agree that
        every slot is assigned (the CLI returns before gossip has converged) and have their
        bus link to every other node up (a PUBLISH only crosses a connected link)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                infos = [_command(p, "CLUSTER", "INFO").decode() for p in self.ports]
                links = [_command(p, "CLUSTER", "NODES").decode() for p in self.ports]
            except OSError as exc:
                last = str(exc)
            else:
                if all(
                    "cluster_state:ok" in info
                    and f"cluster_slots_ok:{CLUSTER_SLOTS}" in info
                    and f"cluster_known_nodes:{self.masters}" in info
                    for info in infos
                ) and all(
                    fields[7] == "connected"
                    for nodes in links
                    for line in nodes.splitlines()
                    if len(fields := line.split()) > 7  # skip the RESP "$<len>" header
                ):
                    return
                last = infos[0][:300]
            time.sleep(0.05)
        raise ClusterError(f"cluster not ready within {timeout}s: {last}")

    def stop(self) -> None:
        """Stop every node (SIGTERM, then kill)."""
        nodes, self.nodes = self.nodes, []
        for node in nodes:
            with contextlib.suppress(Exception):
                node.stop()

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def flush_cluster(url: str) -> None:
    """FLUSHALL on every primary of the cluster behind the seed ``url`` (tests, rehearsals).

    A cluster client sends a plain ``flushall`` to one node only; this targets each primary.
    """
    from redis.cluster import RedisCluster

    client = RedisCluster.from_url(url)
    try:
        client.flushall(target_nodes=RedisCluster.PRIMARIES)
    finally:
        client.close()


def _crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), the Redis Cluster key-slot hash."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def hash_tag(key: str | bytes) -> bytes:
    """The part of ``key`` that decides its slot: the first non-empty ``{...}``, else all."""
    raw = key.encode() if isinstance(key, str) else key
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            return raw[start + 1 : end]
    return raw


def key_slot(key: str | bytes) -> int:
    """The cluster slot of ``key`` (same as ``CLUSTER KEYSLOT``)."""
    return _crc16(hash_tag(key)) % CLUSTER_SLOTS
