"""Pass/fail rules (``thresholds.toml``) checked against locust's statistics.

Kept free of locust imports apart from duck-typed stats entries, so the CLI and the tests
can evaluate a saved report as well as a live ``RequestStats``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

DEFAULT_FILE = Path(__file__).with_name("thresholds.toml")


class StatsEntry(Protocol):
    name: str
    method: str | None
    num_requests: int
    num_failures: int

    def get_response_time_percentile(self, percent: float) -> float: ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The rules of one profile: [default] with the profile's table laid over it."""

    max_error_rate: float
    max_exceptions: int
    latency: dict[str, dict[str, float]]
    min_count: dict[str, int]

    @classmethod
    def load(cls, path: str | Path | None = None, profile: str | None = None) -> Thresholds:
        raw = tomllib.loads(Path(path or DEFAULT_FILE).read_text())
        merged: dict[str, Any] = dict(raw.get("default", {}))
        for section in ("latency", "min_count"):
            merged[section] = dict(raw.get("default", {}).get(section, {}))
        override = raw.get(profile, {}) if profile else {}
        for key, value in override.items():
            if key in ("latency", "min_count"):
                merged[key].update(value)
            else:
                merged[key] = value
        return cls(
            max_error_rate=float(merged.get("max_error_rate", 0.01)),
            max_exceptions=int(merged.get("max_exceptions", 0)),
            latency={
                k: {p: float(ms) for p, ms in v.items()} for k, v in merged["latency"].items()
            },
            min_count={k: int(v) for k, v in merged["min_count"].items()},
        )


@dataclass(frozen=True, slots=True)
class Check:
    """One rule applied to the run: what, whether it held, and the measured value."""

    rule: str
    ok: bool
    detail: str


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, rule: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(rule, ok, detail))


def key_of(entry: StatsEntry) -> str:
    """How a stats entry is named in the thresholds file: '<type> <name>'."""
    return f"{entry.method} {entry.name}" if entry.method else entry.name


def pattern(glob: str) -> re.Pattern[str]:
    """Only ``*`` is a wildcard: names contain brackets ([room]) that are not classes."""
    return re.compile("^" + re.escape(glob).replace(r"\*", ".*") + "$")


def evaluate(
    thresholds: Thresholds,
    entries: list[StatsEntry],
    total_requests: int,
    total_failures: int,
    exceptions: int,
) -> Verdict:
    """Apply every rule; a latency rule that matches nothing is not a failure (min_count
    rules say what must have happened)."""
    verdict = Verdict()
    rate = total_failures / total_requests if total_requests else 1.0
    verdict.add(
        "error rate", rate <= thresholds.max_error_rate,
        f"{rate:.2%} of {total_requests} (max {thresholds.max_error_rate:.2%})",
    )  # fmt: skip
    verdict.add(
        "exceptions in users", exceptions <= thresholds.max_exceptions,
        f"{exceptions} (max {thresholds.max_exceptions})",
    )  # fmt: skip
    for glob, limits in thresholds.latency.items():
        rx = pattern(glob)
        for entry in entries:
            if not rx.match(key_of(entry)) or entry.num_requests == 0:
                continue
            for name, limit in sorted(limits.items()):
                percent = float(name.lstrip("p")) / 100
                got = entry.get_response_time_percentile(percent)
                verdict.add(
                    f"{name} {key_of(entry)}", got <= limit, f"{got:.0f} ms (max {limit:.0f})"
                )
    for glob, needed in thresholds.min_count.items():
        rx = pattern(glob)
        done = sum(e.num_requests - e.num_failures for e in entries if rx.match(key_of(e)))
        verdict.add(f"count {glob}", done >= needed, f"{done} ok (min {needed})")
    return verdict
