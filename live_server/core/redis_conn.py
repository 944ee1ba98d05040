"""Redis clients: one single-node or cluster client per process, with bounded timeouts.

Every command fails fast (``redis_timeout``) so a Redis outage turns into 503s with
``Retry-After`` instead of hung requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any, TypeAlias

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import MaxConnectionsError

from live_server.settings import Settings

RedisClient: TypeAlias = Redis | RedisCluster

CLUSTER_MAX_IN_FLIGHT = 64
"""Commands (or pipelines) one process has in flight on the cluster at once; also each
node's connection limit, so a node's pool can never run dry (see BoundedRedisCluster).
A Redis node executes one command at a time: more concurrency from one process only moves
the queue into Redis and makes bursts open hundreds of connections at once (slow under
load, and redis-py's cluster pool races on connections dropped while connecting)."""
SINGLE_NODE_MAX_CONNECTIONS = 128
"""Connections one process opens to a single Redis; more commands wait for one."""
CLUSTER_QUEUE_WAIT_FACTOR = 4
"""A command waits up to this many ``redis_timeout`` for a slot before failing (503):
a flash claim queues here briefly instead of failing."""

_holding_slot: ContextVar[bool] = ContextVar("redis_cluster_slot_held", default=False)


class _InFlightLimit:
    """An asyncio semaphore with a deadline, re-entrant within one task (a pipeline's
    redirected commands go through the client again while the pipeline holds its slot)."""

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self._sem: asyncio.Semaphore | None = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if _holding_slot.get():
            yield
            return
        if self._sem is None:  # built lazily: the client may be created before the loop
            self._sem = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(self._sem.acquire(), self.wait_s)
        except TimeoutError:
            raise MaxConnectionsError(
                f"{self.limit} Redis Cluster commands in flight for {self.wait_s}s"
            ) from None
        token = _holding_slot.set(True)
        try:
            yield
        finally:
            _holding_slot.reset(token)
            self._sem.release()


class _BoundedClusterPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        limit: _InFlightLimit = self.cluster_client._in_flight  # type: ignore[attr-defined]
        async with limit.slot():
            return await super().execute(raise_on_error, allow_redirections)


class BoundedRedisCluster(RedisCluster):
    """redis-py's asyncio cluster client, with a per-process in-flight limit.

    Why: the single-node pool and the cluster's per-node pools both fail a command at
    once when every connection is busy, but the cluster's pools are smaller per node and
    a flash claim lands every request on ONE node (one campaign = one slot), so a burst
    that a single Redis absorbs would turn into 503s. Here a command waits (up to
    ``redis_timeout``) for one of ``CLUSTER_MAX_IN_FLIGHT`` slots; each node's pool is
    as large as that limit, so it never runs dry.
    """

    def __init__(
        self, *args: Any, in_flight: int = CLUSTER_MAX_IN_FLIGHT, wait_s: float = 2.0, **kwargs: Any
    ) -> None:
        kwargs["max_connections"] = in_flight
        super().__init__(*args, **kwargs)
        self._in_flight = _InFlightLimit(in_flight, wait_s)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._in_flight.slot():
            return await super().execute_command(*args, **kwargs)

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        """One pipeline per call. ``transaction=True`` is MULTI/EXEC on one node and
        needs every key in ONE slot (else CrossSlotTransactionError, before sending);
        ``transaction=False`` splits the commands per node: not atomic across slots."""
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # raises, as upstream
        # redis-py's commands protocol declares _event_dispatcher, which its own
        # ClusterPipeline never sets either (upstream's pipeline() builds one the same way)
        return _BoundedClusterPipeline(self, transaction)  # type: ignore[abstract]  # redis-py


def connect_redis(settings: Settings, url: str | None = None) -> RedisClient:
    """Build the process's client (connections open lazily)."""
    url = url or settings.redis_url
    if not url:
        raise RuntimeError("no Redis URL: start the embedded server first")
    common = {
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        "decode_responses": False,
        "health_check_interval": 15,
    }
    if settings.redis_cluster:
        return BoundedRedisCluster.from_url(
            url, wait_s=settings.redis_timeout * CLUSTER_QUEUE_WAIT_FACTOR, **common
        )
    # A blocking pool: in a flash crowd a command waits briefly for a free connection
    # (queues in the process, not in Redis) instead of failing with "Too many connections".
    pool = BlockingConnectionPool.from_url(
        url, max_connections=SINGLE_NODE_MAX_CONNECTIONS,
        timeout=settings.redis_timeout * CLUSTER_QUEUE_WAIT_FACTOR,
        retry=Retry(NoBackoff(), 1), **common,
    )  # fmt: skip
    return Redis.from_pool(pool)
