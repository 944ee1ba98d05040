"""Browser pages of guides and tasks: a guide's phone page, the brand's leaderboard and its
community groups report.

Templates in ``static/pages/`` (guide.html, leaderboard.html, report.html) with their
scripts built from ``widgets/src`` (guide.js, leaderboard.js, report.js); tokens travel in
the URL fragment, as on every page (see :mod:`live_server.web.pages`).
"""

from __future__ import annotations

from aiohttp import web

from live_server.web.api import Api, Call
from live_server.web.pages import _checked_id, render_page

api = Api()
TAG = "pages"


@api.get(
    "/guide/{store}", summary="A store guide's phone page (HTML; guide token in #token=)",
    tag=TAG, errors=[404],
)  # fmt: skip
async def guide_page(call: Call[None, None]) -> web.Response:
    """My tasks with the customer card, one-tap accept / contacted / arrived / no-show,
    live over Socket.IO /store with the guide's token."""
    return render_page(call.request, "guide.html", store=_checked_id(call, "store"))


@api.get(
    "/leaderboard/{brand}",
    summary="The brand's guides and stores ranked (HTML; ops or staff token in #token=)",
    tag=TAG, errors=[404],
)  # fmt: skip
async def leaderboard_page(call: Call[None, None]) -> web.Response:
    """Guides and stores ranked by credit (70/30 split), arrivals, orders; refreshed live."""
    return render_page(call.request, "leaderboard.html", brand=_checked_id(call, "brand"))


@api.get(
    "/report/{brand}",
    summary="The brand's community groups report with charts (HTML; ops token in #token=)",
    tag=TAG, errors=[404],
)  # fmt: skip
async def group_report_page(call: Call[None, None]) -> web.Response:
    """Per group: members joined, questions, join gifts issued and redeemed, bookings and
    visits by members, as SVG bars; refreshed every few seconds while visible."""
    return render_page(call.request, "report.html", brand=_checked_id(call, "brand"))
