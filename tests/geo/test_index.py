"""The spatial index against geopy: known distances, the antimeridian, the poles, and a
brute-force scan over random stores."""

from __future__ import annotations

import random

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.index import (
    GUARD_M,
    GUARD_SHORT_M,
    LOWER,
    SHORT_M,
    UPPER,
    SpatialIndex,
    _reduced,
    _vincenty,
    geodesic_m,
)


def brute(
    points: list[tuple[float, float, int]],
    lat: float,
    lng: float,
    k: int,
    radius_m: float | None = None,
) -> list[tuple[int, int]]:
    rows = sorted((geodesic((lat, lng), (p[0], p[1])).meters, p[2]) for p in points)
    if radius_m is not None:
        rows = [r for r in rows if r[0] <= radius_m]
    return [(round(d), i) for d, i in rows[:k]]


def ours(
    index: SpatialIndex[int], lat: float, lng: float, k: int, radius_m: float | None = None
) -> list[tuple[int, int]]:
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
        cos_t = math.sin(pa[0]) * math.sin(pb[0]) + math.cos(pa[0]) * math.cos(pb[0]) * math.cos(
            pa[1] - pb[1]
        )
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
def test_matches_brute_force_geopy(
    box: tuple[str, tuple[float, float], tuple[float, float]],
) -> None:
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


# --- the pruning, property-tested against brute force -------------------------------------
# The search visits a precomputed 3x3x3 block, then outer rings cell by cell, skipping cells
# whose gap to the query exceeds the stop distance (or an upper bound taken from points seen
# but not evaluated yet); Vincenty results near a rounding boundary, the radius or a
# neighbour are settled with geographiclib. Clustered stores, duplicates, tiny and huge cells
# (many rings, the fall-back to every cell), filters and radii exercise every branch.


def _wrap(lng: float) -> float:
    return (lng + 180.0) % 360.0 - 180.0


@st.composite
def _scene(draw: st.DrawFn) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """Stores in a few clusters (some straddling the antimeridian or a pole), with
    duplicates, and a query near a cluster or anywhere."""
    centres = draw(
        st.lists(
            st.tuples(
                st.one_of(st.floats(-90, 90), st.sampled_from([89.99, -89.99, 0.0])),
                st.one_of(st.floats(-180, 180), st.sampled_from([179.99, -179.99])),
            ),
            min_size=1,
            max_size=4,
        )
    )
    spread = draw(st.sampled_from([0.001, 0.05, 1.0, 10.0]))
    offsets = st.tuples(st.floats(-spread, spread), st.floats(-spread, spread))
    stores: list[tuple[float, float]] = []
    for lat, lng in centres:
        for dlat, dlng in draw(st.lists(offsets, min_size=1, max_size=25)):
            stores.append((max(-90.0, min(90.0, lat + dlat)), _wrap(lng + dlng)))
    stores += draw(st.lists(st.sampled_from(stores), max_size=5))  # exact duplicates
    lat, lng = draw(st.sampled_from(centres))
    dlat, dlng = draw(offsets)
    near = (max(-90.0, min(90.0, lat + dlat)), _wrap(lng + dlng))
    query = draw(st.one_of(st.just(near), st.tuples(st.floats(-90, 90), st.floats(-180, 180))))
    return stores, query


@settings(max_examples=150, deadline=None)
@given(
    scene=_scene(),
    limit=st.integers(1, 15),
    radius_km=st.none() | st.floats(0.05, 3000),
    cell=st.sampled_from([None, 0.0005, 0.004, 0.03, 0.3, 2.5]),
    keep=st.none() | st.integers(2, 3),
)
def test_pruning_matches_brute_force(
    scene: tuple[list[tuple[float, float]], tuple[float, float]],
    limit: int,
    radius_km: float | None,
    cell: float | None,
    keep: int | None,
) -> None:
    stores, (lat, lng) = scene
    index = SpatialIndex([(a, b, i) for i, (a, b) in enumerate(stores)], cell=cell)
    radius_m = None if radius_km is None else radius_km * 1000

    def accept(i: int) -> bool:
        return keep is None or i % keep == 0

    found = index.nearest(lat, lng, limit, radius_m, accept if keep else None)
    rows = sorted((geodesic((lat, lng), p).meters, i) for i, p in enumerate(stores) if accept(i))
    if radius_m is not None:
        rows = [r for r in rows if r[0] <= radius_m]
    # The same distances in the same order; among stores at one distance (duplicates, or
    # points 1e-12 degrees apart) either may come first, so each store is checked by its
    # own distance rather than by its place in the brute-force order.
    assert len({i for _, i in found}) == len(found)
    for d, i in found:
        assert accept(i) and abs(geodesic((lat, lng), stores[i]).meters - d) < 0.5, (d, i)
    assert [round(d) for d, _ in found] == [round(d) for d, _ in rows[:limit]], (
        stores,
        (lat, lng),
        limit,
        radius_m,
        cell,
        keep,
        found,
        rows[:limit],
    )


def test_vincenty_within_its_guards() -> None:
    """The guards assume Vincenty (as written) is within a fifth of them of geographiclib."""
    import math

    rng = random.Random(11)
    for _ in range(4000):
        lat, lng = rng.uniform(-90, 90), rng.uniform(-180, 180)
        spread = 10 ** rng.uniform(-4, 2.3)
        lat2 = max(-90.0, min(90.0, lat + rng.uniform(-spread, spread)))
        lng2 = (lng + rng.uniform(-spread, spread) + 180.0) % 360.0 - 180.0
        dlng = lng2 - lng
        dlng = dlng - 360.0 if dlng > 180.0 else dlng + 360.0 if dlng < -180.0 else dlng
        v = _vincenty(*_reduced(lat), *_reduced(lat2), math.radians(dlng))
        if v is None:
            continue  # the index falls back to geographiclib
        exact = geodesic_m(lat, lng, lat2, lng2)
        guard = GUARD_SHORT_M if exact < SHORT_M else GUARD_M
        assert abs(v - exact) < guard / 5, (lat, lng, lat2, lng2, v - exact)


@pytest.mark.parametrize(
    ("box", "cell_scale"),
    [
        (((18.0, 45.0), (100.0, 125.0)), 1.0),  # the benchmark's box
        (((18.0, 45.0), (100.0, 125.0)), 0.3),  # small cells: many gap-pruned rings
        (((-20.0, 20.0), (170.0, 200.0)), 0.6),  # across the antimeridian
        (((75.0, 90.0), (-180.0, 180.0)), 0.6),  # the Arctic
    ],
)
def test_dense_rings_match_brute_force(
    box: tuple[tuple[float, float], tuple[float, float]], cell_scale: float
) -> None:
    """Enough stores that queries widen past the first block into pruned outer rings
    (queries inside, on the edge of and well outside the stores' box)."""
    rng = random.Random(hash(box) & 0xFFFF)
    (lat0, lat1), (lng0, lng1) = box
    points = [(rng.uniform(lat0, lat1), _wrap(rng.uniform(lng0, lng1)), i) for i in range(1500)]
    cell = SpatialIndex(points).cell * cell_scale
    index = SpatialIndex(points, cell=cell)
    for n in range(10):
        pad = (0.0, 0.0, 2.0, 15.0)[n % 4]
        lat = max(-90.0, min(90.0, rng.uniform(lat0 - pad, lat1 + pad)))
        lng = _wrap(rng.uniform(lng0 - pad, lng1 + pad))
        limit = rng.choice((1, 10, 30))
        rows = sorted((geodesic_m(lat, lng, a, b), i) for a, b, i in points)
        assert ours(index, lat, lng, limit) == [(round(d), i) for d, i in rows[:limit]]
        radius = rows[min(limit, 5)][0] * 1.3
        expected = [(round(d), i) for d, i in rows[:limit] if d <= radius]
        assert ours(index, lat, lng, limit, radius_m=radius) == expected


def test_half_metre_and_radius_edge_settled_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A distance within the guard of x.5 m, or of the radius, is recomputed with
    geographiclib, so the metre and the membership are geopy's."""
    import geo.index as index_module

    rng = random.Random(5)
    while True:  # a store whose distance is a hair from a half metre (1 in ~5,000 pairs)
        lat, lng = rng.uniform(20, 40), rng.uniform(100, 120)
        lat2, lng2 = lat + rng.uniform(-0.1, 0.1), lng + rng.uniform(-0.1, 0.1)
        exact = geodesic_m(lat, lng, lat2, lng2)
        if abs(exact - int(exact) - 0.5) < GUARD_SHORT_M / 2:
            break
    calls: list[tuple[float, ...]] = []
    real = index_module.geodesic_m

    def counting(*args: float) -> float:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(index_module, "geodesic_m", counting)
    index = SpatialIndex([(lat2, lng2, "edge"), (lat2 + 0.5, lng2, "far")])
    assert [(round(d), s) for d, s in index.nearest(lat, lng, 1)] == [(round(exact), "edge")]
    assert calls  # settled by geographiclib
    assert index.nearest(lat, lng, 2, radius_m=exact) == [(exact, "edge")]  # the edge is in
    assert index.nearest(lat, lng, 2, radius_m=exact - 2e-6) == []  # and just past it, out


@settings(max_examples=300, deadline=None)
@given(
    q=st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    offset=st.tuples(st.floats(-3, 3), st.floats(-3, 3)),
    scale=st.sampled_from([1e-4, 1e-2, 1.0]),
    cell=st.sampled_from([0.0003, 0.003, 0.03, 0.3]),
    ring=st.integers(1, 3),
)
def test_reach_bounds_the_chord_to_every_point_outside_the_rings(
    q: tuple[float, float],
    offset: tuple[float, float],
    scale: float,
    cell: float,
    ring: int,
) -> None:
    """``_reach`` (how far the visited cells surely extend on the sphere) never overshoots."""
    import math

    from geo.index import _reach, _unit

    p = (max(-90.0, min(90.0, q[0] + offset[0] * scale)), _wrap(q[1] + offset[1] * scale))
    qv, pv = _unit(*q), _unit(*p)
    fq = [(v + 1) / cell for v in qv]
    iq = [int(v) for v in fq]
    ip = [int((v + 1) / cell) for v in pv]
    if max(abs(a - b) for a, b in zip(iq, ip, strict=True)) <= ring:
        return  # p is inside the visited cells: nothing to check
    m = [max(0.0, min(f - i, 1.0 - (f - i)) - 1e-6) for f, i in zip(fq, iq, strict=True)]
    chord = math.dist(qv, pv)
    assert chord >= _reach(*qv, *m, ring, cell)
