"""Composition of the stores domain: ``stores_ctx`` (an aiohttp cleanup context appended
in ``live_server.app``) loads the store registry into this worker and keeps the
nearest-store index in step with it."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.core.appkeys import REDIS
from live_server.stores.service import NearestStores
from live_server.stores.store import StoreRegistry

STORES: web.AppKey[StoreRegistry] = web.AppKey("stores")
NEAREST: web.AppKey[NearestStores] = web.AppKey("nearest")


async def stores_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the registry under ``STORES`` (reloaded on change) and its index under ``NEAREST``."""
    registry = StoreRegistry(app[REDIS])
    app[STORES] = registry
    await registry.start()
    app[NEAREST] = NearestStores(registry)
    yield
    await registry.stop()
