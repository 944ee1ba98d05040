"""Coordinates: nearest stores come back nearest first, with true geodesic distances, for
any point on Earth; coordinates out of range (or not numbers) are a 400 that says why."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.index import SpatialIndex

from .conftest import http

lats = st.floats(-90, 90, allow_nan=False)
lngs = st.floats(-180, 180, allow_nan=False)
points = st.tuples(lats, lngs)


@settings(max_examples=150, deadline=None)
@given(
    stores=st.lists(points, min_size=1, max_size=60),
    query=points,
    limit=st.integers(1, 20),
    radius_km=st.none() | st.floats(0.5, 20_000),
)
def test_index_nearest_is_ordered_and_exact(
    stores: list[tuple[float, float]],
    query: tuple[float, float],
    limit: int,
    radius_km: float | None,
) -> None:
    """The spatial index against brute force, anywhere (poles and the antimeridian too)."""
    index = SpatialIndex((lat, lng, i) for i, (lat, lng) in enumerate(stores))
    radius_m = radius_km * 1000 if radius_km is not None else None
    found = index.nearest(query[0], query[1], limit, radius_m)
    distances = [d for d, _ in found]
    assert distances == sorted(distances)
    truth = sorted(geodesic(query, p).meters for p in stores)
    if radius_m is not None:
        truth = [d for d in truth if d <= radius_m]
        assert all(d <= radius_m for d in distances)
    for (d, i), expected in zip(found, truth[:limit], strict=False):
        assert math.isclose(d, geodesic(query, stores[i]).meters, abs_tol=0.01)
        assert math.isclose(d, expected, abs_tol=0.01)  # none nearer was skipped
    # Borderline radius: one at exactly the edge may round either way.
    assert abs(len(found) - min(limit, len(truth))) <= (0 if radius_m is None else 1)


def _nearest(base: str, **query: Any) -> tuple[int, Any]:
    status, body, _ = http("GET", f"{base}/api/v1/stores/nearest?{urlencode(query)}")
    return status, body


@settings(max_examples=60, deadline=None)
@given(lat=lats, lng=lngs, limit=st.integers(1, 50), radius_km=st.none() | st.floats(0.001, 20_040))
def test_http_nearest_is_ordered(
    demo_server, lat: float, lng: float, limit: int, radius_km: float | None
) -> None:  # type: ignore[no-untyped-def]
    query: dict[str, Any] = {"lat": repr(lat), "lng": repr(lng), "limit": limit}
    if radius_km is not None:
        query["radius_km"] = repr(radius_km)
    status, body = _nearest(demo_server.base, **query)
    assert status == 200, body
    distances = [s["distance_m"] for s in body["stores"]]
    assert distances == sorted(distances)
    assert len(distances) <= limit
    for s in body["stores"]:
        assert abs(s["distance_m"] - geodesic((lat, lng), (s["lat"], s["lng"])).meters) <= 1
        if radius_km is not None:
            assert s["distance_m"] <= radius_km * 1000 + 1


out_of_range = st.one_of(
    st.tuples(st.floats(90, 1e300, exclude_min=True), lngs),
    st.tuples(st.floats(-1e300, -90, exclude_max=True), lngs),
    st.tuples(lats, st.floats(180, 1e300, exclude_min=True)),
    st.tuples(lats, st.floats(-1e300, -180, exclude_max=True)),
).map(lambda p: (repr(p[0]), repr(p[1])))
not_numbers = st.tuples(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "", "abc", "1,5", "0x10", "1e999", "None"]),
    st.sampled_from(["121.47", "nan", "inf", "x"]),
)


@settings(max_examples=60, deadline=None)
@given(point=st.one_of(out_of_range, not_numbers), swap=st.booleans())
def test_http_bad_coordinates_are_400(demo_server, point: tuple[str, str], swap: bool) -> None:  # type: ignore[no-untyped-def]
    lat, lng = (point[1], point[0]) if swap and point[1] in ("nan", "inf", "x") else point
    status, body = _nearest(demo_server.base, lat=lat, lng=lng)
    assert status == 400, (lat, lng, status, body)
    assert body["detail"] and body["status"] == 400
