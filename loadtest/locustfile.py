"""A live broadcast under load: ``locust -f loadtest/locustfile.py --host URL --demo-file
DATA/demo.json`` against a server started with ``live-server serve --demo``.

The cast (loadtest/users.py): viewers on /live that book visits and claim dropped coupons,
the host on /host reading the question feed and dropping coupons on schedule, one bot per
community group posting signed questions, store dashboards on /store, and a comment storm
through the Douyin push endpoint (batches of 50, 100 messages/s). The shape
(loadtest/profiles.py): ramp, the coupon-drop spike, plateau.

Beyond HTTP, locust reports ``SIO connect <namespace>``, ``DELIVERY <namespace> <event>``
(receive time minus the event's ``ts``) and ``COUPON claim-to-code``. When the run ends,
loadtest/thresholds.toml decides the exit code (0 pass, 1 fail), and with ``--redis-url``
the integrity check reads Redis (loadtest/integrity.py); ``--report-json`` keeps it all.
See docs/LOADTEST.md.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from locust import LoadTestShape, constant_throughput, events
from locust.runners import WorkerRunner

if __package__ in (None, ""):  # run by path (locust -f): make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest import run as load_run
from loadtest.acked import Acknowledged
from loadtest.profiles import PROFILES
from loadtest.thresholds import Thresholds, evaluate, key_of
from loadtest.users import (
    DOUYIN_BATCH,
    Booker,
    Claimer,
    CommentStorm,
    GroupBot,
    Host,
    StoreDashboard,
    StoreStaff,
    Viewer,
)

__all__ = [
    "Booker", "BroadcastShape", "Claimer", "CommentStorm", "GroupBot", "Host",
    "StoreDashboard", "StoreStaff", "Viewer",
]  # fmt: skip
COMMENT_SHARE = 0.8  # CommentStorm pushes comments 4 times for 1 push of likes
log = logging.getLogger("loadtest")


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]  # locust: untyped
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("live companion broadcast")
    group.add_argument(
        "--demo-file", default="", help="demo.json written by `live-server serve --demo`"
    )
    group.add_argument(
        "--load-profile", default="smoke", choices=sorted(PROFILES), help="broadcast shape"
    )
    group.add_argument("--scale", type=float, default=1.0, help="multiply the profile's viewers")
    group.add_argument(
        "--profile-duration", type=float, default=0.0,
        help="stretch or shrink the profile to this many seconds (0: its own)",
    )  # fmt: skip
    group.add_argument(
        "--thresholds", default="", help="pass/fail rules (default loadtest/thresholds.toml)"
    )
    group.add_argument(
        "--acked-file", default="", help="append acknowledged bookings/codes here (JSON lines)"
    )
    group.add_argument(
        "--redis-url", default="", help="check integrity in this Redis when the run ends"
    )
    group.add_argument(
        "--redis-cluster", action="store_true", default=False, help="--redis-url is a cluster seed"
    )
    group.add_argument(
        "--report-json", default="", help="write stats, checks, integrity and verdict here"
    )


@events.init.add_listener  # type: ignore[untyped-decorator]  # locust: untyped
def _init(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:  # used as a library without command line
        return
    run = load_run.setup(options, environment.events.request)
    GroupBot.fixed_count = len(run.demo.groups)
    CommentStorm.fixed_count = 1 if run.demo.douyin_room_id and run.demo.douyin_secret else 0
    StoreDashboard.fixed_count = min(run.profile.store_dashboards, len(run.demo.stores))
    _broadcast_cast(environment, run)


def _broadcast_cast(environment: Any, run: load_run.Run) -> None:
    """The broadcast profile's HTTP crowd, paced from the profile; the classes a profile
    does not use leave the run (a fixed_count of 0 would make them weighted users)."""
    profile = run.profile
    Booker.fixed_count = profile.bookers
    if profile.bookers:
        Booker.wait_time = constant_throughput(profile.bookings_per_s / profile.bookers)
    Claimer.fixed_count = profile.claimers
    StoreStaff.fixed_count = profile.staff
    if run.storm_users:
        pushes_per_s = profile.comments_per_s / (DOUYIN_BATCH * COMMENT_SHARE)
        CommentStorm.fixed_count = run.storm_users
        CommentStorm.wait_time = constant_throughput(pushes_per_s / run.storm_users)
    environment.user_classes[:] = [
        u for u in environment.user_classes
        if u not in (Booker, Claimer, StoreStaff) or u.fixed_count > 0
    ]  # fmt: skip


@events.test_start.add_listener  # type: ignore[untyped-decorator]  # locust: untyped
def _started(environment: Any, **_: Any) -> None:
    load_run.start(environment.parsed_options)


class BroadcastShape(LoadTestShape):
    """Viewers per the profile's stages, on top of the fixed cast; stops at its end."""

    def tick(self) -> tuple[int, float] | None:
        run = load_run.current()
        elapsed: float = self.get_run_time()  # type: ignore[no-untyped-call]  # locust: untyped
        stage = run.profile.target(elapsed)
        if stage is None:
            return None
        return stage.viewers + run.fixed_users, stage.spawn_rate


@events.quitting.add_listener  # type: ignore[untyped-decorator]  # locust: untyped
def _verdict(environment: Any, **_: Any) -> None:
    """Thresholds (and integrity) decide the exit code; the master or the only process
    decides (workers' stats are merged into the master's)."""
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    options = environment.parsed_options
    run = load_run.current()
    run.acked.close()
    stats = environment.stats
    entries = [e for e in stats.entries.values()]
    exceptions = sum(e["count"] for e in environment.runner.exceptions.values())
    thresholds = Thresholds.load(options.thresholds or None, run.profile.name)
    verdict = evaluate(
        thresholds, entries, stats.total.num_requests, stats.total.num_failures, exceptions
    )
    integrity: dict[str, Any] = {"ran": False}
    if options.redis_url:
        integrity = _integrity(options, run.demo.room_id)
    passed = verdict.ok and integrity.get("ok", True)
    environment.process_exit_code = 0 if passed else 1
    report = {
        "profile": run.profile.name,
        "host": environment.host,
        "requests": [_entry(e) for e in sorted(entries, key=key_of)],
        "total": _entry(stats.total),
        "exceptions": exceptions,
        "checks": [{"rule": c.rule, "ok": c.ok, "detail": c.detail} for c in verdict.checks],
        "integrity": integrity,
        "verdict": "PASS" if passed else "FAIL",
        "started_at_epoch": round(time.time() - run.elapsed(), 3),
        # this process's Socket.IO measurements per second (loadtest/timeline.py)
        "timeline": run.timeline.as_dict(),
    }
    if options.report_json:
        Path(options.report_json).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    for check in verdict.checks:
        if not check.ok:
            log.error("threshold failed: %s: %s", check.rule, check.detail)
    for violation in integrity.get("violations", []):
        log.error("integrity: %s", violation)
    log.info("verdict: %s", report["verdict"])


def _integrity(options: Any, room_id: str) -> dict[str, Any]:
    from loadtest.integrity import check, connect

    acked = Acknowledged.read([Path(options.acked_file)] if options.acked_file else [])
    try:
        client = connect(options.redis_url, options.redis_cluster)
        try:
            return check(client, room_id, acked).as_dict()
        finally:
            client.close()
    except Exception as exc:  # the check could not run: that is no pass
        log.exception("integrity check failed to run")
        return {
            "ran": True,
            "ok": False,
            "violations": [f"check could not run: {exc}"],
            "checked": {},
        }


def _entry(e: Any) -> dict[str, Any]:
    return {
        "type": e.method or "", "name": e.name, "count": e.num_requests,
        "failures": e.num_failures, "rps": round(e.total_rps, 2),
        "avg": round(e.avg_response_time, 1), "p50": e.get_response_time_percentile(0.5),
        "p95": e.get_response_time_percentile(0.95), "p99": e.get_response_time_percentile(0.99),
        "max": round(e.max_response_time or 0, 1),
    }  # fmt: skip
