"""``live-server loadtest --profile smoke|peak``: will it hold? One command, one verdict.

Starts the embedded Redis and ``live-server serve --demo`` on a free 127.0.0.1 port in a
temporary data dir, runs locust headless (a subprocess) with the profile, the thresholds
and the integrity check, prints a summary table and PASS/FAIL, and exits non-zero on FAIL.
Only ever 127.0.0.1, bounded by the profile's duration.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from live_server.core.commands import command
from live_server.core.embedded_redis import EmbeddedRedis, free_port
from loadtest.meter import ProcessMeter
from loadtest.profiles import PROFILES
from loadtest.timeline import write_channel_report

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
READY_TIMEOUT_S = 60.0
LOCUST_GRACE_S = 90.0  # startup, the last users' stop, the integrity check


def configure(p: argparse.ArgumentParser) -> None:
    """run a load profile against a fresh local server and judge it (PASS/FAIL)"""
    p.add_argument(
        "--profile", choices=sorted(PROFILES), default="smoke",
        help="smoke: 60 s, a few dozen viewers (CI); peak: 150 s, 200-320 viewers",
    )  # fmt: skip
    p.add_argument("--scale", type=float, default=1.0, help="multiply the profile's viewers")
    p.add_argument("--workers", type=int, default=1, help="server worker processes (default 1)")
    p.add_argument(
        "--thresholds", type=Path, help="pass/fail rules (default loadtest/thresholds.toml)"
    )
    p.add_argument("--out", type=Path, help="copy the reports (CSV, HTML, JSON, logs) here")
    p.add_argument("--keep-data", action="store_true",
                   help="keep the temporary data dir (Redis data, demo.json, reports)")  # fmt: skip


@command("loadtest", configure)
def loadtest(args: argparse.Namespace) -> int:
    profile = PROFILES[args.profile]
    if not 0 < args.scale <= 10:
        print("live-server loadtest: --scale must be within (0, 10]", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix=f"live-loadtest-{profile.name}-"))
    data, reports = work / "data", work / "reports"
    reports.mkdir(parents=True)
    redis = EmbeddedRedis(data / "redis")
    server: subprocess.Popen[bytes] | None = None
    try:
        redis_url = redis.start()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        print(
            f"loadtest: profile {profile.name} ({profile.notes}), server {base}, data {work}",
            flush=True,
        )
        server = _start_server(data, port, redis_url, args.workers, reports / "server.log")
        _wait_ready(server, base, data / "demo.json")
        meter = ProcessMeter()
        meter.watch("server", server.pid)
        if redis.process is not None:
            meter.watch("redis", redis.process.pid)
        started = time.monotonic()
        code = _run_locust(args, profile.duration_s, base, data, redis_url, reports, meter)
        report = _read_report(reports / "report.json")
        report["wall_s"] = round(time.monotonic() - started, 1)
        report["resources"] = meter.report()
        (reports / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
        write_channel_report(report, reports / "channels.html", locust_report="report.html")
        passed = (
            code == 0 and report.get("verdict") == "PASS" and report["integrity"].get("ran", False)
        )
        _print_summary(report, code, passed)
        if args.out or args.keep_data:
            kept = Path(args.out) if args.out else reports
            print(f"report: {kept / 'report.html'} (locust's charts over time)")
            print(
                f"channels: {kept / 'channels.html'} (Socket.IO latency and throughput over time)"
            )
        else:
            print(
                "report: the HTML charts (report.html, channels.html) are kept with --out DIR "
                "(or --keep-data)"
            )
        if args.out:
            shutil.copytree(reports, args.out, dirs_exist_ok=True)
            print(f"reports: {args.out}")
        elif args.keep_data:
            print(f"reports: {reports}")
        return 0 if passed else 1
    except RuntimeError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        print("verdict: FAIL", flush=True)
        return 1
    finally:
        _stop(server)
        redis.stop()
        if args.keep_data:
            print(f"data kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _start_server(
    data: Path, port: int, redis_url: str, workers: int, log: Path
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LIVE_LOG_LEVEL": "WARNING"}  # no access log: its cost is not the server's
    env.pop("LIVE_ENV", None)
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable, "-m", "live_server.cli", "serve", "--demo",
                "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data),
                "--redis-url", redis_url, "--workers", str(workers),
            ],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,
        )  # fmt: skip


def _wait_ready(server: subprocess.Popen[bytes], base: str, demo: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode} (see server.log)")
        if demo.exists():
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {READY_TIMEOUT_S:.0f} s")


def _run_locust(
    args: argparse.Namespace,
    duration_s: float,
    base: str,
    data: Path,
    redis_url: str,
    reports: Path,
    meter: ProcessMeter,
) -> int:
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", base, "--headless",
        "--demo-file", str(data / "demo.json"), "--load-profile", args.profile,
        "--scale", str(args.scale), "--acked-file", str(reports / "acked.jsonl"),
        "--redis-url", redis_url, "--report-json", str(reports / "report.json"),
        "--csv", str(reports / "stats"), "--html", str(reports / "report.html"),
        "--only-summary", "--stop-timeout", "10",
    ]  # fmt: skip
    if args.thresholds:
        cmd += ["--thresholds", str(args.thresholds)]
    print(f"loadtest: running locust for {duration_s:.0f} s ...", flush=True)
    with (reports / "locust.log").open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        meter.watch("locust", proc.pid, from_now=False)
        started = time.monotonic()
        deadline = started + duration_s + LOCUST_GRACE_S
        next_line = started + PROGRESS_EVERY_S
        while time.monotonic() < deadline:
            meter.sample()
            with contextlib.suppress(subprocess.TimeoutExpired):
                return proc.wait(timeout=1.0)
            if time.monotonic() >= next_line:
                next_line += PROGRESS_EVERY_S
                print(_progress(reports, time.monotonic() - started, duration_s), flush=True)
        proc.kill()
        proc.wait()
        raise RuntimeError("locust did not finish in time (see locust.log)")


PROGRESS_EVERY_S = 5.0


def _progress(reports: Path, elapsed: float, duration_s: float) -> str:
    """One line of the run so far, from locust's stats history (written every second,
    flushed every few): users, requests per second, failures, p95."""
    head = f"loadtest: {elapsed:4.0f}/{duration_s:.0f} s"
    try:
        with (reports / "stats_stats_history.csv").open(newline="") as history:
            rows = [r for r in csv.DictReader(history) if r.get("Name") == "Aggregated"]
    except OSError:
        rows = []
    if not rows:
        return f"{head}  starting"
    last = rows[-1]

    def number(name: str) -> float:
        try:
            return float(last.get(name) or 0)
        except ValueError:
            return 0.0

    return (
        f"{head}  users {number('User Count'):.0f}  {number('Requests/s'):.0f} req/s  "
        f"failures {number('Total Failure Count'):.0f}/{number('Total Request Count'):.0f}  "
        f"p95 {number('95%'):.0f} ms"
    )


def _read_report(path: Path) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"locust wrote no report ({exc}); see locust.log") from None
    return report


def _stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _print_summary(report: dict[str, Any], locust_code: int, passed: bool) -> None:
    rows = [r for r in report["requests"] if r["type"] != "OUTCOME"]
    width = max([len(f"{r['type']} {r['name']}") for r in rows] + [20])
    print()
    head = ("count", 7), ("fail", 5), ("rps", 7), ("p50", 6), ("p95", 6), ("p99", 6), ("max", 7)
    print(f"{'request':<{width}} " + " ".join(f"{name:>{w}}" for name, w in head))
    for r in [*rows, {**report["total"], "type": "", "name": "all"}]:
        label = f"{r['type']} {r['name']}".strip()
        print(
            f"{label:<{width}} {r['count']:>7} {r['failures']:>5} {r['rps']:>7.1f} "
            f"{r['p50']:>6.0f} {r['p95']:>6.0f} {r['p99']:>6.0f} {r['max']:>7.0f}"
        )
    outcomes = [f"{r['name']}: {r['count']}" for r in report["requests"] if r["type"] == "OUTCOME"]
    if outcomes:
        print("expected answers (not failures): " + ", ".join(outcomes))
    print("latencies in ms; DELIVERY = receive time - event ts; SIO = Socket.IO connect")
    wall = report.get("wall_s") or 0
    for name, use in report.get("resources", {}).items():
        share = use["cpu_s"] / wall if wall else 0
        print(
            f"{name}: {use['cpu_s']:.1f} s CPU in {wall:.0f} s ({share:.0%} of one core), "
            f"{use['runqueue_wait_s']:.1f} s waiting for a CPU, peak RSS {use['rss_mb']:.0f} MB"
        )
    print()
    checks = report["checks"]
    failed = [c for c in checks if not c["ok"]]
    print(f"thresholds: {len(checks) - len(failed)}/{len(checks)} held")
    for c in failed:
        print(f"  FAILED {c['rule']}: {c['detail']}")
    integrity = report["integrity"]
    checked = ", ".join(f"{k} {v}" for k, v in sorted(integrity.get("checked", {}).items()))
    if not integrity.get("ran"):
        print("integrity: NOT RUN")
    elif integrity.get("ok"):
        print(f"integrity: OK ({checked})")
    else:
        print(f"integrity: {integrity.get('violation_count', '?')} VIOLATIONS ({checked})")
        for v in integrity.get("violations", []):
            print(f"  {v}")
    if locust_code not in (0, 1):
        print(f"locust exited with {locust_code} (see locust.log)")
    print(f"verdict: {'PASS' if passed else 'FAIL'}", flush=True)
