"""The Socket.IO channels over time: per-second latency and throughput, and their page.

Locust's own ``report.html`` charts HTTP and the run's totals; it does not chart one
request name against time. The run records every Socket.IO measurement it reports
(``DELIVERY <namespace> <event>``, ``SIO connect <namespace>``, see ``loadtest.run.Run.fire``)
in a :class:`Timeline`: one bucket per second and series, a series being a channel (the
namespace of a delivery) or the connects. ``report.json`` keeps the buckets
(``timeline``), and :func:`write_channel_report` draws them as ``channels.html``: plain
HTML with inline SVG (no script, no CDN), one latency chart (p50/p95/p99 per second)
and one throughput chart (messages per second) per series, and the per-event table.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

CHARTED_TYPES = ("DELIVERY", "SIO")
BUCKET_S = 1.0


def series_of(request_type: str, name: str) -> str | None:
    """The series a measurement belongs to: ``/live`` for ``DELIVERY /live coupon.dropped``,
    ``SIO connect`` for every connect; None for what is not charted here."""
    if request_type == "DELIVERY":
        return name.split(" ", 1)[0]
    if request_type == "SIO":
        return "SIO connect"
    return None


class Timeline:
    """Per-second buckets of latencies (ms) and failures, per series."""

    def __init__(self) -> None:
        self._latencies: dict[tuple[str, int], list[float]] = defaultdict(list)
        self._failures: dict[tuple[str, int], int] = defaultdict(int)

    def add(self, request_type: str, name: str, ms: float, failed: bool, at_s: float) -> None:
        series = series_of(request_type, name)
        if series is None:
            return
        key = (series, int(at_s // BUCKET_S))
        if failed:
            self._failures[key] += 1
        else:
            self._latencies[key].append(ms)

    def as_dict(self) -> dict[str, Any]:
        """``{"bucket_s", "series": {name: [{t, count, failures, p50, p95, p99, max}]}}``."""
        keys = sorted(set(self._latencies) | set(self._failures))
        series: dict[str, list[dict[str, float]]] = defaultdict(list)
        for name, bucket in keys:
            values = sorted(self._latencies.get((name, bucket), ()))
            series[name].append({
                "t": bucket * BUCKET_S,
                "count": len(values),
                "failures": self._failures.get((name, bucket), 0),
                "p50": _percentile(values, 0.50),
                "p95": _percentile(values, 0.95),
                "p99": _percentile(values, 0.99),
                "max": values[-1] if values else 0.0,
            })  # fmt: skip
        return {"bucket_s": BUCKET_S, "series": dict(sorted(series.items()))}


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return round(values[min(len(values) - 1, math.ceil(q * len(values)) - 1)], 1)


# --- the page -------------------------------------------------------------------------

WIDTH, HEIGHT = 760, 230
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 14, 34
LINES = (("p50", "#2b8a3e"), ("p95", "#e67700"), ("p99", "#c92a2a"))
THROUGHPUT_COLOR = "#1c7ed6"


def write_channel_report(report: dict[str, Any], path: Path, locust_report: str = "") -> Path:
    """Write ``channels.html`` for a run's ``report.json`` contents; returns ``path``."""
    timeline = report.get("timeline") or {"series": {}}
    title = f"Socket.IO channels: {report.get('profile', '?')} run, {report.get('verdict', '?')}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:24px;color:#212529}"
        "h2{margin-top:32px}table{border-collapse:collapse}"
        "td,th{border:1px solid #dee2e6;padding:3px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}svg{display:block;margin:6px 0}"
        ".legend span{margin-right:14px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>Latency of each Socket.IO channel per second of the run (DELIVERY: receive time "
        "minus the event's server <code>ts</code>; SIO connect: websocket + namespace "
        "handshake), and messages per second."
        + (f' HTTP and totals: <a href="{html.escape(locust_report)}">locust\'s report</a>.'
           if locust_report else "")
        + "</p>",
    ]  # fmt: skip
    series = timeline.get("series", {})
    if not series:
        parts.append("<p>No Socket.IO measurements were recorded.</p>")
    for name, points in series.items():
        parts.append(f'<section class="channel" data-series="{html.escape(name)}">')
        parts.append(f"<h2>{html.escape(name)}</h2>")
        total = sum(p["count"] for p in points)
        failures = sum(p["failures"] for p in points)
        parts.append(f"<p>{total} measured, {failures} failed.</p>")
        parts.append('<p class="legend">' + "".join(
            f'<span style="color:{color}">&#9632; {label}</span>' for label, color in LINES
        ) + "</p>")  # fmt: skip
        parts.append(_chart(
            points, [(label, color) for label, color in LINES], "ms", f"{name} latency"
        ))  # fmt: skip
        parts.append(_chart(
            [{**p, "rate": p["count"] / timeline.get("bucket_s", BUCKET_S)} for p in points],
            [("rate", THROUGHPUT_COLOR)], "msg/s", f"{name} throughput",
        ))  # fmt: skip
        parts.append("</section>")
    rows = [r for r in report.get("requests", []) if r.get("type") in CHARTED_TYPES]
    if rows:
        parts.append(
            "<h2>Per event</h2><table><tr><th>request</th><th>count</th><th>fail</th>"
            "<th>p50</th><th>p95</th><th>p99</th><th>max</th></tr>"
        )
        for r in rows:
            parts.append(
                f"<tr><td>{html.escape(r['type'] + ' ' + r['name'])}</td><td>{r['count']}</td>"
                f"<td>{r['failures']}</td><td>{r['p50']:.0f}</td><td>{r['p95']:.0f}</td>"
                f"<td>{r['p99']:.0f}</td><td>{r['max']:.0f}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _chart(
    points: list[dict[str, float]], lines: list[tuple[str, str]], unit: str, label: str
) -> str:
    """One inline SVG line chart: time (s) across, ``unit`` up, a polyline per key."""
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    t_max = max((p["t"] for p in points), default=0.0) or 1.0
    y_max = _nice(max((p[key] for p in points for key, _ in lines), default=0.0))

    def x(t: float) -> float:
        return LEFT + inner_w * t / t_max

    def y(v: float) -> float:
        return TOP + inner_h * (1 - v / y_max)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{html.escape(label)}">',
        f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{inner_h}" fill="#f8f9fa" '
        'stroke="#adb5bd"/>',
    ]
    for i in range(5):  # horizontal grid with its values
        v = y_max * i / 4
        out.append(
            f'<line x1="{LEFT}" x2="{LEFT + inner_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#dee2e6"/>'
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{v:g}</text>"
        )
    for i in range(6):  # time ticks
        t = t_max * i / 5
        out.append(
            f'<text x="{x(t):.1f}" y="{TOP + inner_h + 16}" font-size="11" '
            f'text-anchor="middle">{t:.0f}</text>'
        )
    out.append(
        f'<text x="{LEFT + inner_w / 2}" y="{HEIGHT - 3}" font-size="11" '
        f'text-anchor="middle">seconds into the run</text>'
        f'<text x="12" y="{TOP + inner_h / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {TOP + inner_h / 2})">{html.escape(unit)}</text>'
    )
    for key, color in lines:
        coords = " ".join(f"{x(p['t']):.1f},{y(p[key]):.1f}" for p in points)
        out.append(
            f'<polyline data-key="{key}" fill="none" stroke="{color}" stroke-width="1.6" '
            f'points="{coords}"/>'
        )
    out.append("</svg>")
    return "".join(out)


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)
