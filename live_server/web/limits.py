"""Rate limits on the flash-crowd routes (claim, booking, questions): per viewer and per IP.

One table, checked by the route wrapper in :mod:`live_server.web.api` after authentication.
Over a limit: 429 with ``Retry-After``; nothing else runs.

* Per-viewer rules: a fixed window counter per (rule, viewer) in Redis, shared by every
  worker and node (its own hash tag, so it is one slot in a cluster). The claim's rule is
  counted inside claim.lua instead (``in_script``): the same guard without a second round
  trip on the flash path.
* Per-IP rules: a fixed window counter per (rule, address) in this process's memory, no
  Redis round trip. With N worker processes (and M nodes behind a balancer) one address
  gets up to N x M times the allowance: these rules are a coarse guard against one
  scalper script, and deliberately generous: a store's Wi-Fi or a mobile carrier's NAT
  puts many honest viewers behind one address.
Addresses in ``LIVE_RATE_LIMIT_EXEMPT`` (e.g. the load-test host) skip per-IP rules, and
``LIVE_TRUST_FORWARDED=1`` takes the client address from the first ``X-Forwarded-For`` hop
(only behind a proxy you control).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from aiohttp import web

from live_server.core.appkeys import FAST_REDIS, REDIS, SETTINGS
from live_server.core.errors import TooManyRequests
from live_server.core.fastredis import FastRedis
from live_server.core.tokens import Claims

if TYPE_CHECKING:
    from live_server.core.redis_conn import RedisClient


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    per: Literal["viewer", "ip"]
    limit: int
    window_s: int
    by_route: bool = False
    """Counted by the route itself in the same round trip as its first Redis work (the
    claim inside claim.lua, the booking with its context reads), not by :func:`enforce`."""


class LocalWindows:
    """Fixed-window counters in process memory (one per app): (rule, address) ->
    (window, count).

    Bounded: when it holds more than ``max_entries`` counters, those of past windows are
    dropped (a flood of distinct addresses costs memory for one window at most)."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._counts: dict[tuple[str, str], tuple[int, int]] = {}

    def hit(self, rule: str, who: str, window: int) -> int:
        key = (rule, who)
        seen = self._counts.get(key)
        count = seen[1] + 1 if seen is not None and seen[0] == window else 1
        self._counts[key] = (window, count)
        if len(self._counts) > self.max_entries:
            self._counts = {k: v for k, v in self._counts.items() if v[0] >= window}
        return count


def client_ip(request: web.Request) -> str:
    settings = request.app[SETTINGS]
    if settings.trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return request.remote or "unknown"


def rate_key(rule: Rule, who: str, window: int) -> str:
    """Counter of one rule for one viewer/IP in one window (own hash tag: one slot)."""
    return f"{{rl:{rule.name}:{who}}}:{window}"


async def enforce(request: web.Request, rules: tuple[Rule, ...], claims: Claims | None) -> None:
    """Raise :class:`TooManyRequests` if one of the route's rules is over its limit."""
    if not rules:
        return
    settings = request.app[SETTINGS]
    if not settings.rate_limits:
        return
    now = time.time()
    ip = client_ip(request)
    for rule in rules:
        if rule.by_route:
            continue
        window = int(now // rule.window_s)
        if rule.per == "viewer":
            if claims is None or not claims.subject:
                continue
            fast = request.app[FAST_REDIS]
            if fast is not None:
                count = await queue_viewer_count(fast, rule, claims.subject, now)
            else:
                count = await count_viewer(request.app[REDIS], rule, claims.subject, now)
        else:
            if ip in settings.rate_limit_exempt:
                continue
            count = request.app[LOCAL_LIMITS].hit(rule.name, ip, window)
        check(rule, int(count), now)


def check(rule: Rule, count: int, now: float) -> None:
    """Raise :class:`TooManyRequests` when ``count`` (this request included) is over."""
    if count > rule.limit:
        window = int(now // rule.window_s)
        retry = (window + 1) * rule.window_s - now
        raise TooManyRequests(
            f"too many requests ({rule.limit} per {rule.window_s}s per {rule.per}); "
            f"retry in {max(1, round(retry))}s",
            retry_after=retry,
        )


_COUNT_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def queue_viewer_count(fast: FastRedis, rule: Rule, viewer_id: str, now: float) -> Awaitable[int]:
    """Count one request of a viewer on the auto-pipelined connection, queued at once (so a
    caller can queue its own reads behind it for the same write); await the count.

    One tiny script: count, and give a new window's counter its expiry."""
    script = fast.script(_COUNT_LUA)
    key = rate_key(rule, viewer_id, int(now // rule.window_s))
    return script(keys=[key], args=[rule.window_s + 1])


async def count_viewer(redis: RedisClient, rule: Rule, viewer_id: str, now: float) -> int:
    """The same with redis-py (a cluster): one MULTI on the counter's own slot."""
    key = rate_key(rule, viewer_id, int(now // rule.window_s))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, rule.window_s + 1)
        count, _ = await pipe.execute()
    return int(count)


LOCAL_LIMITS: web.AppKey[LocalWindows] = web.AppKey("local_limits")
