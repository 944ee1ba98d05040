"""Prometheus metrics, one registry per application (tests build many apps).

Three kinds of family, so that one scrape of ``--workers N`` adds up (docs/OPERATIONS.md):

* **summed**: what each worker counts (requests, claims, sockets, fan-out). Every worker
  keeps its own; the worker that answers a scrape asks its siblings for a snapshot of theirs
  over a Unix socket and adds them up sample by sample (:func:`merge_snapshots`). A gauge
  registered with ``merge="max"`` (a value every worker reads from Redis) takes the largest
  instead of the sum.
* **per worker**: ``process_*``, ``python_gc_*``, ``python_info`` of each worker, labelled
  ``worker`` when there are several.
* **cluster-wide**: values read from Redis at scrape time (stream length and lag, outbox,
  dead letters), build info and the supervisor's restarts: computed once, by the worker that
  answers (:attr:`Metrics.scrape_hooks`), never summed.

Names follow the Prometheus conventions: base units (``_seconds``, ``_bytes``), ``_total``
on counters, and labels with a bounded set of values only (no room or viewer ids).
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Literal

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

MergeMode = Literal["sum", "max"]
ScrapeHook = Callable[[], Awaitable[Iterable[Metric]]]
"""An async function returning cluster-wide families, called by the worker answering a
scrape (e.g. a domain reading stream lengths from Redis)."""

SCRAPE_HOOK_TIMEOUT_S = 3.0

# A snapshot of one worker's families, as sent to the worker answering a scrape:
# [name, documentation, type, unit, merge, [[sample name, labels, value], ...]]
Snapshot = list[list[Any]]


class RequestMetrics:
    """``live_http_requests_total`` (counter: method, route, status) and
    ``live_http_request_duration_seconds`` (histogram: method, route), counted in plain
    dicts and turned into Prometheus families when scraped. Every request passes here: two
    prometheus_client children cost ~4 us a request (a lock and a validation per call, a
    Python loop over the buckets), this ~0.5 us."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        # (method, route) -> [per-bucket counts..., +Inf count, sum of seconds]
        self.latency: dict[tuple[str, str], list[float]] = {}

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        key = (method, route, status)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        hist = self.latency.get((method, route))
        if hist is None:
            hist = self.latency[(method, route)] = [0] * (len(LATENCY_BUCKETS) + 2)
        hist[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        hist[-1] += seconds

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "live_http_requests", "HTTP requests by route and status",
            labels=["method", "route", "status"],
        )  # fmt: skip
        for labels, count in list(self.counts.items()):
            requests.add_metric(list(labels), count)
        yield requests
        latency = HistogramMetricFamily(
            "live_http_request_duration_seconds",
            "HTTP request latency by route",
            labels=["method", "route"],
        )
        for route_labels, hist in list(self.latency.items()):
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip((*LATENCY_BUCKETS, float("inf")), hist[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((_le(bound), cumulative))
            latency.add_metric(list(route_labels), buckets, sum_value=hist[-1])
        yield latency


def _le(bound: float) -> str:
    """A bucket bound as prometheus_client writes it (0.001, 1.0, 2.5, +Inf)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def labelled(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once per label set: prometheus_client validates
    and takes a lock on every ``labels()`` call, which shows on the flash paths (claims,
    bookings). The cache lives on the metric itself (one registry per app in tests)."""
    cache: dict[tuple[str, ...], Any] | None = getattr(metric, "_live_children", None)
    if cache is None:
        cache = {}
        metric._live_children = cache
    child = cache.get(values)
    if child is None:
        child = metric.labels(*values)
        if len(cache) < 10_000:  # label values are outcomes, namespaces: bounded
            cache[values] = child
    return child


class _Families:
    """A collector that yields families built elsewhere (a merged scrape)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def render(families: Sequence[Metric]) -> bytes:
    """The Prometheus text exposition of ``families``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


class Metrics:
    """Every metric the server exports. Domains add theirs through :meth:`counter` etc.;
    families read from Redis at scrape time join :attr:`scrape_hooks`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        """Summed across workers."""
        self.worker_registry = CollectorRegistry(auto_describe=False)
        """Per worker: the standard process, GC and platform families."""
        for standard in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            self.worker_registry.register(standard)
        self.merge_max: set[str] = set()
        self.scrape_hooks: list[ScrapeHook] = []
        self.requests = RequestMetrics()
        self.registry.register(self.requests)
        self.sockets = self.gauge(
            "live_socketio_connected", "Connected Socket.IO clients per namespace",
            ("namespace",),
        )  # fmt: skip
        self.socket_connects = self.counter(
            "live_socketio_connects_total", "Socket.IO connections accepted per namespace",
            ("namespace",),
        )  # fmt: skip
        self.socket_events_undeclared = self.counter(
            "live_socketio_events_undeclared_total",
            "Kinds of server events sent without a declaration in core/socket_events.py "
            "(so missing from /asyncapi.json); counted once per kind and process",
            ("namespace",),
        )
        self.redis_errors = self.counter(
            "live_redis_errors_total", "Redis errors seen while serving requests", ("kind",)
        )
        self.socket_events_dropped = self.counter(
            "live_socketio_events_dropped_total",
            "Client events dropped (unknown, oversized or rate limited)",
            ("namespace", "reason"),
        )
        self.bookings = self.counter(
            "live_bookings_total",
            "Booking attempts by outcome: ok, replayed (a repeated Idempotency-Key), held "
            "(the viewer holds this slot), full",
            ("outcome",),
        )

    def observe_request(self, method: str, route: str, status: str, seconds: float) -> None:
        """Count one request and its latency (:class:`RequestMetrics`)."""
        self.requests.observe(method, route, status, seconds)

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, doc, list(labels), registry=self.registry)

    def gauge(
        self, name: str, doc: str, labels: tuple[str, ...] = (), merge: MergeMode = "sum"
    ) -> Gauge:
        """A gauge; ``merge="max"`` when every worker reports the same cluster-wide value
        (adding them up would count it once per worker)."""
        if merge == "max":
            self.merge_max.add(name)
        return Gauge(name, doc, list(labels), registry=self.registry)

    def histogram(
        self,
        name: str,
        doc: str,
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] | None = None,
    ) -> Histogram:
        if buckets is None:
            return Histogram(name, doc, list(labels), registry=self.registry)
        return Histogram(name, doc, list(labels), registry=self.registry, buckets=buckets)

    # --- scraping --------------------------------------------------------------------------

    async def cluster_families(self) -> list[Metric]:
        """Every scrape hook's families; one that fails or hangs is logged and left out
        (a scrape during a Redis outage still returns the process's own numbers)."""
        out: list[Metric] = []
        for hook in self.scrape_hooks:
            try:
                out.extend(await asyncio.wait_for(hook(), SCRAPE_HOOK_TIMEOUT_S))
            except Exception as exc:  # Redis down or slow: the rest of the scrape still counts
                name = getattr(hook, "__name__", hook)
                log.warning("metrics scrape hook %s failed: %r", name, exc)
        return out

    def local_families(self) -> list[Metric]:
        """This process's families (summed and per-worker), for a single-worker scrape."""
        return [*self.registry.collect(), *self.worker_registry.collect()]

    def snapshot(self) -> Snapshot:
        """This worker's families as plain data, for the worker answering a scrape."""
        out: Snapshot = []
        for registry, per_worker in ((self.registry, False), (self.worker_registry, True)):
            for family in registry.collect():
                mode = "worker" if per_worker else (
                    "max" if _exposed_name(family) in self.merge_max else "sum"
                )  # fmt: skip
                samples = [
                    [s.name, s.labels, s.value]
                    for s in family.samples
                    if not s.name.endswith("_created")  # per-process start times: not summable
                ]
                out.append(
                    [family.name, family.documentation, family.type, family.unit, mode, samples]
                )
        return out


def _exposed_name(family: Metric) -> str:
    return family.name + "_total" if family.type == "counter" else family.name


def merge_snapshots(snapshots: Sequence[tuple[str, Snapshot]]) -> list[Metric]:
    """Add up the workers' snapshots (``(worker id, snapshot)`` pairs): each sample of a
    summed family is the sum over workers (the largest for ``max``); per-worker families
    keep one sample per worker, labelled ``worker``."""
    heads: dict[str, tuple[str, str, str, str]] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for worker, snapshot in snapshots:
        for name, doc, kind, unit, mode, samples in snapshot:
            heads.setdefault(name, (doc, kind, unit, mode))
            merged = values.setdefault(name, {})
            for sample_name, labels, value in samples:
                if mode == "worker":
                    labels = {**labels, "worker": worker}
                key = (sample_name, tuple(sorted(labels.items())))
                if key not in merged:
                    merged[key] = float(value)
                elif mode == "max":
                    merged[key] = max(merged[key], float(value))
                else:
                    merged[key] += float(value)
    families: list[Metric] = []
    for name, (doc, kind, unit, _mode) in heads.items():
        family = Metric(name, doc, kind, unit)
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
        families.append(family)
    return families
