"""Fan-out benchmark: this server (1 and 2 workers) against the Node.js socket.io reference.

The same independent load generator (Node's socket.io-client, ``loadgen.js``) connects N
viewers over websocket to each server in turn, then triggers B broadcasts of a ~150-byte
event. Server and load generator are pinned to different cores (server: CPU 0, load
generator: CPU 1). For each run we record:

* connect rate (viewers/s, as the load generator saw it),
* server RSS per connected viewer (RSS after connecting minus RSS before, over N),
* server CPU µs per delivered message (utime+stime of the server's processes during the
  broadcast phase, over messages received),
* delivery latency p50/p99/max (receive time minus the event's ``ts``), and drops.

Usage (from the repo root, after ``make setup`` and ``npm ci`` in bench/fanout)::

    .venv/bin/python -m bench.fanout.run --sizes 1000,5000,10000 --repeats 3

Results: JSON in bench/out/, a markdown table on stdout (medians, ratios to Node).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.serving import wait_workers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Run:
    config: str
    viewers: int
    connected: int
    connect_rate: float
    rss_per_viewer_kb: float
    cpu_us_per_msg: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    expected: int
    received: int
    dropped: int


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tune_host() -> None:
    """More sockets: file descriptors, ephemeral ports, TIME_WAIT reuse (best effort)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 200_000
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    for path, value in (
        ("/proc/sys/net/ipv4/tcp_tw_reuse", "1"),
        ("/proc/sys/net/ipv4/ip_local_port_range", "1024 65000"),
        ("/proc/sys/net/core/somaxconn", "8192"),
    ):
        with contextlib.suppress(OSError):
            Path(path).write_text(value)


def descendants(pid: int) -> list[int]:
    out = [pid]
    for child in subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split():
        out += descendants(int(child))
    return out


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def server_pids(root_pid: int) -> list[int]:
    """The server's own processes (not its embedded Redis)."""
    return [p for p in descendants(root_pid) if "valkey" not in comm(p) and "redis" not in comm(p)]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total


def wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up within {timeout}s")


def post_json(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def start_server(
    config: str, port: int, data_dir: Path
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    if config == "node":
        proc = subprocess.Popen(
            ["taskset", "-c", "0", "node", str(HERE / "node_server.js")],
            env={**os.environ, "PORT": str(port)}, cwd=HERE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/healthz")
        base = f"http://127.0.0.1:{port}"
        return proc, {
            "base": base,
            "token": "none",
            "trigger": f"{base}/broadcast",
            "trigger_token": "",
        }
    workers = config.removeprefix("py")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env["LIVE_LOG_LEVEL"] = "WARNING"
    proc = subprocess.Popen(
        ["taskset", "-c", "0", str(VENV_BIN / "live-server"), "serve", "--demo",
         "--workers", workers, "--port", str(port), "--data-dir", str(data_dir)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz")
    wait_workers(base, int(workers))
    demo = json.loads((data_dir / "demo.json").read_text())
    room = demo["room_id"]
    viewer = post_json(f"{base}/api/v1/rooms/{room}/viewers", {})
    return proc, {
        "base": base, "token": viewer["token"],
        "trigger": f"{base}/api/v1/rooms/{room}/announcements", "trigger_token": demo["host_token"],
    }  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def one_run(config: str, viewers: int, broadcasts: int) -> Run:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        proc, target = start_server(config, port, Path(tmp))
        try:
            pids = server_pids(proc.pid)
            rss_before = rss_bytes(pids)
            gen = subprocess.Popen(
                ["taskset", "-c", "1", "node", str(HERE / "loadgen.js"), target["base"],
                 target["token"], str(viewers), str(broadcasts), target["trigger"],
                 target["trigger_token"]],
                cwd=HERE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert gen.stdout is not None
            connected: dict[str, Any] = {}
            done: dict[str, Any] = {}
            rss_connected = cpu_start = cpu_end = 0.0
            for line in gen.stdout:
                msg = json.loads(line)
                if msg["phase"] == "connected":
                    connected = msg
                elif msg["phase"] == "broadcasting":
                    pids = server_pids(proc.pid)
                    rss_connected = rss_bytes(pids)
                    cpu_start = cpu_seconds(pids)
                elif msg["phase"] == "done":
                    cpu_end = cpu_seconds(pids)
                    done = msg
            gen.wait(60)
        finally:
            stop(proc)
    received = max(1, int(done.get("received", 0)))
    return Run(
        config=config, viewers=viewers, connected=int(connected.get("connected", 0)),
        connect_rate=round(float(connected.get("rate", 0.0)), 1),
        rss_per_viewer_kb=round((rss_connected - rss_before) / max(1, viewers) / 1024, 1),
        cpu_us_per_msg=round((cpu_end - cpu_start) / received * 1e6, 2),
        p50_ms=float(done.get("p50_ms") or 0), p99_ms=float(done.get("p99_ms") or 0),
        max_ms=float(done.get("max_ms") or 0), expected=int(done.get("expected", 0)),
        received=int(done.get("received", 0)), dropped=int(done.get("dropped", 0)),
    )  # fmt: skip


def median(runs: list[Run], field: str) -> float:
    return float(statistics.median(getattr(r, field) for r in runs))


def table(results: list[Run], configs: list[str], sizes: list[int]) -> str:
    lines = [
        "| viewers | server | connect/s | RSS KB/viewer | CPU µs/msg | p50 ms | p99 ms | max ms "
        "| delivered | CPU vs Node | p99 vs Node |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in sizes:
        node = [r for r in results if r.viewers == n and r.config == "node"]
        for config in configs:
            runs = [r for r in results if r.viewers == n and r.config == config]
            if not runs:
                continue
            cpu, p99 = median(runs, "cpu_us_per_msg"), median(runs, "p99_ms")
            ratio_cpu = (
                f"{cpu / median(node, 'cpu_us_per_msg'):.2f}" if node and config != "node" else "1"
            )
            ratio_p99 = (
                f"{p99 / max(1.0, median(node, 'p99_ms')):.2f}"
                if node and config != "node"
                else "1"
            )
            delivered = f"{sum(r.received for r in runs)}/{sum(r.expected for r in runs)}"
            name = {
                "node": "Node socket.io 4.8",
                "py1": "this, 1 worker",
                "py2": "this, 2 workers",
            }[config]
            lines.append(
                f"| {n} | {name} | {median(runs, 'connect_rate'):.0f} | "
                f"{median(runs, 'rss_per_viewer_kb'):.1f} | {cpu:.1f} | "
                f"{median(runs, 'p50_ms'):.0f} | "
                f"{p99:.0f} | {median(runs, 'max_ms'):.0f} | {delivered} | "
                f"{ratio_cpu} | {ratio_p99} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--configs", default="py1,py2,node")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--broadcasts", type=int, default=20)
    args = parser.parse_args()
    if not (HERE / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    tune_host()
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = args.configs.split(",")
    results: list[Run] = []
    for n in sizes:
        for rep in range(args.repeats):
            for config in configs:  # interleaved, so drift hits every config alike
                try:
                    run = one_run(config, n, args.broadcasts)
                except Exception as exc:  # a failed start must not lose the other runs
                    print(f"# {n} viewers rep {rep + 1} {config}: FAILED {exc}", file=sys.stderr)
                    continue
                results.append(run)
                print(
                    f"# {n:>6} viewers rep {rep + 1} {config}: {asdict(run)}",
                    file=sys.stderr,
                    flush=True,
                )
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"fanout-{stamp}.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(table(results, configs, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
