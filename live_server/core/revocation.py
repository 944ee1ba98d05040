"""Token revocation: a list in Redis, a copy in every node's memory, sockets closed.

``revoke(entry)`` writes the entry (a token id, a subject such as ``guide:g1``, or a
``scope/subject`` pair such as ``sh-jingan/guide:g1``) with the time, and bumps a version,
in one MULTI on one hash tag. Every node polls the version (one GET every
``POLL_S``), reloads the list when it moved, hands it to the :class:`TokenSigner` (every
HTTP request and Socket.IO connect is checked against it in memory, no Redis round trip)
and calls its listeners with the new entries (the realtime layer disconnects the open
sockets of revoked tokens). A revocation therefore takes effect on every node within
``POLL_S`` plus one reload, well under a second.

Entries stay ``RETAIN_S`` (longer than any token lives); a subject revoked at T refuses its
tokens issued at or before T, so a guide who leaves and comes back later gets new tokens
that work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.tasks import cancel_and_wait
from live_server.core.tokens import TokenSigner

log = logging.getLogger(__name__)

POLL_S = 0.25
RETAIN_S = 90 * 24 * 3600
"""Revocations older than this are dropped (tokens live days, not months)."""
MAX_ENTRY = 300

Listener = Callable[[frozenset[str]], Awaitable[None]]


async def revoke(redis: RedisClient, entry: str, *, now: float | None = None) -> int:
    """Put ``entry`` on the revocation list; returns the list's new version."""
    entry = entry.strip()
    if not entry or len(entry) > MAX_ENTRY:
        raise ValueError(f"a token id or subject of 1-{MAX_ENTRY} characters")
    at = int(time.time() if now is None else now)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.REVOKED, entry, at)
        pipe.incr(keys.REVOKED_VERSION)
        _, version = await pipe.execute()
    return int(version)


class Revocations:
    """This node's copy of the revocation list, kept in step with Redis."""

    def __init__(self, redis: RedisClient, signer: TokenSigner, *, poll_s: float = POLL_S):
        self.redis = redis
        self.signer = signer
        self.poll_s = poll_s
        self.version = -1
        self.entries: dict[str, int] = {}
        self.listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None

    async def revoke(self, entry: str) -> None:
        """Revoke here and now (this node at once, every other within ``poll_s``)."""
        await revoke(self.redis, entry)
        await self.reload()

    async def reload(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.REVOKED_VERSION)
            pipe.hgetall(keys.REVOKED)
            version_raw, raw = await pipe.execute()
        cutoff = time.time() - RETAIN_S
        entries: dict[str, int] = {}
        stale: list[bytes] = []
        for key, value in raw.items():
            try:
                at = int(value)
            except ValueError:
                continue
            if at < cutoff:
                stale.append(key)
                continue
            entries[key.decode() if isinstance(key, bytes) else str(key)] = at
        if stale:
            await self.redis.hdel(keys.REVOKED, *stale)
        fresh = frozenset(e for e, at in entries.items() if self.entries.get(e) != at)
        self.entries = entries
        self.signer.revoked = entries
        self.version = int(version_raw or 0)
        if fresh:
            for listener in self.listeners:
                try:
                    await listener(fresh)
                except Exception:  # closing sockets must not stop the list's refresh
                    log.exception("revocation listener failed")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                raw = await self.redis.get(keys.REVOKED_VERSION)
                if int(raw or 0) != self.version:
                    await self.reload()
            except RedisError as exc:
                log.debug("revocation poll failed: %s", exc)

    async def start(self) -> None:
        with contextlib.suppress(RedisError):
            await self.reload()
        self._task = asyncio.create_task(self._poll(), name="revocation-poll")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)


REVOCATIONS: web.AppKey[Revocations] = web.AppKey("revocations")
