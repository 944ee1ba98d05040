"""Socket.IO's bus on a cluster: a PUBLISH on one node reaches a subscriber on another,
and when the manager's node dies it moves to a live one (own cluster: a node is killed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from live_server.core.cluster import LocalCluster
from live_server.realtime.cluster_bus import ClusterRedisManager, cluster_node_urls


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path / "cluster")
    cluster.start()
    yield cluster
    cluster.stop()


async def published_and_heard(
    publisher: aioredis.Redis, sub: aioredis.client.PubSub, data: bytes, within_s: float = 10.0
) -> bytes:
    """PUBLISH until the subscriber hears it. Pub/sub is at-most-once: a message published
    while the cluster bus link between two nodes is still (re)connecting is dropped, so
    one lost PUBLISH says nothing; never hearing one within the deadline does. Extra
    copies of an earlier message (it may have been published more than once) are skipped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        await publisher.publish("bus-test", data)
        message = await sub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None and bytes(message["data"]) == data:
            return data
    raise AssertionError(f"{data!r} never crossed to the subscriber's node in {within_s} s")


async def test_bus_crosses_cluster_nodes_and_survives_its_node_dying(
    own_cluster: LocalCluster,
) -> None:
    urls = own_cluster.urls
    assert sorted(cluster_node_urls(own_cluster.url)) == sorted(urls)
    manager = ClusterRedisManager(own_cluster.url, channel="bus-test")
    manager._redis_connect()
    assert manager.redis_url == urls[0] and sorted(manager.candidates) == sorted(urls)

    # A subscriber on the last node hears a PUBLISH sent to the first (cluster bus).
    listener = aioredis.Redis.from_url(urls[2])
    sub = listener.pubsub()
    try:
        await sub.subscribe("bus-test")
        assert await published_and_heard(manager.redis, sub, b"one") == b"one"

        own_cluster.nodes[0].stop()  # the seed dies
        manager.connected = False  # what upstream does after a failed publish
        manager._redis_connect()
        assert manager.redis_url in urls[1:]
        assert await published_and_heard(manager.redis, sub, b"two") == b"two"
    finally:
        await sub.aclose()
        await listener.aclose()
        await manager.close()
