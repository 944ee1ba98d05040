"""Thresholds: rules from the TOML file, globs on '<type> <name>', profile overrides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loadtest.thresholds import Thresholds, evaluate, pattern


@dataclass
class Entry:
    name: str
    method: str
    num_requests: int
    num_failures: int
    p95: float

    def get_response_time_percentile(self, percent: float) -> float:
        return self.p95 if percent >= 0.95 else self.p95 / 2


RULES = """
[default]
max_error_rate = 0.01
max_exceptions = 0
[default.latency]
"POST /api/v1/rooms/[room]/bookings" = { p95 = 500 }
"DELIVERY /live *" = { p95 = 1000 }
[default.min_count]
"COUPON claim-to-code" = 5
[peak.min_count]
"COUPON claim-to-code" = 100
"""


def rules(tmp_path: Path, profile: str | None = None) -> Thresholds:
    path = tmp_path / "t.toml"
    path.write_text(RULES)
    return Thresholds.load(path, profile)


def test_brackets_in_names_are_literal_and_star_is_a_wildcard() -> None:
    assert pattern("POST /api/v1/rooms/[room]/bookings").match("POST /api/v1/rooms/[room]/bookings")
    assert not pattern("POST /api/v1/rooms/[room]/bookings").match("POST /api/v1/rooms/r/bookings")
    assert pattern("DELIVERY /live *").match("DELIVERY /live coupon.dropped")
    assert not pattern("DELIVERY /live *").match("DELIVERY /store booking.created")


def test_a_good_run_passes(tmp_path: Path) -> None:
    entries = [
        Entry("/api/v1/rooms/[room]/bookings", "POST", 100, 0, 120),
        Entry("/live coupon.dropped", "DELIVERY", 50, 0, 300),
        Entry("claim-to-code", "COUPON", 10, 0, 40),
    ]
    verdict = evaluate(rules(tmp_path), entries, 160, 0, 0)  # type: ignore[arg-type]
    assert verdict.ok, verdict.checks


def test_slow_deliveries_errors_and_a_quiet_run_fail(tmp_path: Path) -> None:
    entries = [
        Entry("/api/v1/rooms/[room]/bookings", "POST", 100, 5, 120),
        Entry("/live coupon.stock", "DELIVERY", 50, 0, 2500),
        Entry("claim-to-code", "COUPON", 3, 0, 40),
    ]
    verdict = evaluate(rules(tmp_path), entries, 153, 5, 0)  # type: ignore[arg-type]
    failed = {c.rule for c in verdict.checks if not c.ok}
    assert failed == {"error rate", "p95 DELIVERY /live coupon.stock", "count COUPON claim-to-code"}


def test_profile_table_overrides_default(tmp_path: Path) -> None:
    assert rules(tmp_path).min_count["COUPON claim-to-code"] == 5
    peak = rules(tmp_path, "peak")
    assert peak.min_count["COUPON claim-to-code"] == 100
    assert peak.latency["DELIVERY /live *"] == {"p95": 1000}


def test_the_shipped_thresholds_file_loads() -> None:
    for profile in ("smoke", "peak"):
        loaded = Thresholds.load(None, profile)
        assert loaded.max_error_rate <= 0.01 and loaded.latency and loaded.min_count
