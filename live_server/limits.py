"""Rate limits on the flash-crowd routes (claim, booking, questions): per viewer and per IP.

One table, checked by the route wrapper in :mod:`live_server.api` after authentication.
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
    in_script: bool = False
    """Counted by the route's own Lua script in the same round trip (the claim), not here."""


CLAIM = "/api/v1/rooms/{room}/campaigns/{campaign}/claim"
CLAIM_PER_VIEWER = Rule("claim-viewer", "viewer", 10, 10, in_script=True)
"""Per viewer and campaign: folded into claim.lua (a flash claim is one round trip)."""
RULES: dict[tuple[str, str], tuple[Rule, ...]] = {
    ("POST", CLAIM): (
        CLAIM_PER_VIEWER,
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
    now = time.time()
    ip = client_ip(request)
    for rule in rules:
        if rule.in_script:
            continue
        window = int(now // rule.window_s)
        if rule.per == "viewer":
            if claims is None or not claims.subject:
                continue
            key = rate_key(rule, claims.subject, window)
            fast = request.app[appkeys.FAST_REDIS]
            if fast is not None:
                # Pipelined on the shared connection: create with its expiry if absent,
                # then count (every counter has a TTL whatever happens between the two).
                created = fast.execute("SET", key, 0, "EX", rule.window_s + 1, "NX")
                counted = fast.execute("INCR", key)
                await created
                count = await counted
            else:
                async with request.app[appkeys.REDIS].pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, rule.window_s + 1)
                    count, _ = await pipe.execute()
        else:
            if ip in settings.rate_limit_exempt:
                continue
            count = request.app[appkeys.LOCAL_LIMITS].hit(rule.name, ip, window)
        if int(count) > rule.limit:
            retry = (window + 1) * rule.window_s - now
            raise TooManyRequests(
                f"too many requests ({rule.limit} per {rule.window_s}s per {rule.per}); "
                f"retry in {max(1, round(retry))}s",
                retry_after=retry,
            )
