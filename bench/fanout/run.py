"""Fan-out benchmark: this server (1 and 2 workers) against the Node.js socket.io reference.

The same independent load generator (Node's socket.io-client, ``loadgen.js``) connects N
viewers over websocket to each server in turn, then triggers B broadcasts. Server and load
generator are pinned to different cores (server: CPU 0, load generator: CPU 1). Two paths:

* ``--path real`` (default, issue 21): every viewer has ITS OWN viewer token (minted here
  with the server's signer and a secret given to the server as ``LIVE_SECRET``), so each
  join is a token check plus our ``room.state``; the host creates B coupon campaigns
  through the HTTP API and the load generator drops them one by one
  (``POST .../campaigns/{id}/drop``); viewers count ``coupon.dropped``. Node's reference
  checks the same tokens (HMAC) on connect, sends nothing on join, and its ``POST
  /drop/{id}`` emits a ``coupon.dropped`` shaped as ours (the payload of our first drop,
  the same size).
* ``--path synthetic``: one shared viewer token, ``room.announcement`` through ``POST
  /api/v1/rooms/{room}/announcements`` (the earlier tables of bench/RESULTS.md).

For each run we record:

* connect rate (viewers/s, as the load generator saw it) and refused connections,
* server RSS per connected viewer (RSS after connecting minus RSS before, over N),
* server CPU µs per delivered message (utime+stime of the server's processes during the
  broadcast phase, over messages received),
* delivery latency p50/p99/max: receive time minus the time the load generator SENT the
  HTTP request that caused it (the whole path), and drops.

Usage (from the repo root, after ``make setup`` and ``npm ci`` in bench/fanout)::

    .venv/bin/python -m bench.fanout.run --sizes 1000,5000,10000 --repeats 3 [--path real]

Results: JSON in bench/out/, a markdown table on stdout (medians, ratios to Node).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
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
    refused: int
    connect_rate: float
    rss_per_viewer_kb: float
    cpu_us_per_msg: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    expected: int
    received: int
    dropped: int
    path: str = "real"
    payload_bytes: int = 0
    bcast_p99_median_ms: float = 0.0
    """The median over broadcasts of each broadcast's p99 (p99_ms is the worst ones')."""
    client_cpu_pct: float = 0.0
    client_cpu_connect_pct: float = 0.0
    """The load generator's CPU use while connecting (100: joins are client-bound)."""
    """The load generator's CPU use during the broadcast phase (100: its core is full,
    the latencies are then the client's as much as the server's)."""


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


# Node's coupon.dropped when no run of ours gave the real payload (a node-only run).
FALLBACK_TEMPLATE: dict[str, Any] = {
    "id": "", "room_id": "demo-room", "title": "bench drop 00", "kind": "amount_off",
    "value": 20.0, "quantity": 100000, "remaining": 100000, "claimed": 0, "redeemed": 0,
    "per_user": 1, "store_ids": "all", "valid_from": None,
    "expires_at": "2026-12-07T07:00:00.000Z", "min_spend": None, "status": "open",
    "created_at": "2026-12-07T06:00:00.000Z", "dropped_at": None, "sold_out_at": None,
    "released": 0, "identity": "any", "audience": None,
}  # fmt: skip
_template: dict[str, Any] = {}


CODE: dict[str, str] = {}
"""--code NAME=DIR: configs ``py1@NAME`` run the server with DIR first on PYTHONPATH (a
copy of live_server/, coupons/, geo/ of another version)."""


def mint_viewer_tokens(secret: str, room: str, n: int) -> list[str]:
    """N distinct viewer tokens, as ``POST /api/v1/rooms/{room}/viewers`` issues them
    (the server's own signer; a fresh viewer id each)."""
    from live_server.core.tokens import Role, TokenSigner

    signer = TokenSigner(secret)
    return [signer.issue(Role.VIEWER, room, f"v_{i:016x}") for i in range(n)]


def drop_triggers(
    base: str, room: str, host: str, n: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The host creates ``n`` campaigns through the API; (campaigns, the load generator's
    triggers: one drop request each)."""
    expires = int(time.time()) + 3600
    campaigns = [
        post_json(
            f"{base}/api/v1/rooms/{room}/campaigns",
            {"title": f"bench drop {k:02d}", "kind": "amount_off", "value": 20,
             "quantity": 100_000, "expires_at": expires, "identity": "any"},
            host,
        )
        for k in range(n)
    ]  # fmt: skip
    triggers = [
        {"url": f"{base}/api/v1/rooms/{room}/campaigns/{c['id']}/drop", "token": host,
         "key": c["id"]}
        for c in campaigns
    ]  # fmt: skip
    return campaigns, triggers


def start_server(
    config: str, port: int, data_dir: Path, path: str, viewers: int, broadcasts: int
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start a server; the load generator's config (see loadgen.js)."""
    secret = secrets.token_hex(32)
    base = f"http://127.0.0.1:{port}"
    load: dict[str, Any] = {"url": base, "n": viewers, "gap_ms": 250}
    if config == "node":
        template = _template or FALLBACK_TEMPLATE
        proc = subprocess.Popen(
            ["taskset", "-c", "0", "node", str(HERE / "node_server.js")],
            env={**os.environ, "PORT": str(port), "LIVE_SECRET": secret,
                 "COUPON_TEMPLATE": json.dumps(template)},
            cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_http(f"{base}/healthz")
        if path == "synthetic":
            load |= {"tokens": ["none"], "event": "room.announcement", "triggers": [
                {"url": f"{base}/broadcast", "body": {"text": f"{ANNOUNCEMENT} #{k}"},
                 "key": str(k)} for k in range(broadcasts)]}  # fmt: skip
            return proc, load
        # Campaign ids of the same length as ours (c_ + 16 characters).
        ids = [f"c_{secrets.token_hex(8)}" for _ in range(broadcasts)]
        load |= {
            "tokens": mint_viewer_tokens(secret, template["room_id"], viewers),
            "event": "coupon.dropped",
            "triggers": [{"url": f"{base}/drop/{i}", "key": i} for i in ids],
        }
        return proc, load
    kind, _, code = config.partition("@")
    workers = kind.removeprefix("py")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LIVE_SECRETS")}
    if code:  # another copy of the server's code (an A/B in one sitting): see --code
        env["PYTHONPATH"] = CODE[code]
    env["LIVE_LOG_LEVEL"] = "WARNING"
    env["LIVE_SECRET"] = secret
    proc = subprocess.Popen(
        ["taskset", "-c", "0", str(VENV_BIN / "live-server"), "serve", "--demo",
         "--workers", workers, "--port", str(port), "--data-dir", str(data_dir)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_http(f"{base}/readyz")
    wait_workers(base, int(workers))
    demo = json.loads((data_dir / "demo.json").read_text())
    room, host = demo["room_id"], demo["host_token"]
    if path == "synthetic":
        viewer = post_json(f"{base}/api/v1/rooms/{room}/viewers", {})
        load |= {"tokens": [viewer["token"]], "event": "room.announcement", "triggers": [
            {"url": f"{base}/api/v1/rooms/{room}/announcements", "token": host,
             "body": {"text": f"{ANNOUNCEMENT} #{k}"}, "key": str(k)}
            for k in range(broadcasts)]}  # fmt: skip
        return proc, load
    # The host creates the campaigns through the API (drafts: not in room.state).
    campaigns, triggers = drop_triggers(base, room, host, broadcasts)
    if not _template:  # Node's coupon.dropped: the same fields and size as ours
        first = campaigns[0]
        _template.update(first, status="open", dropped_at=first["created_at"])
    load |= {
        "tokens": mint_viewer_tokens(secret, room, viewers),
        "event": "coupon.dropped",
        "triggers": triggers,
    }
    return proc, load


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


ANNOUNCEMENT = "限时福利：今晚到店出示券码立减20元，数量有限先到先得 Flash coupon tonight"


def one_run(config: str, viewers: int, broadcasts: int, path: str = "real") -> Run:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fanout-") as tmp:
        proc, load = start_server(config, port, Path(tmp), path, viewers, broadcasts)
        load_file = Path(tmp) / "load.json"
        load_file.write_text(json.dumps(load))
        try:
            pids = server_pids(proc.pid)
            rss_before = rss_bytes(pids)
            gen = subprocess.Popen(
                ["taskset", "-c", "1", "node", str(HERE / "loadgen.js"), str(load_file)],
                cwd=HERE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert gen.stdout is not None
            gen_started = time.monotonic()
            connect_pct = 0.0
            connected: dict[str, Any] = {}
            done: dict[str, Any] = {}
            rss_connected = cpu_start = cpu_end = client_start = wall_start = client_pct = 0.0
            for line in gen.stdout:
                msg = json.loads(line)
                if msg["phase"] == "connected":
                    connected = msg
                    connect_pct = (
                        cpu_seconds([gen.pid]) / max(1e-3, time.monotonic() - gen_started) * 100
                    )
                elif msg["phase"] == "broadcasting":
                    pids = server_pids(proc.pid)
                    rss_connected = rss_bytes(pids)
                    cpu_start = cpu_seconds(pids)
                    client_start, wall_start = cpu_seconds([gen.pid]), time.monotonic()
                elif msg["phase"] == "error":
                    print(f"# {config}: trigger answered {msg['status']}", file=sys.stderr)
                elif msg["phase"] == "done":
                    cpu_end = cpu_seconds(pids)
                    client_pct = (
                        (cpu_seconds([gen.pid]) - client_start)
                        / max(1e-3, time.monotonic() - wall_start) * 100
                    )  # fmt: skip
                    done = msg
            gen.wait(60)
        finally:
            stop(proc)
    received = max(1, int(done.get("received", 0)))
    return Run(
        config=config, viewers=viewers, connected=int(connected.get("connected", 0)),
        refused=int(connected.get("refused", 0)), path=path,
        payload_bytes=int(done.get("payload_bytes") or 0),
        bcast_p99_median_ms=float(done.get("bcast_p99_median_ms") or 0),
        client_cpu_pct=round(client_pct, 1), client_cpu_connect_pct=round(connect_pct, 1),
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
        "| viewers | server | connect/s | refused | RSS KB/viewer | CPU µs/msg | p50 ms | p99 ms "
        "| max ms | p99 of a typical broadcast ms | client CPU % | delivered | connect vs Node "
        "| CPU vs Node | p99 vs Node | typical p99 vs Node |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: | ---: |",
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
            rate = median(runs, "connect_rate")
            ratio_rate = (
                f"{rate / max(1.0, median(node, 'connect_rate')):.2f}"
                if node and config != "node"
                else "1"
            )
            refused = sum(r.refused for r in runs)
            typical = median(runs, "bcast_p99_median_ms")
            ratio_typical = (
                f"{typical / max(1.0, median(node, 'bcast_p99_median_ms')):.2f}"
                if node and config != "node"
                else "1"
            )
            kind, _, code = config.partition("@")
            name = {
                "node": "Node socket.io 4.8",
                "py1": "this, 1 worker",
                "py2": "this, 2 workers",
            }[kind] + (f" ({code})" if code else "")
            lines.append(
                f"| {n} | {name} | {rate:.0f} | {refused} | "
                f"{median(runs, 'rss_per_viewer_kb'):.1f} | {cpu:.1f} | "
                f"{median(runs, 'p50_ms'):.0f} | "
                f"{p99:.0f} | {median(runs, 'max_ms'):.0f} | {typical:.0f} | "
                f"{median(runs, 'client_cpu_pct'):.0f} | {delivered} | "
                f"{ratio_rate} | {ratio_cpu} | {ratio_p99} | {ratio_typical} |"
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
    parser.add_argument(
        "--code", action="append", default=[], metavar="NAME=DIR",
        help="configs py1@NAME / py2@NAME run the server from DIR (an A/B in one sitting)",
    )  # fmt: skip
    parser.add_argument(
        "--path", choices=("real", "synthetic"), default="real",
        help="real: own tokens, coupon drops through the API; synthetic: shared token, "
        "announcements",
    )  # fmt: skip
    args = parser.parse_args()
    if not (HERE / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    tune_host()
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = args.configs.split(",")
    for item in args.code:
        name, _, path = item.partition("=")
        CODE[name] = str(Path(path).resolve())
    results: list[Run] = []
    for n in sizes:
        for rep in range(args.repeats):
            for config in configs:  # interleaved, so drift hits every config alike
                try:
                    run = one_run(config, n, args.broadcasts, args.path)
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
    dump = json.dumps([asdict(r) for r in results], indent=1)
    (out / f"fanout-{args.path}-{stamp}.json").write_text(dump)
    print(table(results, configs, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
