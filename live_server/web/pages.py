"""Browser pages: the demo live room, the host console, the store dashboard, the stats page.

Each page is a static HTML template in ``static/pages/`` with its script and stylesheet
built from ``widgets/`` into ``static/``. The only dynamic part is the room or store id,
HTML-escaped into a ``data-`` attribute. Tokens never reach the server in a page URL:
they travel in the URL fragment (``/host/r_demo#token=...``), which browsers do not send.

Pages carry a strict Content-Security-Policy (no inline script or style at all), so a
hostile question or store name that somehow became markup could still not run script.
"""

from __future__ import annotations

import html
import re

from aiohttp import web

from live_server.core.errors import NotFound
from live_server.web.api import Api, Call
from live_server.web.assets import pages_dir

api = Api()
TAG = "pages"

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class PageNotFound(NotFound):
    title, slug = "Page not found", "page-not-found"


def content_security_policy(request: web.Request, *, framable: bool = False) -> str:
    """Same-origin everything; websockets to this host; camera QR frames are blobs."""
    host = request.host
    scheme = "wss" if request.secure else "ws"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            f"connect-src 'self' {scheme}://{host}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors *" if framable else "frame-ancestors 'none'",
        ]
    )


def page_headers(request: web.Request, *, framable: bool = False) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(request, framable=framable),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Geolocation for the widget, camera for the store's QR scan; nothing else.
        "Permissions-Policy": "geolocation=(self), camera=(self), microphone=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
    if not framable:
        headers["X-Frame-Options"] = "DENY"
    return headers


def render_page(
    request: web.Request, template: str, *, framable: bool = False, **values: str
) -> web.Response:
    """Fill ``{{name}}`` placeholders of a template with HTML-escaped values."""
    try:
        text = (pages_dir() / template).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PageNotFound(f"the page template {template} is not installed") from exc
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", html.escape(value, quote=True))
    return web.Response(
        text=text,
        content_type="text/html",
        charset="utf-8",
        headers=page_headers(request, framable=framable),
    )


def _checked_id(call: Call[None, None], name: str) -> str:
    value = call.path(name)
    if not _ID.match(value):
        raise PageNotFound(f"no {name} {value!r}")
    return value


@api.get(
    "/demo/room/{room}", summary="Demo live-room page (HTML): player, chat and the widget",
    tag=TAG, errors=[404],
)  # fmt: skip
async def demo_room_page(call: Call[None, None]) -> web.Response:
    """A stand-in video player, a chat column and the embedded booking widget."""
    return render_page(call.request, "room.html", room=_checked_id(call, "room"))


@api.get(
    "/embed/{room}", summary="The booking widget alone, for an <iframe> (HTML)", tag=TAG,
    errors=[404],
)  # fmt: skip
async def embed_page(call: Call[None, None]) -> web.Response:
    """For platforms that cannot run a third-party script: frame this page instead."""
    return render_page(call.request, "embed.html", framable=True, room=_checked_id(call, "room"))


@api.get(
    "/host/{room}", summary="Host console page (HTML; token in #token=)", tag=TAG, errors=[404]
)
async def host_page(call: Call[None, None]) -> web.Response:
    """Live question feed with pin/answer/dismiss, booking and coupon counters."""
    return render_page(call.request, "host.html", room=_checked_id(call, "room"))


@api.get(
    "/store/{store}", summary="Store dashboard page (HTML; token in #token=)", tag=TAG, errors=[404]
)
async def store_page(call: Call[None, None]) -> web.Response:
    """Today's bookings by slot, check-in, coupon redemption, live connection state."""
    return render_page(call.request, "store.html", store=_checked_id(call, "store"))


@api.get(
    "/stats/{room}", summary="Funnel stats page (HTML; token in #token=)", tag=TAG, errors=[404]
)
async def stats_page(call: Call[None, None]) -> web.Response:
    """Funnel charts per store and in total, with CSV export."""
    return render_page(call.request, "stats.html", room=_checked_id(call, "room"))
