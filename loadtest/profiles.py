"""Load profiles: the shape of a broadcast (ramp, coupon-drop spike, plateau) and its cast.

A profile is data, read by the locustfile's ``BroadcastShape`` (how many viewers when) and
by the host user (when to drop coupons). Counts are *viewers*; the fixed cast (one host,
one bot per community group, store dashboards) comes on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
        return Profile(
            name=self.name, stages=stages, drops_s=self.drops_s,
            coupon_quantity=max(1, round(self.coupon_quantity * factor)),
            store_dashboards=self.store_dashboards, claim_share=self.claim_share,
            claim_within_s=self.claim_within_s, viewer_wait_s=self.viewer_wait_s,
            max_bookings_per_viewer=self.max_bookings_per_viewer, notes=self.notes,
        )  # fmt: skip


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
}
