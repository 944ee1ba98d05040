"""Rate limits on the flash-crowd routes (claim, booking, questions): per viewer and per IP.

One table, checked by the route wrapper in :mod:`live_server.api` after authentication:
a fixed window counter per (rule, who) in Redis, shared by every worker and node (its own
hash tag, so it is one slot in a cluster). Over the limit: 429 with ``Retry-After``;
nothing else runs.

Per-IP limits are deliberately generous: a store's Wi-Fi or a mobile carrier's NAT puts
many honest viewers behind one address; they stop a single scalper script, not a crowd.
Addresses in ``LIVE_RATE_LIMIT_EXEMPT`` (e.g. the load-test host) skip per-IP rules, and
``LIVE_TRUST_FORWARDED=1`` takes the client address from the first ``X-Forwarded-For`` hop
(only behind a proxy you control).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from . import appkeys
from .errors import TooManyRequests
from .tokens import Claims


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    per: Literal["viewer", "ip"]
    limit: int
    window_s: int


CLAIM = "/api/v1/rooms/{room}/campaigns/{campaign}/claim"
RULES: dict[tuple[str, str], tuple[Rule, ...]] = {
    ("POST", CLAIM): (
        Rule("claim-viewer", "viewer", 10, 10),
        Rule("claim-ip", "ip", 600, 10),
    ),
    ("POST", "/api/v1/rooms/{room}/bookings"): (
        Rule("booking-viewer", "viewer", 10, 60),
        Rule("booking-ip", "ip", 600, 60),
    ),
    ("POST", "/api/v1/rooms/{room}/questions"): (
        Rule("question-viewer", "viewer", 5, 60),
        Rule("question-ip", "ip", 300, 60),
    ),
    ("POST", "/api/v1/questions/{question}/vote"): (
        Rule("vote-viewer", "viewer", 30, 60),
        Rule("vote-ip", "ip", 1200, 60),
    ),
    ("POST", "/api/v1/rooms/{room}/viewers"): (Rule("viewer-ip", "ip", 600, 60),),
}


def client_ip(request: web.Request) -> str:
    settings = request.app[appkeys.SETTINGS]
    if settings.trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return request.remote or "unknown"


def rate_key(rule: Rule, who: str, window: int) -> str:
    """Counter of one rule for one viewer/IP in one window (own hash tag: one slot)."""
    return f"{{rl:{rule.name}:{who}}}:{window}"


async def enforce(request: web.Request, method: str, path: str, claims: Claims | None) -> None:
    """Raise :class:`TooManyRequests` if a rule of this route is over its limit."""
    rules = RULES.get((method, path))
    if not rules:
        return
    settings = request.app[appkeys.SETTINGS]
    if not settings.rate_limits:
        return
    redis = request.app[appkeys.REDIS]
    now = time.time()
    ip = client_ip(request)
    for rule in rules:
        if rule.per == "viewer":
            if claims is None or not claims.subject:
                continue
            who = claims.subject
        else:
            if ip in settings.rate_limit_exempt:
                continue
            who = ip
        window = int(now // rule.window_s)
        key = rate_key(rule, who, window)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, rule.window_s + 1)
            count, _ = await pipe.execute()
        if int(count) > rule.limit:
            retry = (window + 1) * rule.window_s - now
            raise TooManyRequests(
                f"too many requests ({rule.limit} per {rule.window_s}s per {rule.per}); "
                f"retry in {max(1, round(retry))}s",
                retry_after=retry,
            )
