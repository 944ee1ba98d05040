"""Per-process state of one load run: options, demo data, profile, measurements.

Locust builds users from classes, so what they share lives here, set once by the
locustfile's ``init`` listener (:func:`setup`) and read through :func:`current`.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from loadtest.acked import AckedLog
from loadtest.demo import Demo
from loadtest.profiles import PROFILES, Profile
from loadtest.timeline import Timeline

STORM_COMMENTS_PER_USER = 50.0
"""comments a second one comment-storm sender pushes (1.25 pushes of 40 comments + 10 likes):
ten senders for 500/s, so one slow answer does not hold the storm back"""


@dataclass
class Run:
    demo: Demo
    profile: Profile
    acked: AckedLog
    request_event: Any
    rng: random.Random = field(default_factory=random.Random)
    started_at: float = field(default_factory=time.monotonic)
    timeline: Timeline = field(default_factory=Timeline)
    """The Socket.IO measurements per second (the run's ``channels.html``)."""

    @property
    def fixed_users(self) -> int:
        """The cast on top of the viewers: host, group bots, store dashboards (and, in the
        broadcast profile, bookers, claimers, staff and the comment storm's senders)."""
        profile = self.profile
        cast = 1 + len(self.demo.groups) + min(profile.store_dashboards, len(self.demo.stores))
        return cast + profile.bookers + profile.claimers + profile.staff + self.storm_users

    @property
    def storm_users(self) -> int:
        """Senders of a profile's own comment storm (0: the default single sender)."""
        if not self.profile.comments_per_s or not self.demo.douyin_room_id:
            return 0
        return max(1, math.ceil(self.profile.comments_per_s / STORM_COMMENTS_PER_USER))

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def fire(
        self, request_type: str, name: str, ms: float, exception: BaseException | None = None,
        length: int = 0,
    ) -> None:  # fmt: skip
        """Report a non-HTTP measurement as a locust request (it gets percentiles, CSV, HTML)
        and, for the Socket.IO channels, to the timeline."""
        self.timeline.add(request_type, name, ms, exception is not None, self.elapsed())
        self.request_event.fire(
            request_type=request_type, name=name, response_time=max(0.0, ms),
            response_length=length, exception=exception, context={},
        )  # fmt: skip


_RUN: Run | None = None


def setup(options: Any, request_event: Any) -> Run:
    """Build the run from locust's parsed options (``--demo-file``, ``--profile``, ...)."""
    global _RUN
    if not options.demo_file:
        raise SystemExit(
            "loadtest: --demo-file DATA/demo.json is required "
            "(written by `live-server serve --demo`)"
        )
    profile = _profile(options)
    _RUN = Run(
        demo=Demo.load(options.demo_file), profile=profile,
        acked=AckedLog(options.acked_file or None), request_event=request_event,
    )  # fmt: skip
    return _RUN


def current() -> Run:
    if _RUN is None:
        raise RuntimeError("the load run is not set up (the locustfile's init listener sets it)")
    return _RUN


def _profile(options: Any) -> Profile:
    try:
        profile = PROFILES[options.load_profile]
    except KeyError:
        raise SystemExit(f"loadtest: --load-profile must be one of {', '.join(PROFILES)}") from None
    profile = profile.scaled(options.scale) if options.scale != 1.0 else profile
    if getattr(options, "profile_duration", 0):
        profile = profile.stretched(float(options.profile_duration))
    return profile


def start(options: Any) -> None:
    """test_start: the profile's clock (coupon drops) starts with the users. A worker
    takes the master's profile and scale here (locust hands custom arguments to workers
    with the first spawn, after their ``init``)."""
    if _RUN is not None:
        if options is not None:
            _RUN.profile = _profile(options)
        _RUN.started_at = time.monotonic()
