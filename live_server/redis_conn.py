"""Redis clients: one single-node or cluster client per process, with bounded timeouts.

Every command fails fast (``redis_timeout``) so a Redis outage turns into 503s with
``Retry-After`` instead of hung requests.
"""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

from .settings import Settings

RedisClient: TypeAlias = Redis | RedisCluster


def connect_redis(settings: Settings, url: str | None = None) -> RedisClient:
    """Build the process's client (connections open lazily)."""
    url = url or settings.redis_url
    if not url:
        raise RuntimeError("no Redis URL: start the embedded server first")
    common = {
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": min(1.0, settings.redis_timeout),
        "decode_responses": False,
        "health_check_interval": 15,
    }
    if settings.redis_cluster:
        return RedisCluster.from_url(url, **common)
    return Redis.from_url(
        url, max_connections=256, retry=Retry(NoBackoff(), 1), **common
    )
