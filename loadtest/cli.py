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
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from live_server.core.commands import command
from live_server.core.embedded_redis import EmbeddedRedis, free_port
from loadtest.meter import ProcessMeter
from loadtest.profiles import PROFILES, Profile
from loadtest.thresholds import Thresholds, pattern
from loadtest.timeline import write_channel_report

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
CARRIER = Path(__file__).with_name("sockets.js")
CARRIER_MODULES = Path(__file__).resolve().parent.parent / "bench" / "fanout" / "node_modules"
CARRIER_ROW = " (node carrier)"
DOUYIN_BATCH = 50  # messages per push (loadtest/users.py; not imported: it needs gevent)
READY_TIMEOUT_S = 60.0
LOCUST_GRACE_S = 90.0  # startup, the last users' stop, the integrity check


def configure(p: argparse.ArgumentParser) -> None:
    """run a load profile against a fresh local server and judge it (PASS/FAIL)"""
    p.add_argument(
        "--profile", choices=sorted(PROFILES), default="smoke",
        help="smoke: 60 s, a few dozen viewers (CI); peak: 150 s, 200-320 viewers; "
        "broadcast: 10 min, 10,000 viewers on a Node carrier, the whole peak (needs node)",
    )  # fmt: skip
    p.add_argument("--scale", type=float, default=1.0, help="multiply the profile's viewers")
    p.add_argument(
        "--sockets", type=int,
        help="viewers held by the Node carrier on /live (broadcast: 10000; 0: none)",
    )  # fmt: skip
    p.add_argument(
        "--duration", type=float, help="stretch or shrink the profile to this many seconds"
    )
    p.add_argument(
        "--no-pin", action="store_true",
        help="do not pin (broadcast pins server + Valkey to the first half of the CPUs, "
        "locust and the carrier to the rest)",
    )  # fmt: skip
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
    if args.duration is not None and not 10 <= args.duration <= 3600:
        print("live-server loadtest: --duration must be within [10, 3600] s", file=sys.stderr)
        return 2
    if args.sockets is not None and not 0 <= args.sockets <= 100_000:
        print("live-server loadtest: --sockets must be within [0, 100000]", file=sys.stderr)
        return 2
    profile = _effective(profile, args)
    if profile.sockets:
        problem = carrier_problem()
        if problem:
            print(f"live-server loadtest: {problem}", file=sys.stderr)
            return 2
    cpus = _cpu_split() if profile.pinned and not args.no_pin else None
    work = Path(tempfile.mkdtemp(prefix=f"live-loadtest-{profile.name}-"))
    data, reports = work / "data", work / "reports"
    reports.mkdir(parents=True)
    redis = EmbeddedRedis(data / "redis")
    server: subprocess.Popen[bytes] | None = None
    carrier: Carrier | None = None
    try:
        if cpus:
            os.sched_setaffinity(0, cpus[0])  # the server and Valkey inherit it
        redis_url = redis.start()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        print(
            f"loadtest: profile {profile.name} ({profile.notes}), server {base}, data {work}",
            flush=True,
        )
        if profile.sockets:
            print(f"loadtest: this run: {profile.sockets} viewers on the Node carrier", flush=True)
        if cpus:
            print(
                f"loadtest: server and Valkey pinned to CPU {_cpus(cpus[0])}, "
                f"load generators to CPU {_cpus(cpus[1])}",
                flush=True,
            )
        server = _start_server(
            data, port, redis_url, args.workers, reports / "server.log",
            exempt=profile.sockets > 0,
        )  # fmt: skip
        _wait_ready(server, base, data / "demo.json")
        if args.workers > 1:
            _wait_workers(base, args.workers)
        if cpus:
            os.sched_setaffinity(0, cpus[1])  # this process, locust and the carrier
        meter = ProcessMeter()
        meter.watch("server", server.pid)
        if redis.process is not None:
            meter.watch("redis", redis.process.pid)
        connect_phase: dict[str, Any] = {}
        if profile.sockets:
            demo = json.loads((data / "demo.json").read_text())
            carrier = Carrier.start(base, demo["room_id"], profile, reports)
            meter.watch("carrier", carrier.proc.pid, from_now=False)
            connect_started = time.monotonic()
            connect_phase = carrier.wait_connected(meter)
            connect_phase["wall_s"] = round(time.monotonic() - connect_started, 1)
            connect_phase["resources"] = meter.report()
            meter.rebase()
        started = time.monotonic()
        code = _run_locust(args, profile.duration_s, base, data, redis_url, reports, meter)
        report = _read_report(reports / "report.json")
        report["wall_s"] = round(time.monotonic() - started, 1)
        if carrier is not None:
            meter.sample()
            _merge_carrier(report, carrier.stop(), connect_phase, profile, args.thresholds)
        report["resources"] = meter.report()
        room = json.loads((data / "demo.json").read_text())["room_id"]
        report["coupons"] = _coupons(redis_url, room)
        _check_targets(report, profile)
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
        if carrier is not None:
            carrier.kill()
        _stop(server)
        redis.stop()
        if args.keep_data:
            print(f"data kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _start_server(
    data: Path, port: int, redis_url: str, workers: int, log: Path, *, exempt: bool = False
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LIVE_LOG_LEVEL": "WARNING"}  # no access log: its cost is not the server's
    env.pop("LIVE_ENV", None)
    if exempt:  # every viewer of the carrier and of locust comes from this one address
        env["LIVE_RATE_LIMIT_EXEMPT"] = "127.0.0.1"
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
    if args.duration:
        cmd += ["--profile-duration", str(args.duration)]
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
    resources = report.get("resources", {})
    for name, use in resources.items():
        share = use["cpu_s"] / wall if wall else 0
        print(
            f"{name}: {use['cpu_s']:.1f} s CPU in {wall:.0f} s ({share:.0%} of one core), "
            f"{use['runqueue_wait_s']:.1f} s waiting for a CPU, peak RSS {use['rss_mb']:.0f} MB"
        )
    if "carrier" in resources and wall:
        generators = resources["carrier"]["cpu_s"] + resources.get("locust", {}).get("cpu_s", 0)
        print(f"load generators (locust + carrier): {generators:.1f} s CPU "
              f"({generators / wall:.0%} of one core)")  # fmt: skip
    carrier = report.get("carrier")
    if carrier:
        lost, lag = carrier["broadcasts"], carrier["loop_lag"]
        print(
            f"carrier: {carrier['connected']}/{carrier['viewers']} viewers connected, "
            f"{carrier['refused']} refused, {carrier['disconnects']} dropped, "
            f"{carrier['connected_at_end']} at the end; broadcasts lost {lost['lost']} of "
            f"{lost['expected']} ({lost['tracked']} broadcasts), duplicates {lost['duplicates']};"
            f" its event loop lag p99 {lag['p99']} ms"
        )
    for c in report.get("coupons", []):
        print(
            f"coupons {c['campaign']}: {c['claimed']}/{c['quantity']} claimed, "
            f"{c['remaining']} left, oversold {c['oversold']}"
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


# --- the broadcast profile: pinning, the Node carrier, its report -----------------------


def _effective(profile: Profile, args: argparse.Namespace) -> Profile:
    """The profile as this run plays it (the locustfile applies the same options)."""
    if args.scale != 1.0:
        profile = profile.scaled(args.scale)
    if args.duration:
        profile = profile.stretched(args.duration)
    if args.sockets is not None:
        profile = profile.with_sockets(args.sockets)
    return profile


def carrier_problem() -> str | None:
    """Why the Node carrier cannot run here (None: it can)."""
    install = "npm ci --prefix bench/fanout"
    node = shutil.which("node")
    if node is None:
        return (
            "the broadcast profile carries its viewers' sockets in Node.js: install Node 20+ "
            f"and socket.io-client (`{install}`), or run with --sockets 0"
        )
    env = {**os.environ, "NODE_PATH": str(CARRIER_MODULES)}
    found = subprocess.run(
        [node, "-e", "require.resolve('socket.io-client')"], env=env, capture_output=True,
        stdin=subprocess.DEVNULL, timeout=30,
    )  # fmt: skip
    if found.returncode != 0:
        return f"socket.io-client is not installed for the Node carrier: run `{install}`"
    return None


def _cpu_split() -> tuple[set[int], set[int]] | None:
    """(server + Valkey, load generators): the first half of this process's CPUs and the
    rest, as the fan-out bench pins them; None with one CPU or no affinity calls."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def _cpus(cpus: set[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def _wait_workers(base: str, workers: int) -> None:
    """Every worker listens before the first viewer connects (SO_REUSEPORT spreads
    connections over the sockets that exist): poll ``/healthz`` on fresh connections
    until ``workers`` distinct ``X-Served-By`` answered."""
    seen: set[str] = set()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                seen.add(resp.headers.get("X-Served-By", ""))
        if len(seen - {""}) >= workers:
            return
        time.sleep(0.02)  # a poll with a deadline
    raise RuntimeError(f"only {len(seen - {''})} of {workers} workers answered")


class Carrier:
    """loadtest/sockets.js: the viewers' sockets, held in one Node process."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path, lines: queue.Queue[bytes]):
        self.proc = proc
        self.out = out
        self.lines = lines

    @classmethod
    def start(cls, base: str, room: str, profile: Profile, reports: Path) -> Carrier:
        _raise_fd_limit()
        out = reports / "carrier.json"
        max_s = _connect_timeout(profile.sockets) + profile.duration_s + LOCUST_GRACE_S + 120
        env = {**os.environ, "NODE_PATH": str(CARRIER_MODULES)}
        with (reports / "carrier.log").open("wb") as log:
            proc = subprocess.Popen(
                [shutil.which("node") or "node", str(CARRIER), "--url", base, "--room", room,
                 "--viewers", str(profile.sockets), "--out", str(out),
                 "--max-seconds", str(round(max_s))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
            )  # fmt: skip
        lines: queue.Queue[bytes] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        print(f"loadtest: Node carrier minting and connecting {profile.sockets} viewers ...",
              flush=True)  # fmt: skip
        return cls(proc, out, lines)

    def wait_connected(self, meter: ProcessMeter) -> dict[str, Any]:
        """Until every viewer connected (or was refused); the carrier's "connected" line."""
        deadline = time.monotonic() + _connect_timeout(self._viewers())
        while time.monotonic() < deadline:
            meter.sample()
            try:
                raw = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the Node carrier exited with {self.proc.returncode} (see carrier.log)"
                    ) from None
                continue
            if not raw:
                continue
            line: dict[str, Any] = json.loads(raw)
            if line.get("phase") == "minted":
                print(
                    f"loadtest: carrier minted {line['minted']} viewer tokens "
                    f"({line['failed']} failed) in {line['seconds']:.1f} s",
                    flush=True,
                )
            elif line.get("phase") == "connected":
                c = line["connect"]
                print(
                    f"loadtest: carrier connected {line['connected']} viewers "
                    f"({line['refused']} refused) in {line['seconds']:.1f} s "
                    f"({line['rate']:.0f}/s; connect p50 {c['p50']} p95 {c['p95']} "
                    f"p99 {c['p99']} ms)",
                    flush=True,
                )
                return line
        raise RuntimeError("the Node carrier did not connect its viewers in time")

    def _viewers(self) -> int:
        args = self.proc.args
        assert isinstance(args, list)
        return int(args[args.index("--viewers") + 1])

    def stop(self) -> dict[str, Any]:
        """Close its stdin: it writes its report and closes the sockets."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.kill()
        try:
            report: dict[str, Any] = json.loads(self.out.read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"the Node carrier wrote no report ({exc})") from None
        return report

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _pump(stream: IO[bytes], lines: queue.Queue[bytes]) -> None:
    for line in stream:
        lines.put(line.strip())


def _connect_timeout(sockets: int) -> float:
    return 120.0 + sockets / 50


def _raise_fd_limit() -> None:
    """10,000 sockets need more descriptors than a shell's default soft limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _merge_carrier(
    report: dict[str, Any], carrier: dict[str, Any], connect_phase: dict[str, Any],
    profile: Profile, thresholds_file: Path | None,
) -> None:  # fmt: skip
    """The carrier's measurements as rows of the summary (``... (node carrier)``), its
    checks (all connected, none dropped, no broadcast lost, latency rules), its channel
    in channels.html, and its CPU as the load generator's."""
    wall = max(1.0, float(report.get("wall_s") or 1.0))
    rows: list[dict[str, Any]] = []
    c = carrier["connect"]
    attempts = int(carrier["connected"]) + int(carrier["refused"])
    rows.append({
        "type": "SIO", "name": f"connect /live{CARRIER_ROW}", "count": attempts,
        "failures": int(carrier["refused"]),
        "rps": round(attempts / max(0.001, float(connect_phase.get("seconds") or 1)), 2),
        "avg": 0.0, "p50": c["p50"], "p95": c["p95"], "p99": c["p99"], "max": c["max"],
    })  # fmt: skip
    for event, h in sorted(carrier["events"].items()):
        rows.append({
            "type": "DELIVERY", "name": f"/live {event}{CARRIER_ROW}", "count": h["count"],
            "failures": 0, "rps": round(h["count"] / wall, 2), "avg": 0.0,
            "p50": h["p50"], "p95": h["p95"], "p99": h["p99"], "max": h["max"],
        })  # fmt: skip
    report["requests"] += rows
    lost = carrier["broadcasts"]
    checks = [
        {"rule": "carrier viewers connected", "ok": carrier["connected"] == profile.sockets,
         "detail": f"{carrier['connected']} of {profile.sockets} ({carrier['refused']} refused, "
                   f"{carrier['mint_failed']} tokens not minted)"},
        {"rule": "carrier sockets dropped", "ok": carrier["disconnects"] == 0,
         "detail": f"{carrier['disconnects']} {carrier['disconnect_reasons'] or ''} (max 0)"},
        {"rule": "carrier broadcasts lost", "ok": lost["lost"] == 0 and lost["tracked"] > 0,
         "detail": f"{lost['lost']} of {lost['expected']} expected over {lost['tracked']} "
                   f"broadcasts (max 0)"},
    ]  # fmt: skip
    rules = Thresholds.load(thresholds_file, profile.name)
    for glob, limits in rules.latency.items():
        rx = pattern(glob)
        for row in rows:
            # a carrier viewer is a viewer: "DELIVERY /live coupon.dropped" judges its row too
            key = f"{row['type']} {row['name']}"
            if row["count"] == 0 or not (rx.match(key) or rx.match(key.removesuffix(CARRIER_ROW))):
                continue
            for name, limit in sorted(limits.items()):
                got = float(row[name])
                checks.append({"rule": f"{name} {key}", "ok": got <= limit,
                               "detail": f"{got:.0f} ms (max {limit:.0f})"})  # fmt: skip
    report["checks"] += checks
    if not all(check["ok"] for check in checks):
        report["verdict"] = "FAIL"
    start = float(report.get("started_at_epoch") or 0)
    series = report.setdefault("timeline", {"bucket_s": 1.0, "series": {}}).setdefault("series", {})
    series[f"/live{CARRIER_ROW}"] = [
        {"t": p["t_epoch"] - int(start), "count": p["count"], "failures": 0, "p50": p["p50"],
         "p95": p["p95"], "p99": p["p99"], "max": p["max"]}
        for p in carrier.pop("timeline", []) if p["t_epoch"] >= int(start)
    ]  # fmt: skip
    report["carrier"] = {**carrier, "connect_phase": connect_phase}


def _coupons(redis_url: str, room: str) -> list[dict[str, Any]]:
    """Each campaign of the run: quantity, claimed, remaining (oversold: claimed > quantity)."""
    from live_server.core import keys
    from loadtest.integrity import connect

    out: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):  # a summary line, not a check (integrity checks it)
        client = connect(redis_url)
        try:
            for raw in client.zrange(keys.room_campaigns(room), 0, -1):
                campaign = raw.decode() if isinstance(raw, bytes) else str(raw)
                meta = {
                    k.decode(): v.decode()
                    for k, v in client.hgetall(keys.campaign(campaign)).items()
                }
                quantity, claimed = int(meta.get("quantity", 0)), int(meta.get("claimed", 0))
                out.append({
                    "campaign": campaign, "quantity": quantity, "claimed": claimed,
                    "remaining": int(meta.get("remaining", 0)),
                    "oversold": max(0, claimed - quantity),
                })  # fmt: skip
        finally:
            client.close()
    return out


def _check_targets(report: dict[str, Any], profile: Profile) -> None:
    """What the profile promised to play: its bookings and its comment storm."""
    rows = {f"{r['type']} {r['name']}": r for r in report.get("requests", [])}
    checks: list[dict[str, Any]] = []
    if profile.bookings_target:
        row = rows.get("POST /api/v1/rooms/[room]/bookings", {})
        made = int(row.get("count", 0)) - int(row.get("failures", 0))
        checks.append({"rule": "bookings made", "ok": made >= profile.bookings_target,
                       "detail": f"{made} (min {profile.bookings_target})"})  # fmt: skip
    if profile.comments_per_s:
        # locust's rate of the row: its requests over the time it was pushed
        row = rows.get("POST /api/v1/platforms/douyin/push [live_comment]", {})
        ok_share = 1 - int(row.get("failures", 0)) / max(1, int(row.get("count", 0)))
        per_s = float(row.get("rps", 0.0)) * ok_share * DOUYIN_BATCH
        checks.append({
            "rule": "comment storm", "ok": per_s >= 0.9 * profile.comments_per_s,
            "detail": f"{per_s:.0f} comments/s (min {0.9 * profile.comments_per_s:.0f})",
        })  # fmt: skip
    report["checks"] += checks
    if not all(check["ok"] for check in checks):
        report["verdict"] = "FAIL"
