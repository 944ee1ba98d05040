"""Where does a connected viewer's memory go? (issue 3: <= 25 KB RSS per viewer)

Runs the server in this process (``--workers 1``, embedded Redis, demo room), connects N
idle viewers with ``hold.js`` (Node socket.io-client, pinned to CPU 1), then prints the RSS
growth per viewer and, with ``--trace``, the top tracemalloc allocation sites per viewer
(tracemalloc itself costs memory, so trust the RSS line of a run without ``--trace``)::

    .venv/bin/python -m bench.fanout.memprofile --viewers 2000 [--trace]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from bench.fanout.run import HERE, free_port, post_json, rss_bytes, wait_http


def probe(port: int, data_dir: Path, viewers: int, trace: bool, top: int) -> None:
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz")
    time.sleep(1.0)
    demo = json.loads((data_dir / "demo.json").read_text())
    token = post_json(f"{base}/api/v1/rooms/{demo['room_id']}/viewers", {})["token"]
    # Warm up: the first connections allocate caches that are not per viewer.
    for n in (50, viewers):
        gc.collect()
        before = rss_bytes([os.getpid()])
        snap0 = tracemalloc.take_snapshot() if trace and n == viewers else None
        gen = subprocess.Popen(
            ["taskset", "-c", "1", "node", str(HERE / "hold.js"), base, token, str(n)],
            cwd=HERE, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert gen.stdout is not None and gen.stdin is not None
        line = json.loads(gen.stdout.readline())
        time.sleep(2.0)
        gc.collect()
        after = rss_bytes([os.getpid()])
        if n == viewers:
            print(
                f"viewers={line['connected']}/{n} connect_s={line['seconds']:.1f} "
                f"rss_per_viewer_kb={(after - before) / n / 1024:.1f}",
                flush=True,
            )
            if snap0 is not None:
                snap1 = tracemalloc.take_snapshot()
                stats = snap1.compare_to(snap0, "traceback")  # sites, with their callers
                total = sum(s.size_diff for s in stats)
                print(f"traced per viewer: {total / n / 1024:.2f} KB", flush=True)
                for s in stats[:top]:
                    print(f"{s.size_diff / n:8.0f} B {s.count_diff / n:5.1f} obj")
                    for fr in s.traceback.format()[-6:]:
                        print("      " + fr)
        gen.stdin.close()
        gen.wait(30)
        time.sleep(2.0)
    os.kill(os.getpid(), signal.SIGTERM)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(12)
    os.environ["LIVE_LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)
    from live_server.cli import main as cli_main

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="memprofile-") as tmp:
        threading.Thread(
            target=probe, args=(port, Path(tmp), args.viewers, args.trace, args.top), daemon=True
        ).start()
        cli_main(["serve", "--demo", "--workers", "1", "--port", str(port), "--data-dir", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
