"""The CI smoke run: `live-server loadtest --profile smoke` passes, integrity checked."""

from __future__ import annotations

import subprocess
import sys

import pytest

# The `live-server` entry point (not `-m live_server.cli`: run as __main__, the module would
# be a second copy that subcommands registered with @command do not reach).
LIVE_SERVER = "import sys; from live_server.cli import main; sys.exit(main())"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_smoke_profile_passes_with_integrity_checked() -> None:
    # A subprocess, as ops run it: its own embedded Redis, server and locust (127.0.0.1,
    # 60 s, a few dozen viewers).
    proc = subprocess.run(
        [sys.executable, "-c", LIVE_SERVER, "loadtest", "--profile", "smoke"],
        capture_output=True, text=True, timeout=230, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "verdict: PASS" in proc.stdout, out
    assert "integrity: OK" in proc.stdout, out
    # The run did the peak path, not just connect: bookings, claims and deliveries counted.
    for row in (
        "/api/v1/rooms/[room]/bookings",
        "COUPON claim-to-code",
        "DELIVERY /live coupon.dropped",
    ):
        assert row in proc.stdout, out
