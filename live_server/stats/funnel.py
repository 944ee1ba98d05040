"""Pure funnel arithmetic: raw counters in, report rows out (no Redis, no HTTP)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Mapping

from live_server.core import keys
from live_server.core.util import as_text
from live_server.guides.models import GuideRow
from live_server.stats.models import CreditRule, Engagement, FunnelRow, RoomStats

COUNTERS = (
    keys.STAT_BOOKING_TAPS, keys.STAT_BOOKINGS, keys.STAT_CANCELLATIONS, keys.STAT_ARRIVALS,
    "coupons_claimed", "coupons_redeemed", "redeemed_amount",
)  # fmt: skip
TOTAL = "total"


def split_counters(raw: Mapping[bytes | str, bytes | str]) -> dict[str, dict[str, float]]:
    """``{"total:bookings": "3", "s1:bookings": "2"}`` -> ``{"total": {...}, "s1": {...}}``."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for field, value in raw.items():
        name = as_text(field)
        scope, sep, counter = name.partition(":")
        if not sep:
            continue
        try:
            out[scope][counter] = float(value)
        except ValueError:
            continue
    return dict(out)


def _rate(num: float, den: float | None) -> float | None:
    return round(num / den, 4) if den else None


def funnel_row(
    scope: str,
    counters: Mapping[str, float],
    store_share: float,
    *,
    store_name: str | None = None,
    viewers_peak: int | None = None,
    viewers_unique: int | None = None,
    unique_tappers: int | None = None,
    due: tuple[int, int] | None = None,
) -> FunnelRow:
    """``due``: (bookings not cancelled whose slot has started, arrivals among them)."""

    def n(name: str) -> int:
        return int(counters.get(name, 0))

    taps, bookings, cancellations, arrivals = (
        n(keys.STAT_BOOKING_TAPS), n(keys.STAT_BOOKINGS), n(keys.STAT_CANCELLATIONS),
        n(keys.STAT_ARRIVALS),
    )  # fmt: skip
    claimed, redeemed = n("coupons_claimed"), n("coupons_redeemed")
    amount = round(float(counters.get("redeemed_amount", 0.0)), 2)
    store_credit = round(amount * store_share, 2)
    return FunnelRow(
        scope=scope,
        store_name=store_name,
        viewers_peak=viewers_peak,
        viewers_unique=viewers_unique,
        booking_taps=taps,
        unique_tappers=unique_tappers,
        bookings=bookings,
        preview_bookings=n("preview_bookings"),
        cancellations=cancellations,
        arrivals=arrivals,
        coupons_claimed=claimed,
        coupons_redeemed=redeemed,
        redeemed_amount=amount,
        tap_rate=_rate(unique_tappers or 0, viewers_unique) if viewers_unique is not None else None,
        booking_rate=_rate(bookings, taps),
        arrival_rate=_rate(due[1], due[0]) if due is not None else None,
        bookings_due=due[0] if due is not None else 0,
        redemption_rate=_rate(redeemed, claimed),
        visit_rate=_rate(arrivals, viewers_unique) if viewers_unique is not None else None,
        store_credit=store_credit,
        live_team_credit=round(amount - store_credit, 2),
        sales_amount=n("sales_cents") / 100,
        sales_store_credit=(n("sales_cents") - n("live_credit_cents")) / 100,
        sales_live_team_credit=n("live_credit_cents") / 100,
    )


def build_report(
    room_id: str,
    generated_at: str,
    raw: Mapping[bytes | str, bytes | str],
    *,
    store_share: float,
    viewers_peak: int,
    viewers_unique: int,
    unique_tappers: int,
    store_name: Callable[[str], str | None] = lambda _id: None,
    due: Mapping[str, tuple[int, int]] | None = None,
    guides: list[GuideRow] | None = None,
) -> RoomStats:
    """The room's funnel report from its counters hash and viewer numbers. ``due``: per
    scope (``total`` and store ids), bookings whose slot has started and their arrivals."""
    scopes = split_counters(raw)
    scopes.pop("guide", None)  # "guide:<store>:<guide>:<metric>": the guides rows
    due = due or {}
    total_counters = scopes.pop(TOTAL, {})
    peak = max(viewers_peak, int(total_counters.get(keys.STAT_PEAK_VIEWERS, 0)))
    total = funnel_row(
        TOTAL, total_counters, store_share, viewers_peak=peak,
        viewers_unique=viewers_unique, unique_tappers=unique_tappers,
        due=due.get(TOTAL, (0, 0)),
    )  # fmt: skip
    stores = [
        funnel_row(sid, counters, store_share, store_name=store_name(sid), due=due.get(sid, (0, 0)))
        for sid, counters in sorted(scopes.items())
    ]
    return RoomStats(
        room_id=room_id,
        generated_at=generated_at,
        credit=CreditRule(store_share=store_share, live_team_share=round(1 - store_share, 4)),
        total=total,
        stores=stores,
        engagement=Engagement(
            **{name: int(total_counters.get(name, 0)) for name in keys.ENGAGEMENT_COUNTERS}
        ),
        guides=guides or [],
    )


def report_csv(report: RoomStats) -> str:
    """One CSV row per store plus the total row first; header = FunnelRow fields."""
    columns = list(FunnelRow.model_fields)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["room_id", *columns])
    for row in [report.total, *report.stores]:
        values = row.model_dump()
        writer.writerow(
            [report.room_id, *("" if values[c] is None else values[c] for c in columns)]
        )
    return buf.getvalue()
