"""The CI smoke run: `live-server loadtest --profile smoke` passes, integrity checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# The `live-server` entry point (not `-m live_server.cli`: run as __main__, the module would
# be a second copy that subcommands registered with @command do not reach).
LIVE_SERVER = "import sys; from live_server.cli import main; sys.exit(main())"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_smoke_profile_passes_with_integrity_checked(tmp_path: Path) -> None:
    # A subprocess, as ops run it: its own embedded Redis, server and locust (127.0.0.1,
    # 60 s, a few dozen viewers).
    proc = subprocess.run(
        [sys.executable, "-c", LIVE_SERVER, "loadtest", "--profile", "smoke",
         "--out", str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=230, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "verdict: PASS" in proc.stdout, out
    assert "integrity: OK" in proc.stdout, out
    # progress while it runs: a line every 5 s with users, req/s, failures and p95
    progress = [line for line in proc.stdout.splitlines() if line.startswith("loadtest: ")]
    assert sum(" users " in line and " p95 " in line for line in progress) >= 5, out
    assert f"report: {tmp_path / 'reports' / 'report.html'}" in proc.stdout, out
    assert (tmp_path / "reports" / "report.html").stat().st_size > 10_000  # locust's charts
    # and the Socket.IO channels over time, linked from the summary
    channels = tmp_path / "reports" / "channels.html"
    assert f"channels: {channels}" in proc.stdout, out
    page = channels.read_text()
    for channel in ("/live", "/host", "/store", "SIO connect"):
        assert f'<section class="channel" data-series="{channel}">' in page, channel
    assert page.count("<svg ") >= 8  # a latency and a throughput chart per channel
    assert 'data-key="p99"' in page and 'data-key="rate"' in page
    # The run did the peak path, not just connect: bookings, claims and deliveries counted.
    for row in (
        "/api/v1/rooms/[room]/bookings",
        "COUPON claim-to-code",
        "DELIVERY /live coupon.dropped",
        "/api/v1/platforms/douyin/push [live_comment]",  # the platform's comment storm
    ):
        assert row in proc.stdout, out
