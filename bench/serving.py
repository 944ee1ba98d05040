"""Helpers shared by the benchmarks that start ``live-server serve``."""

from __future__ import annotations

import time
import urllib.request


def wait_workers(base: str, workers: int, timeout: float = 60) -> set[str]:
    """Poll ``/healthz`` on fresh connections until ``workers`` distinct processes answered.

    ``/readyz`` answering proves one worker is up; with ``--workers 2`` the second starts
    after it, and a load generator that connects before it listens puts every connection
    on the first (SO_REUSEPORT spreads only over the sockets that exist)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as resp:
                seen.add(resp.headers.get("X-Served-By", ""))
        except OSError:
            pass
        if len(seen - {""}) >= workers:
            return seen
        time.sleep(0.02)  # a poll with a deadline, not a synchronisation sleep
    raise RuntimeError(f"only {len(seen)} of {workers} workers answered within {timeout}s")
