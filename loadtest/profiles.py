"""Load profiles: the shape of a broadcast (ramp, coupon-drop spike, plateau) and its cast.

A profile is data, read by the locustfile's ``BroadcastShape`` (how many viewers when) and
by the host user (when to drop coupons). Counts are *viewers*; the fixed cast (one host,
one bot per community group, store dashboards) comes on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Stage:
    """Until ``until_s`` seconds into the run, aim for ``viewers`` at ``spawn_rate``/s."""

    until_s: float
    viewers: int
    spawn_rate: float


@dataclass(frozen=True, slots=True)
class Profile:
    """One broadcast scenario."""

    name: str
    stages: tuple[Stage, ...]
    drops_s: tuple[float, ...]
    """seconds into the run at which the host drops a coupon campaign"""
    coupon_quantity: int
    """codes per campaign; fewer than the claimers, so the sold-out path is exercised"""
    store_dashboards: int
    """staff dashboards on /store (one per store, the first N stores of demo.json)"""
    claim_share: float = 0.7
    """share of connected viewers that claim a dropped coupon"""
    claim_within_s: float = 3.0
    """claimers tap within this many seconds of receiving ``coupon.dropped``"""
    viewer_wait_s: tuple[float, float] = (2.0, 6.0)
    """think time between a viewer's actions"""
    max_bookings_per_viewer: int = 2
    notes: str = field(default="")
    # --- the whole peak (``broadcast``): 0 everywhere else, so the other profiles are as before
    sockets: int = 0
    """viewers held by the light Node carrier (loadtest/sockets.js) on /live, connected
    before the users start; they watch and are measured (delivery, lost, disconnects)"""
    bookers: int = 0
    """HTTP-only viewers from the carrier's crowd who book visits (a new identity every
    ``max_bookings_per_viewer`` bookings), paced to ``bookings_per_s`` in all"""
    bookings_per_s: float = 0.0
    bookings_target: int = 0
    """bookings (201) the run must make in all: a broadcast that booked less did not hold"""
    claimers: int = 0
    """HTTP-only viewers who claim each dropped coupon within ``claim_within_s``"""
    staff: int = 0
    """store staff checking booked visits in and redeeming claimed codes"""
    staff_wait_s: tuple[float, float] = (1.0, 3.0)
    comments_per_s: float = 0.0
    """the platform's comment storm (Douyin push); 0: the default one (100 messages/s)"""
    pinned: bool = False
    """server and Valkey on the first half of the CPUs, load generators on the rest"""

    @property
    def duration_s(self) -> float:
        return self.stages[-1].until_s

    def target(self, elapsed_s: float) -> Stage | None:
        """The stage in force ``elapsed_s`` into the run; None once the run is over."""
        for stage in self.stages:
            if elapsed_s < stage.until_s:
                return stage
        return None

    def scaled(self, factor: float) -> Profile:
        """The same shape with ``factor`` times the viewers (and coupons)."""
        stages = tuple(
            Stage(s.until_s, max(1, round(s.viewers * factor)), max(0.5, s.spawn_rate * factor))
            for s in self.stages
        )
        return replace(
            self, stages=stages, coupon_quantity=max(1, round(self.coupon_quantity * factor)),
            sockets=round(self.sockets * factor),
            claimers=round(self.claimers * factor),
            bookers=max(1, round(self.bookers * factor)) if self.bookers else 0,
            bookings_per_s=self.bookings_per_s * factor,
            bookings_target=round(self.bookings_target * factor),
        )  # fmt: skip

    def with_sockets(self, sockets: int) -> Profile:
        """The same broadcast with ``sockets`` viewers on the Node carrier."""
        return replace(self, sockets=sockets)

    def stretched(self, duration_s: float) -> Profile:
        """The same shape over ``duration_s`` seconds (stages and drops moved alike)."""
        factor = duration_s / self.duration_s
        return replace(
            self,
            stages=tuple(replace(s, until_s=round(s.until_s * factor, 1)) for s in self.stages),
            drops_s=tuple(round(d * factor, 1) for d in self.drops_s),
            bookings_target=round(self.bookings_target * factor),
        )


PROFILES: dict[str, Profile] = {
    # CI: one minute, light enough to run beside the test suite on 2 cores.
    "smoke": Profile(
        name="smoke",
        stages=(
            Stage(12, 24, 4),  # ramp
            Stage(22, 24, 4),  # settle
            Stage(36, 40, 8),  # the drop draws a spike of late joiners
            Stage(60, 24, 8),  # plateau
        ),
        drops_s=(24,),
        coupon_quantity=15,
        store_dashboards=6,
        notes="60 s, 24-40 viewers, one coupon drop",
    ),
    # The day before a broadcast: a few hundred viewers against one node.
    "peak": Profile(
        name="peak",
        stages=(
            Stage(40, 200, 5),  # ramp
            Stage(60, 200, 5),  # settle
            Stage(85, 320, 20),  # the drop draws a spike of late joiners
            Stage(150, 200, 20),  # plateau, second drop
        ),
        drops_s=(62, 110),
        coupon_quantity=120,
        store_dashboards=24,
        notes="150 s, 200-320 viewers, two coupon drops",
    ),
    # Issue 21, "the whole peak, one node": 10,000 viewers on the Node carrier, two coupon
    # storms, 5,000 bookings in 10 minutes, 500 comments/s, check-ins and redemptions, the
    # host and 24 store dashboards. Locust's own Socket.IO viewers (the stages) are a few
    # dozen: they book and claim too, and see the drops first-hand.
    "broadcast": Profile(
        name="broadcast",
        stages=(
            Stage(30, 40, 50),  # the cast joins (the carrier's viewers are already in)
            Stage(600, 40, 50),  # ten minutes of broadcast
        ),
        drops_s=(90, 390),
        coupon_quantity=500,
        store_dashboards=24,
        sockets=10_000,
        bookers=40,
        bookings_per_s=9.5,
        bookings_target=5000,
        claimers=800,
        claim_within_s=3.0,
        staff=4,
        comments_per_s=500,
        pinned=True,
        notes="600 s, 10,000 viewers on the Node carrier + 40 locust viewers, 800 claimers "
        "for 500 codes x 2 drops, ~9.5 booking flows/s, 500 comments/s",
    ),
}
