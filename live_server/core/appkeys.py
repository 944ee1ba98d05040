"""Typed keys of what the core puts on the application (set up by ``live_server.app``).

Each layer and domain keeps its own keys beside what they hold: the web layer's in
``web/api.py`` and ``web/limits.py``, the realtime layer's in ``realtime/server.py``, each
domain's in its ``wiring.py``. No module imports every service.
"""

from __future__ import annotations

from aiohttp import web

from live_server.core.fastredis import FastRedis
from live_server.core.metrics import Metrics
from live_server.core.redis_conn import RedisClient
from live_server.core.tokens import TokenSigner
from live_server.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
FAST_REDIS: web.AppKey[FastRedis | None] = web.AppKey("fast_redis")
"""The auto-pipelined connection of the flash paths (claim, booking, their rate limits);
None on a cluster or a URL it does not speak: those paths then use REDIS."""
SIGNER: web.AppKey[TokenSigner] = web.AppKey("signer")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
