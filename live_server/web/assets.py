"""Where the browser assets (widget bundles, page templates) are.

They are built by ``npm run build`` in ``widgets/`` into the repository's ``static/``. An
installed wheel carries them as ``live_server/_static`` (pyproject's force-include), so a
non-editable install serves its pages from any working directory. ``LIVE_STATIC_DIR``
points at another folder (a CDN origin's copy, a custom build).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

_PACKAGED = Path(__file__).resolve().parents[1] / "_static"
_CHECKOUT = Path(__file__).resolve().parents[2] / "static"


@cache
def static_dir() -> Path:
    """The folder served at ``/static/``: configured, packaged, or the checkout's."""
    configured = os.environ.get("LIVE_STATIC_DIR")
    if configured:
        return Path(configured).resolve()
    if (_PACKAGED / "pages").is_dir():
        return _PACKAGED
    return _CHECKOUT


def pages_dir() -> Path:
    """Page templates (room, host, store, stats, embed)."""
    return static_dir() / "pages"
