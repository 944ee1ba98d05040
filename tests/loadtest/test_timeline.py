"""The Socket.IO channels page of a load run: per-second buckets and inline SVG charts."""

from __future__ import annotations

import re
from pathlib import Path

from loadtest.timeline import Timeline, series_of, write_channel_report


def test_measurements_go_to_their_channel_per_second() -> None:
    timeline = Timeline()
    for i in range(100):
        timeline.add("DELIVERY", "/live coupon.dropped", float(i + 1), False, 0.5)
    timeline.add("DELIVERY", "/live room.viewers", 7.0, False, 1.2)
    timeline.add("DELIVERY", "/store booking.created", 3.0, True, 1.9)
    timeline.add("SIO", "connect /live", 40.0, False, 0.1)
    timeline.add("POST", "/api/v1/rooms/[room]/bookings", 12.0, False, 0.1)  # HTTP: locust's
    series = timeline.as_dict()["series"]
    assert set(series) == {"/live", "/store", "SIO connect"}
    first, second = series["/live"]
    assert (first["t"], first["count"], first["p50"], first["p95"], first["p99"]) == (
        0.0, 100, 50.0, 95.0, 99.0,
    )  # fmt: skip
    assert (second["t"], second["count"], second["max"]) == (1.0, 1, 7.0)
    assert series["/store"] == [
        {"t": 1.0, "count": 0, "failures": 1, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ]
    assert series_of("COUPON", "claim-to-code") is None


def test_the_page_has_a_latency_and_a_throughput_chart_per_channel(tmp_path: Path) -> None:
    timeline = Timeline()
    for second in range(60):
        for channel in ("/live coupon.dropped", "/host booking.created", "/store task.updated"):
            timeline.add("DELIVERY", channel, 10.0 + second, False, second + 0.5)
    report = {
        "profile": "smoke", "verdict": "PASS", "timeline": timeline.as_dict(),
        "requests": [{"type": "DELIVERY", "name": "/live coupon.dropped", "count": 60,
                      "failures": 0, "p50": 40, "p95": 66, "p99": 68, "max": 69}],
    }  # fmt: skip
    page = write_channel_report(report, tmp_path / "channels.html", "report.html").read_text()
    for channel in ("/live", "/host", "/store"):
        section = re.search(rf'<section class="channel" data-series="{channel}">(.*?)</section>',
                            page, re.S)  # fmt: skip
        assert section is not None, channel
        svgs = re.findall(r"<svg .*?</svg>", section.group(1), re.S)
        assert len(svgs) == 2  # latency, throughput
        assert [k for k in ("p50", "p95", "p99") if f'data-key="{k}"' in svgs[0]] == [
            "p50", "p95", "p99"
        ]  # fmt: skip
        points = re.search(r'data-key="rate"[^>]*points="([^"]+)"', svgs[1])
        assert points is not None and len(points.group(1).split()) == 60
    assert 'href="report.html"' in page
    assert "DELIVERY /live coupon.dropped" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")


def test_a_run_without_socketio_measurements_still_gets_its_page(tmp_path: Path) -> None:
    page = write_channel_report({"profile": "smoke"}, tmp_path / "c.html").read_text()
    assert "No Socket.IO measurements" in page
