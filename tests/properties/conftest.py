"""A real server for the HTTP properties: ``live-server serve --demo`` in a subprocess.

Hypothesis drives plain synchronous HTTP (urllib) at it, so a property runs many examples
against the real stack without an event loop in the test.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.harness import ServerProcess


@pytest.fixture(scope="package")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("properties"), workers=1, fsync="everysec")
    server.start()
    yield server
    server.stop()


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """(status, JSON body or raw bytes, headers) of one request; 4xx/5xx are answers too."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        raw, status, hdrs = err.read(), err.code, dict(err.headers)
        err.close()
    try:
        return status, json.loads(raw), hdrs
    except ValueError:
        return status, raw, hdrs
