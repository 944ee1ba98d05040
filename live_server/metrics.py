"""Prometheus metrics, one registry per application (tests build many apps)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        if len(cache) < 10_000:  # label values are rooms, stores, outcomes: bounded in use
            cache[values] = child
    return child


class Metrics:
    """Every metric the server exports. Domains add theirs through :meth:`counter` etc."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "live_http_requests_total", "HTTP requests by route and status",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "live_http_request_seconds", "HTTP request latency by route",
            ["method", "route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip
        self.sockets = Gauge(
            "live_socketio_connected", "Connected Socket.IO clients per namespace",
            ["namespace"], registry=self.registry,
        )  # fmt: skip
        self.redis_errors = Counter(
            "live_redis_errors_total", "Redis errors seen while serving requests",
            ["kind"], registry=self.registry,
        )  # fmt: skip
        self.socket_events_dropped = Counter(
            "live_socketio_events_dropped_total",
            "Client events dropped (unknown, oversized or rate limited)",
            ["namespace", "reason"], registry=self.registry,
        )  # fmt: skip

    def observe_request(self, method: str, route: str, status: str, seconds: float) -> None:
        """Count one request and its latency (children looked up once: :func:`labelled`)."""
        labelled(self.requests, method, route, status).inc()
        labelled(self.latency, method, route).observe(seconds)

    def counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, doc, list(labels), registry=self.registry)

    def gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, list(labels), registry=self.registry)

    def histogram(
        self, name: str, doc: str, labels: tuple[str, ...] = (), buckets: tuple[float, ...] | None = None
    ) -> Histogram:
        if buckets is None:
            return Histogram(name, doc, list(labels), registry=self.registry)
        return Histogram(name, doc, list(labels), registry=self.registry, buckets=buckets)
