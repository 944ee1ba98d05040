"""HTTP routes (placeholder, filled below)."""

from __future__ import annotations

from live_server.api import Api

api = Api()
