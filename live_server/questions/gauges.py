"""Cluster-wide families of the answer outbox, read from Redis when /metrics is scraped
(core.metrics: computed once per scrape, not per worker)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from live_server.core import keys
from live_server.core.metrics import ScrapeHook
from live_server.core.redis_conn import RedisClient
from live_server.core.util import as_text


def outbox_gauges(redis: Callable[[], RedisClient]) -> ScrapeHook:
    """A scrape hook: notices waiting in the answer outbox (undelivered or unacknowledged)
    and the ones given up on (dead letters), over every room with an outbox."""

    async def outbox_families() -> Iterable[Metric]:
        client = redis()
        rooms = sorted(as_text(r) for r in await client.smembers(keys.QUESTION_OUTBOX_ROOMS))
        waiting = dead = 0
        if rooms:
            pipe = client.pipeline(transaction=False)
            for room_id in rooms:
                pipe.xinfo_groups(keys.question_outbox(room_id))
                pipe.xlen(keys.question_outbox_dead(room_id))
            replies = await pipe.execute(raise_on_error=False)
            for groups, dead_letters in zip(replies[::2], replies[1::2], strict=True):
                dead += dead_letters if isinstance(dead_letters, int) else 0
                for group in groups if isinstance(groups, list) else []:
                    if as_text(group["name"]) == keys.QUESTION_OUTBOX_GROUP:
                        waiting += int(group.get("pending") or 0) + int(group.get("lag") or 0)
        pending = GaugeMetricFamily(
            "live_outbox_pending",
            "Messages waiting in an outbox: not yet delivered, or delivered and not acked",
            labels=["outbox"],
        )
        pending.add_metric(["answers"], waiting)
        dead_family = GaugeMetricFamily(
            "live_outbox_dead_letters", "Messages an outbox gave up on", labels=["outbox"]
        )
        dead_family.add_metric(["answers"], dead)
        return [pending, dead_family]

    return outbox_families
