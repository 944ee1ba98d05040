"""Brands are tenants: which brand a room, store, campaign... belongs to, checked in one place.

A brand-scoped ops token (scope ``brand:B``) may touch brand B's things only. Routes name
what they touch in their path (``{room}``, ``{store}``, ``{campaign}``, ...); each domain
registers, for its path parameter, how to find the brand of an id (the composition root
does it, ``live_server.app``). The web layer (``web.api``) and the Socket.IO layer ask
:meth:`Tenancy.require` before a handler runs; a handler that touches a brand named in its
body (a new room, a store upsert) calls :func:`require_brand`.

Only brand-scoped tokens pay for the look-ups: the platform admin and every room- or
store-scoped token skip them (a room or a store has one brand, and their scope is already
checked), so the viewers' flash paths cost nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from live_server.core.errors import Forbidden, NotFound, Problem
from live_server.core.tokens import Claims

log = logging.getLogger(__name__)

UNBRANDED = "default"
"""The brand of rooms, stores and groups created without one: a deployment that does not
use brands. Unbranded rooms and stores pair with any (single-tenant deployments keep
working); a brand-scoped ops token still touches its own brand only."""

BrandOf = Callable[[str], Awaitable[str | None]]
"""The brand of an id, or None when there is no such thing (the handler then says 404)."""


def require_brand(claims: Claims | None, brand: str) -> None:
    """Raise 403 unless the token may touch things of ``brand``."""
    if claims is not None and not claims.can_touch_brand(brand):
        raise Forbidden(f"your token is for brand {claims.brand!r}, not {brand!r}")


class Tenancy:
    """Path parameter name -> how to find the brand of its value."""

    def __init__(self) -> None:
        self.resolvers: dict[str, BrandOf] = {}

    def register(self, param: str, brand_of: BrandOf) -> None:
        self.resolvers[param] = brand_of

    async def brand_of(self, param: str, value: str) -> str | None:
        resolver = self.resolvers.get(param)
        if resolver is None:
            return None
        try:
            return await resolver(value)
        except Problem:  # a malformed id: nothing of any brand (the handler answers it)
            return None

    async def require(self, claims: Claims | None, param: str, value: str) -> None:
        """403 if a brand-scoped token touches ``param=value`` of another brand."""
        if claims is None or claims.brand is None:
            return
        brand = await self.brand_of(param, value)
        if brand is not None:
            require_brand(claims, brand)

    async def room_brand(self, room_id: str) -> str | None:
        """The brand of a room the request names as its context (None: an unbranded room,
        every store); 404 if no such room."""
        brand = await self.brand_of("room", room_id)
        if brand is None:
            raise NotFound(f"no room {room_id!r}")
        return None if brand == UNBRANDED else brand

    async def store_of_room_brand(self, room_id: str, store_id: str) -> bool:
        """Whether a store offered or booked in a room belongs to the room's brand (an
        unknown room or store: True, whoever handles it answers 404)."""
        room_brand = await self.brand_of("room", room_id)
        store_brand = await self.brand_of("store", store_id)
        return same_brand(room_brand, store_brand)

    async def require_path(self, claims: Claims | None, match_info: Mapping[str, str]) -> None:
        """:meth:`require` for every path parameter of a request that names a thing."""
        if claims is None or claims.brand is None:
            return
        for param, value in match_info.items():
            await self.require(claims, param, value)


def same_brand(a: str | None, b: str | None) -> bool:
    """Whether two things may go together: the same brand, or one of them unknown (None)
    or unbranded."""
    return a is None or b is None or a == b or UNBRANDED in (a, b)


TENANCY: web.AppKey[Tenancy] = web.AppKey("tenancy")
