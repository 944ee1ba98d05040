"""Socket.IO's cross-node bus on a Redis Cluster.

python-socketio's ``AsyncRedisManager`` uses a plain (non-cluster) client with
``PUBLISH``/``SUBSCRIBE`` on one channel. In a Redis Cluster a classic ``PUBLISH`` sent to
any node is forwarded over the cluster bus to every node, and a ``SUBSCRIBE`` on any
node receives it; so the manager can talk to any one node of the cluster.

What this adds for a cluster: the seed URL is only where discovery starts. At the first
connect the manager reads ``CLUSTER NODES`` and keeps every node's address (primaries and
replicas: both serve classic pub/sub); when its node stops answering (the upstream
manager reconnects after a failed publish or a broken subscription) it moves to the
next node that accepts a TCP connection, instead of retrying a dead seed forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import redis

from live_server.core.util import as_text
from live_server.realtime.bus import LiveRedisManager

if TYPE_CHECKING:
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 0.5


def cluster_node_urls(seed_url: str, timeout: float = 1.0) -> list[str]:
    """URLs of every connected node of the cluster behind ``seed_url`` (seed first).

    Scheme, credentials and query of the seed are kept; only host:port change. On any
    error the list is just the seed (the manager still works, without failover).
    """
    urls = [seed_url]
    try:
        client = redis.Redis.from_url(
            seed_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        try:
            raw = client.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]  # redis-py
        finally:
            client.close()
    except redis.RedisError as exc:
        log.warning("cannot list the cluster's nodes from %s: %s", _where(seed_url), exc)
        return urls
    text = as_text(raw)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8 or "fail" in parts[2].split(",") or parts[7] != "connected":
            continue
        address = parts[1].split("@", 1)[0]  # "host:port@busport[,hostname]"
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            continue
        url = _with_address(seed_url, host, int(port))
        if url not in urls and _where(url) != _where(seed_url):
            urls.append(url)
    return urls


def _with_address(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}:{port}" if userinfo else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Does the node accept a TCP connection (a cheap liveness probe)?"""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout):
            return True
    except OSError:
        return False


class ClusterRedisManager(LiveRedisManager):
    """:class:`~live_server.realtime.server.LiveRedisManager` that follows the cluster's nodes."""

    # Set by upstream (python-socketio is untyped): declared here so their uses type-check.
    redis_url: str
    redis: AsyncRedis | None
    pubsub: PubSub | None

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.seed_url = url
        self.candidates: list[str] = []
        self._closing: set[asyncio.Task[None]] = set()

    def _redis_connect(self) -> None:
        if not self.candidates:
            self.candidates = cluster_node_urls(self.seed_url)
        if self.redis is not None and not reachable(self.redis_url):
            self._move_to_next_node()
        super()._redis_connect()

    def _move_to_next_node(self) -> None:
        """Close the client of the dead node and point at the next reachable one."""
        dead = self.redis_url
        order = (
            self.candidates[self.candidates.index(dead) + 1 :] if dead in self.candidates else []
        )
        order += [u for u in self.candidates if u not in order and u != dead]
        target = next((u for u in order if reachable(u)), None)
        if target is None:
            return  # nothing answers: keep retrying where we are (upstream backs off)
        log.warning("Socket.IO bus: %s unreachable, moving to %s", _where(dead), _where(target))
        old = (self.pubsub, self.redis)
        self.redis_url, self.redis, self.pubsub = target, None, None
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to close async
            task = asyncio.get_running_loop().create_task(_close_quietly(*old))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        # Refresh the node list from the live node (failovers change addresses).
        fresh = cluster_node_urls(target)
        self.candidates = fresh + [u for u in self.candidates if u not in fresh]


async def _close_quietly(*conns: Any) -> None:
    for conn in conns:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.aclose()
