"""HTTP surface of the funnel: the stats report (JSON or CSV) and the tap counter."""

from __future__ import annotations

from aiohttp import web

from live_server.core.tokens import Role
from live_server.stats.funnel import report_csv
from live_server.stats.models import RoomStats, StatsQuery, TapCounted, TapIn
from live_server.stats.wiring import STATS
from live_server.web.api import Api, Call

api = Api()
TAG = "stats"


@api.get(
    "/api/v1/rooms/{room}/stats", summary="The room's funnel, per store and in total",
    tag=TAG, roles=[Role.HOST], scope="room", query=StatsQuery, response=RoomStats,
    errors=[404],
)  # fmt: skip
async def room_stats(call: Call[None, StatsQuery]) -> RoomStats | web.Response:
    """Viewers (peak, unique), booking taps, bookings, cancellations, arrivals, coupons
    claimed and redeemed, redeemed order amount, conversion rates, and the credit split
    (``store_share`` of the redeemed amount to the store, the rest to the live team).
    ``?format=csv`` returns the same rows as CSV (total first)."""
    report = await call.app[STATS].report(call.path("room"))
    if call.query.format == "csv":
        return web.Response(
            text=report_csv(report),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{report.room_id}-stats.csv"'},
        )
    return report


@api.post(
    "/api/v1/rooms/{room}/taps", summary="Count a tap on the booking button", tag=TAG,
    roles=[Role.VIEWER], scope="room", body=TapIn, response=TapCounted, status=201,
    errors=[404],
)  # fmt: skip
async def booking_tap(call: Call[TapIn, None]) -> TapCounted:
    """The widget calls this when the viewer taps "book a visit" (the funnel's second step)."""
    taps = await call.app[STATS].tap(call.path("room"), call.who.subject, call.body.store_id)
    return TapCounted(booking_taps=taps)
