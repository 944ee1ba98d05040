"""The spatial index against geopy: known distances, the antimeridian, the poles, and a
brute-force scan over random stores."""

from __future__ import annotations

import random

import pytest
from geopy.distance import geodesic

from geo.index import LOWER, UPPER, SpatialIndex, geodesic_m


def brute(points: list[tuple[float, float, int]], lat: float, lng: float, k: int, radius_m: float | None = None) -> list[tuple[int, int]]:
    rows = sorted((geodesic((lat, lng), (p[0], p[1])).meters, p[2]) for p in points)
    if radius_m is not None:
        rows = [r for r in rows if r[0] <= radius_m]
    return [(round(d), i) for d, i in rows[:k]]


def ours(index: SpatialIndex[int], lat: float, lng: float, k: int, radius_m: float | None = None) -> list[tuple[int, int]]:
    return [(round(d), i) for d, i in index.nearest(lat, lng, k, radius_m)]


def test_known_distances() -> None:
    # geopy's documented example: Newport, RI -> Cleveland, OH = 538.390445368 miles
    newport, cleveland = (41.49008, -71.312796), (41.499498, -81.695391)
    index = SpatialIndex([(*cleveland, "cleveland")])
    [(d, name)] = index.nearest(*newport, 1)
    assert name == "cleveland" and round(d) == 866_455
    assert abs(d / 1609.344 - 538.390445368) < 1e-6
    # One degree of longitude on the equator, across the antimeridian: 111,319.491 m.
    index = SpatialIndex([(0.0, -179.5, "west"), (0.0, 178.0, "far")])
    [(d, name), (d2, _)] = index.nearest(0.0, 179.5, 2)
    assert name == "west" and round(d) == 111_319
    assert round(d2) == 166_979  # 1.5 degrees the other way
    # Over the North Pole: 89.9N 0E -> 89.9N 180E is two tenths of a degree of meridian.
    index = SpatialIndex([(89.9, 180.0, "over the pole"), (89.0, 0.0, "down the meridian")])
    [(d, name), (d2, name2)] = index.nearest(89.9, 0.0, 2)
    assert name == "over the pole" and round(d) == round(geodesic((89.9, 0), (89.9, 180)).meters)
    assert 22_300 < d < 22_400 and name2 == "down the meridian"
    # Exactly at the South Pole.
    index = SpatialIndex([(-89.5, 45.0, "near"), (-88.0, -135.0, "far")])
    assert [n for _, n in index.nearest(-90.0, 0.0, 2)] == ["near", "far"]


def test_bounds_hold_against_geodesic() -> None:
    """The sphere-based pruning bound never exceeds the true geodesic (nor the upper one)."""
    rng = random.Random(7)
    import math

    for _ in range(3000):
        a = (rng.uniform(-90, 90), rng.uniform(-180, 180))
        b = (rng.uniform(-90, 90), rng.uniform(-180, 180))
        if rng.random() < 0.5:
            b = (max(-90, min(90, a[0] + rng.uniform(-0.5, 0.5))), a[1] + rng.uniform(-0.5, 0.5))
        pa = [math.radians(v) for v in a]
        pb = [math.radians(v) for v in b]
        cos_t = math.sin(pa[0]) * math.sin(pb[0]) + math.cos(pa[0]) * math.cos(pb[0]) * math.cos(pa[1] - pb[1])
        theta = math.acos(max(-1.0, min(1.0, cos_t)))
        d = geodesic_m(*a, *b)
        assert LOWER * theta <= d + 1e-6
        assert d <= UPPER * theta + 1e-6


@pytest.mark.parametrize(
    "box",
    [
        ("china", (18.0, 45.0), (100.0, 125.0)),
        ("antimeridian", (-30.0, 30.0), (170.0, 190.0)),
        ("arctic", (80.0, 90.0), (-180.0, 180.0)),
        ("antarctic", (-90.0, -75.0), (-180.0, 180.0)),
        ("world", (-90.0, 90.0), (-180.0, 180.0)),
    ],
)
def test_matches_brute_force_geopy(box: tuple[str, tuple[float, float], tuple[float, float]]) -> None:
    _, (lat0, lat1), (lng0, lng1) = box
    rng = random.Random(hash(box[0]) & 0xFFFF)

    def wrap(lng: float) -> float:
        return (lng + 180.0) % 360.0 - 180.0

    points = [(rng.uniform(lat0, lat1), wrap(rng.uniform(lng0, lng1)), i) for i in range(400)]
    index = SpatialIndex(points)
    for _ in range(8):
        lat, lng = rng.uniform(lat0, lat1), wrap(rng.uniform(lng0, lng1))
        assert ours(index, lat, lng, 10) == brute(points, lat, lng, 10)
        assert ours(index, lat, lng, 5, radius_m=300_000) == brute(points, lat, lng, 5, 300_000)


def test_filter_limit_and_empty() -> None:
    points = [(31.0 + i * 0.01, 121.0, i) for i in range(50)]
    index = SpatialIndex(points)
    evens = index.nearest(31.0, 121.0, 5, accept=lambda i: i % 2 == 0)
    assert [i for _, i in evens] == [0, 2, 4, 6, 8]
    assert index.nearest(31.0, 121.0, 0) == []
    assert index.nearest(31.0, 121.0, 3, radius_m=1.0) == [(0.0, 0)]
    assert SpatialIndex([]).nearest(0.0, 0.0, 3) == []
    assert len(index.nearest(-31.0, -59.0, 100)) == 50  # far away: falls back to every cell
