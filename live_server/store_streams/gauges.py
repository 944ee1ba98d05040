"""Cluster-wide families of the store streams, read from Redis when /metrics is scraped:
each store's stream length and dead letters, and each consumer group's lag and pending
entries (core.metrics: computed once per scrape, not per worker)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily, Metric

from live_server.core import keys
from live_server.core.metrics import ScrapeHook
from live_server.core.redis_conn import RedisClient
from live_server.core.util import as_text

MAX_STORES_SCRAPED = 2_000
"""Stores read per scrape (one pipelined round trip of 3 commands each); a chain larger
than this reports its first stores only (the label's bound)."""


def store_stream_gauges(
    redis: Callable[[], RedisClient], store_ids: Callable[[], list[str]]
) -> ScrapeHook:
    """A scrape hook reading every store's stream, dead letters and consumer groups."""

    async def store_stream_families() -> Iterable[Metric]:
        ids = sorted(store_ids())[:MAX_STORES_SCRAPED]
        length = GaugeMetricFamily(
            "live_store_stream_length", "Entries in a store's event stream", labels=["store"]
        )
        dead = GaugeMetricFamily(
            "live_store_stream_dead_letters",
            "Entries a consumer group gave up on (the store's dead-letter stream)",
            labels=["store"],
        )
        lag = GaugeMetricFamily(
            "live_store_stream_group_lag",
            "Entries of a store's stream not yet delivered to a consumer group",
            labels=["store", "group"],
        )
        pending = GaugeMetricFamily(
            "live_store_stream_group_pending",
            "Entries delivered to a consumer group and not yet acknowledged",
            labels=["store", "group"],
        )
        if ids:
            pipe = redis().pipeline(transaction=False)
            for store_id in ids:
                pipe.xlen(keys.store_stream(store_id))
                pipe.xlen(keys.store_dead_letter(store_id))
                pipe.xinfo_groups(keys.store_stream(store_id))
            replies = await pipe.execute(raise_on_error=False)
            for i, store_id in enumerate(ids):
                entries, dead_letters, groups = replies[3 * i : 3 * i + 3]
                length.add_metric([store_id], entries if isinstance(entries, int) else 0)
                dead.add_metric([store_id], dead_letters if isinstance(dead_letters, int) else 0)
                if not isinstance(groups, list):  # no stream yet: no groups
                    continue
                for group in groups:
                    name = as_text(group["name"])
                    pending.add_metric([store_id, name], int(group.get("pending") or 0))
                    if group.get("lag") is not None:  # unknown after some trims
                        lag.add_metric([store_id, name], int(group["lag"]))
        return [length, dead, lag, pending]

    return store_stream_families
