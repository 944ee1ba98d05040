"""Staff tokens and the store's roster: a guide's token acts only while its guide is on it.

Shared by the domains a guide's token reaches (tasks and orders in ``guides``, check-in in
``store_streams``); the roster itself is ``guides``' (``keys.store_guides``).
"""

from __future__ import annotations

import orjson

from live_server.core import keys
from live_server.core.errors import Forbidden
from live_server.core.redis_conn import RedisClient
from live_server.core.tokens import Claims


async def require_active_guide(redis: RedisClient, who: Claims, store_id: str) -> None:
    """A guide's token acts only while its guide is an active guide of the store's roster:
    one set inactive or removed no longer lists tasks, reads customers, records orders or
    checks visitors in. A manager's or ops' token: no check."""
    if who.guide_id is None:
        return
    raw = await redis.hget(keys.store_guides(store_id), who.guide_id)
    if raw is None or not orjson.loads(raw).get("active", True):
        raise Forbidden(f"guide {who.guide_id!r} is not an active guide of store {store_id!r}")
