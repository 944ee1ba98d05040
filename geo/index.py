"""Nearest stores: a spatial index that prunes candidates, then exact WGS-84 geodesics.

How a query works:

1. Every store is a unit vector on the sphere, bucketed into a 3-D voxel grid (cell size
   chosen from the data so a cell holds a handful of stores). Unit vectors have no seam:
   the antimeridian and the poles need no special case.
2. Each cell a query can land in has its 3x3x3 neighbourhood precomputed as one flat list
   (the "block"). A query takes its block's points within the block's sure reach on the
   sphere (:func:`_reach`: a chord lower bound for anything outside the block, from how
   deep the query sits in its cell and how the sphere tilts against each axis), sorts
   them by chord and evaluates them in that order. If the k-th result is not settled
   within the reach, rings 2, 3, ... follow, but only their cells whose gap to the query
   can still hold a winner (bounded by the exact k-th so far, or from above by the points
   already seen); beyond a few rings, every remaining cell at once.
3. The ellipsoid and the sphere (same geodetic coordinates) differ in their metric by the
   radii of curvature, so for the central angle ``theta``::

       M_EQUATOR * theta  <=  geodesic  <=  N_POLE * theta

   with ``M_EQUATOR = b**2/a`` and ``N_POLE = a**2/b``. The lower bound stops the search
   as soon as no unseen store can beat the k-th best exact distance (or the radius): a
   query evaluates ~k + 0.1 exact distances. (A sharper cheap bound would not save any:
   the k results need their exact metres anyway.)
4. Exact distances: Vincenty's inverse formula on WGS-84 (pure Python, ~2.5 µs), with
   geographiclib (what ``geopy.distance.geodesic`` calls, ~50 µs) as the fallback whenever
   Vincenty does not converge or its error (measured: < 1.2e-5 m under 1,000 km) could
   change a rounded metre, the order of two stores or membership in the radius. Results
   equal geopy's, to the metre and in order (tests compare them).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Generic, TypeVar

from geographiclib.geodesic import Geodesic

# WGS-84, exactly as geopy's ELLIPSOIDS["WGS-84"] and geographiclib's Geodesic.WGS84.
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563
WGS84_B = WGS84_A * (1 - WGS84_F)
M_EQUATOR = WGS84_B**2 / WGS84_A  # smallest radius of curvature (meridian, equator)
N_POLE = WGS84_A**2 / WGS84_B  # largest radius of curvature (at the poles)
LOWER = M_EQUATOR * (1 - 1e-9)  # float slack: the bound must never overshoot
UPPER = N_POLE * (1 + 1e-9)

# A Vincenty distance closer than this to a rounding boundary (or to a neighbour, or to the
# radius) is recomputed with geographiclib. Measured against geographiclib over 600,000
# random lines (tests/geo/test_index.py keeps checking it): Vincenty as written here is
# within 1.2e-5 m below 1,000 km (the floor is the 1e-12 rad convergence test times the
# Earth's radius) and within 8e-5 m at any length. The guards keep a margin of >= 8x; the
# tight one below 1,000 km makes the slow geographiclib path 10x rarer (~0.2% of queries).
GUARD_M = 1e-3
GUARD_SHORT_M = 1e-4
SHORT_M = 1_000_000.0
EARTH_MAX_M = 20_004_000.0  # half a meridian, a little over

_E2_PRIME = (WGS84_A**2 - WGS84_B**2) / WGS84_B**2
_GEOD = Geodesic.WGS84
_DISTANCE = Geodesic.DISTANCE


def geodesic_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Geodesic distance on WGS-84 in metres, exactly what ``geopy.distance.geodesic`` gives."""
    return float(_GEOD.Inverse(lat1, lng1, lat2, lng2, _DISTANCE)["s12"])


def _reduced(lat: float) -> tuple[float, float]:
    """sin and cos of the reduced latitude (Vincenty's U)."""
    u = (
        math.atan((1 - WGS84_F) * math.tan(math.radians(lat)))
        if abs(lat) < 90
        else math.copysign(math.pi / 2, lat)
    )
    return math.sin(u), math.cos(u)


def _vincenty(
    sin_u1: float, cos_u1: float, sin_u2: float, cos_u2: float, dlng: float,
    sin: Callable[[float], float] = math.sin, cos: Callable[[float], float] = math.cos,
    sqrt: Callable[[float], float] = math.sqrt, atan2: Callable[[float, float], float] = math.atan2,
) -> float | None:  # fmt: skip
    """Vincenty's inverse distance (metres) on WGS-84, or None when it does not converge.

    The hot loop of every query: math functions are bound as defaults (local lookups).
    """
    f = WGS84_F
    ss = sin_u1 * sin_u2
    cc = cos_u1 * cos_u2
    sc = cos_u1 * sin_u2
    cs = sin_u1 * cos_u2
    # Start from the first-order solution lambda ~ L (1 + f cos U1 cos U2) instead of L: one
    # iteration fewer for most lines (3 instead of 4 under 100 km). Near-antipodal lines,
    # where Vincenty is touchy, keep the textbook start.
    lam = dlng * (1.0 + f * cc) if -1.0 < dlng < 1.0 else dlng
    for _ in range(60):
        sin_lam = sin(lam)
        cos_lam = cos(lam)
        t1 = cos_u2 * sin_lam
        t2 = sc - cs * cos_lam
        sin_sigma = sqrt(t1 * t1 + t2 * t2)
        if sin_sigma == 0.0:
            return 0.0  # the same point
        cos_sigma = ss + cc * cos_lam
        sigma = atan2(sin_sigma, cos_sigma)
        sin_alpha = cc * sin_lam / sin_sigma
        cos2_alpha = 1.0 - sin_alpha * sin_alpha
        cos_2sm = cos_sigma - 2.0 * ss / cos2_alpha if cos2_alpha != 0.0 else 0.0
        c = f / 16.0 * cos2_alpha * (4.0 + f * (4.0 - 3.0 * cos2_alpha))
        previous = lam
        lam = dlng + (1.0 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1.0 + 2.0 * cos_2sm * cos_2sm))
        )
        if -1e-12 < lam - previous < 1e-12:
            break
    else:
        return None
    if lam > math.pi or lam < -math.pi:
        return None  # near-antipodal: let geographiclib decide
    u2 = cos2_alpha * _E2_PRIME
    big_a = 1.0 + u2 / 16384.0 * (4096.0 + u2 * (-768.0 + u2 * (320.0 - 175.0 * u2)))
    big_b = u2 / 1024.0 * (256.0 + u2 * (-128.0 + u2 * (74.0 - 47.0 * u2)))
    c2 = cos_2sm * cos_2sm
    delta = big_b * sin_sigma * (
        cos_2sm
        + big_b / 4.0 * (
            cos_sigma * (-1.0 + 2.0 * c2)
            - big_b / 6.0 * cos_2sm * (-3.0 + 4.0 * sin_sigma * sin_sigma) * (-3.0 + 4.0 * c2)
        )
    )  # fmt: skip
    return WGS84_B * big_a * (sigma - delta)


def _unit(lat: float, lng: float) -> tuple[float, float, float]:
    phi, lam = math.radians(lat), math.radians(lng)
    return math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)


def _chord2_for(distance_m: float) -> float:
    """Squared chord below which a point may lie within ``distance_m`` (lower bound)."""
    theta = distance_m / LOWER
    if theta >= math.pi:
        return math.inf
    return (2.0 * math.sin(theta / 2.0)) ** 2 + CHORD2_SLACK


# Squared chords are computed as 2 - 2 (p . q): the dot product of two unit vectors is off by
# a few ulps (< 2e-15 here), which at a few metres is more than the guard in chord terms. A
# point within the stop distance must never look beyond it: stops get this absolute slack
# (about 0.6 m of extra reach, only ever felt by queries within a metre or two of a store).
CHORD2_SLACK = 1e-14


def _reach(
    qx: float, qy: float, qz: float, mx: float, my: float, mz: float, ring: int, cell: float
) -> float:
    """A lower bound on the chord from the unit vector ``q`` to any point of the unit sphere
    outside the cells at Chebyshev distance <= ``ring`` of q's cell (q sits ``m`` cells from
    its cell's nearer face on each axis).

    Such a point p is >= d = (ring + m_a) * cell from q along some axis a. On the sphere,
    with chord r = |p - q|:  p - q = -(r^2 / 2) q + u,  u orthogonal to q,  |u| <= r, so
    |p_a - q_a| <= (r^2 / 2) |q_a| + r sqrt(1 - q_a^2). Solving for r: r >= 2 d / (s + sqrt(
    s^2 + 2 |q_a| d)) with s = sqrt(1 - q_a^2). An axis that points out of the surface
    (s small) is crossed only far away: the cube's faces there count less than a cell.
    """
    lowest = math.inf
    for q, m in ((qx, mx), (qy, my), (qz, mz)):
        a = abs(q)
        s2 = max(0.0, 1.0 - a * a)
        d = (ring + m) * cell
        r = 2.0 * d / (math.sqrt(s2) + math.sqrt(s2 + 2.0 * a * d))
        if r < lowest:
            lowest = r
    return lowest * (1.0 - 1e-9)


T = TypeVar("T")


class SpatialIndex(Generic[T]):
    """k-nearest items by WGS-84 geodesic distance. Immutable: rebuild to change.

    ``items`` are ``(lat, lng, item)``. :meth:`nearest` returns ``(distance_m, item)``
    pairs nearest first, where ``distance_m`` is the exact geodesic (unrounded).
    """

    def __init__(
        self, items: Iterable[tuple[float, float, T]], *, cell: float | None = None
    ) -> None:
        self.items: list[T] = []
        # (lat, lng, sin U, cos U) per item: a tuple unpacks faster than attribute reads
        self._points: list[tuple[float, float, float, float]] = []
        xyz: list[tuple[float, float, float]] = []
        for lat, lng, item in items:
            self.items.append(item)
            su, cu = _reduced(lat)
            self._points.append((lat, lng, su, cu))
            xyz.append(_unit(lat, lng))
        self._xyz = xyz
        self.cell = cell if cell is not None else self._pick_cell(xyz)
        self._build(self.cell)

    def __len__(self) -> int:
        return len(self.items)

    # --- building ----------------------------------------------------------------------
    @staticmethod
    def _bucket(xyz: Sequence[tuple[float, float, float]], cell: float) -> dict[int, int]:
        counts: dict[int, int] = {}
        grid = int(2.0 / cell) + 2
        for x, y, z in xyz:
            key = ((int((x + 1) / cell) * grid) + int((y + 1) / cell)) * grid + int((z + 1) / cell)
            counts[key] = counts.get(key, 0) + 1
        return counts

    @classmethod
    def _pick_cell(cls, xyz: Sequence[tuple[float, float, float]]) -> float:
        """A cell size where the store a query lands next to shares its cell with ~8 others.

        Uniform data: sphere area / n stores per ~4 stores a cell. Clustered data (stores
        in cities): halve while a typical store's cell is crowded.
        """
        n = len(xyz)
        if n == 0:
            return 1.0
        cell = min(0.5, math.sqrt(4 * math.pi * 4 / n))
        sample = xyz if n <= 20_000 else xyz[:: n // 20_000]
        scale = len(xyz) / len(sample)
        while cell > 2e-5:  # ~130 m
            counts = cls._bucket(sample, cell)
            crowd = sum(c * c for c in counts.values()) * scale / len(sample)
            if crowd <= 16:
                break
            cell /= 2
        return cell

    def _build(self, cell: float) -> None:
        self._grid = int(2.0 / cell) + 2
        cells: dict[int, list[tuple[float, float, float, int]]] = {}
        for i, (x, y, z) in enumerate(self._xyz):
            cells.setdefault(self._key(*self._cell_of(x, y, z)), []).append((x, y, z, i))
        # Re-create every point (its tuple and floats) cell by cell in key order, so a cell's
        # points, and a block's 9 columns of cells, sit together in memory: a query reads ~50
        # of them, and scattered they cost a cache miss or more each (~20% of a query).
        cells = {
            key: [(x * 1.0, y * 1.0, z * 1.0, i) for x, y, z, i in cells[key]]
            for key in sorted(cells)
        }
        self._cells = cells
        self._cell_coords = {key: self._coords(key) for key in cells}
        g = self._grid
        # Key offsets of the 27 cells around one (valid away from the grid's low edges).
        self._deltas = [
            (dx * g + dy) * g + dz for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)
        ]
        # Every occupied cell's 3x3x3 neighbourhood (rings 0 and 1) as one flat list, built
        # once: a query's first step reads one list instead of enumerating 27 cells, and
        # most queries need nothing more. Costs ~10 references per store.
        self._blocks = {key: self._gather(*self._cell_coords[key]) for key in cells}
        # Also the empty cells next to a store where a query can land (the voxel meets the
        # sphere): a voxel grid cuts the sphere into many slivers, ~5% of queries fall in one.
        c = cell
        for key in {k + d for k in cells for d in self._deltas}.difference(cells):
            ix, iy, iz = self._coords(key)
            if not (0 <= ix < g and 0 <= iy < g and 0 <= iz < g):
                continue
            near = far = 0.0
            for i in (ix, iy, iz):
                lo, hi = i * c - 1.0, (i + 1) * c - 1.0
                gap = lo if lo > 0 else -hi if hi < 0 else 0.0
                near += gap * gap
                far += max(lo * lo, hi * hi)
            if near <= 1.0 + 1e-9 and far >= 1.0 - 1e-9 and (block := self._gather(ix, iy, iz)):
                self._blocks[key] = block

    def _gather(self, ix: int, iy: int, iz: int) -> list[tuple[float, float, float, int]]:
        """The points of every cell at Chebyshev distance <= 1 from ``(ix, iy, iz)``."""
        cells, g = self._cells, self._grid
        block: list[tuple[float, float, float, int]] = []
        if ix > 0 and iy > 0 and iz > 0:  # (ix + 1 <= g - 1 always: the grid has a spare row)
            key = (ix * g + iy) * g + iz  # (C-level iteration: this runs once per cell)
            return list(
                chain.from_iterable(filter(None, map(cells.get, map(key.__add__, self._deltas))))
            )
        for n in (0, 1):
            for key in self._ring(ix, iy, iz, n):
                block += cells[key]
        return block

    def _cell_of(self, x: float, y: float, z: float) -> tuple[int, int, int]:
        c = self.cell
        return int((x + 1) / c), int((y + 1) / c), int((z + 1) / c)

    def _key(self, ix: int, iy: int, iz: int) -> int:
        return (ix * self._grid + iy) * self._grid + iz

    def _coords(self, key: int) -> tuple[int, int, int]:
        g = self._grid
        return key // (g * g), (key // g) % g, key % g

    def _ring(self, ix: int, iy: int, iz: int, n: int) -> Iterable[int]:
        """Keys of occupied cells at Chebyshev distance exactly ``n``."""
        cells, g = self._cells, self._grid
        if n == 0:
            key = self._key(ix, iy, iz)
            if key in cells:
                yield key
            return
        full = range(-n, n + 1)
        ends = (-n, n)
        for dx in full:
            x = ix + dx
            if x < 0 or x >= g:
                continue
            edge_x = dx in ends
            for dy in full:
                y = iy + dy
                if y < 0 or y >= g:
                    continue
                base = (x * g + y) * g + iz
                for dz in full if edge_x or dy in ends else ends:
                    z = iz + dz
                    if 0 <= z < g and base + dz in cells:
                        yield base + dz

    # --- querying ------------------------------------------------------------------------
    def nearest(
        self,
        lat: float,
        lng: float,
        limit: int = 10,
        radius_m: float | None = None,
        accept: Callable[[T], bool] | None = None,
    ) -> list[tuple[float, T]]:
        """The ``limit`` nearest accepted items within ``radius_m``, nearest first."""
        if limit <= 0 or not self.items:
            return []
        qx, qy, qz = _unit(lat, lng)
        q_su, q_cu = _reduced(lat)
        cell = self.cell
        fx, fy, fz = (qx + 1) / cell, (qy + 1) / cell, (qz + 1) / cell
        ix, iy, iz = int(fx), int(fy), int(fz)
        fx, fy, fz = fx - ix, fy - iy, fz - iz
        # How deep the query sits inside its cell along each axis, in cells (slack for float
        # rounding): a point outside rings 0..n is >= (n + m) cells away along some axis.
        mx = max(0.0, min(fx, 1.0 - fx) - 1e-6)
        my = max(0.0, min(fy, 1.0 - fy) - 1e-6)
        mz = max(0.0, min(fz, 1.0 - fz) - 1e-6)
        g = self._grid
        max_ring = int(2.0 / cell) + 2
        radius = EARTH_MAX_M if radius_m is None else radius_m
        cells, points, items = self._cells, self._points, self.items
        radians, vincenty = math.radians, _vincenty

        # Distances are compared as squared chords: 2 - 2 cos(theta) is monotonic in theta.
        radius_stop2 = _chord2_for(radius + GUARD_M)
        stop2 = radius_stop2  # beyond this squared chord nothing can qualify any more
        block = self._blocks.get((ix * g + iy) * g + iz)
        if block is None:  # the query's own cell holds no store
            block = self._gather(ix, iy, iz)
        # Seen, not evaluated yet: rings 0 and 1 to start with, but only the points the first
        # round can settle (within its covered distance, below); the rest of the block, if
        # ever needed, joins when the search widens. Fewer tuples to build and sort.
        first2 = _reach(qx, qy, qz, mx, my, mz, 1, cell) ** 2
        pending = [
            (c, i) for x, y, z, i in block if (c := 2.0 - 2.0 * (x * qx + y * qy + z * qz)) < first2
        ]
        best: list[tuple[float, int]] = []  # max-heap by distance: (-distance, index)
        evaluated: list[tuple[float, int]] = []
        ring = 1
        exhausted = False
        while True:
            if ring == 2:  # the rest of the block (exactly the complement of the first filter)
                pending += [
                    (c, i)
                    for x, y, z, i in block
                    if (c := 2.0 - 2.0 * (x * qx + y * qy + z * qz)) >= first2
                ]
                pending.sort()
            if ring == 1:
                pass  # the block above
            elif not exhausted and 24 * ring * ring + 2 > len(cells):
                # A wider ring would cost more than visiting every occupied cell once.
                for key, (cx, cy, cz) in self._cell_coords.items():
                    if max(abs(cx - ix), abs(cy - iy), abs(cz - iz)) >= ring:
                        pending += [
                            (2.0 - 2.0 * (x * qx + y * qy + z * qz), i) for x, y, z, i in cells[key]
                        ]
                exhausted = True
            elif not exhausted:
                # Only the ring's cells that can hold a point within the stop distance: a
                # cell's squared gap to the query (per axis, summed) bounds its points'
                # squared chords from below. Off-grid cells get an infinite gap.
                lim = stop2 if stop2 < 4.0 else 4.0  # a squared chord is at most 4
                missing = limit - len(best)
                if accept is None and 0 < missing <= len(pending):
                    # Not enough exact winners yet, but the seen points bound the k-th
                    # distance from above: ``missing`` pending points are within UPPER *
                    # their angle (pending is sorted), the winners within their distance.
                    theta = 2.0 * math.asin(min(1.0, math.sqrt(pending[missing - 1][0]) / 2.0))
                    upper = UPPER * theta
                    if best and -best[0][0] > upper:
                        upper = -best[0][0]
                    lim = min(lim, _chord2_for(upper + GUARD_M))
                gaps = [
                    [
                        math.inf if not 0 <= i0 + d < g
                        else 0.0 if d == 0
                        else (max(0.0, (d - f if d > 0 else f - d - 1.0) - 1e-6) * cell) ** 2
                        for d in range(-ring, ring + 1)
                    ]
                    for i0, f in ((ix, fx), (iy, fy), (iz, fz))
                ]  # fmt: skip
                gx, gy, gz = gaps
                top = 2 * ring
                # Walk the ring's shell axis by axis, dropping a whole row or column as soon
                # as its partial gap is too far.
                for a in range(top + 1):
                    sa = gx[a]
                    if sa > lim:
                        continue
                    edge = a == 0 or a == top
                    row = ((ix + a - ring) * g + iy - ring) * g + iz - ring  # key at (a, 0, 0)
                    for b in range(top + 1):
                        sb = sa + gy[b]
                        if sb > lim:
                            continue
                        first = row + b * g
                        for c in range(top + 1) if edge or b == 0 or b == top else (0, top):
                            if sb + gz[c] <= lim and (found := cells.get(first + c)) is not None:
                                pending += [
                                    (2.0 - 2.0 * (x * qx + y * qy + z * qz), i)
                                    for x, y, z, i in found
                                ]
            covered = (
                math.inf
                if exhausted or ring >= max_ring
                else _reach(qx, qy, qz, mx, my, mz, ring, cell)
            )
            covered2 = covered * covered
            # Points of later rings are at least ``covered`` away: everything below that
            # is now in exact spherical order.
            pending.sort()
            done = 0
            for chord2, i in pending:
                if chord2 >= covered2:
                    break
                done += 1
                if chord2 > stop2:
                    return self._finish(best, evaluated, lat, lng, limit, radius)
                item = items[i]
                if accept is not None and not accept(item):
                    continue
                p_lat, p_lng, p_su, p_cu = points[i]
                dlng = p_lng - lng
                if dlng > 180.0:  # across the antimeridian: take the short way round
                    dlng -= 360.0
                elif dlng < -180.0:
                    dlng += 360.0
                d = vincenty(q_su, q_cu, p_su, p_cu, radians(dlng))
                if d is None:
                    d = geodesic_m(lat, lng, p_lat, p_lng)
                evaluated.append((d, i))
                if d > radius + GUARD_M:
                    continue
                if len(best) < limit:
                    heapq.heappush(best, (-d, i))
                elif d < -best[0][0]:
                    heapq.heapreplace(best, (-d, i))
                else:
                    continue
                if len(best) >= limit:
                    stop2 = min(radius_stop2, _chord2_for(-best[0][0] + GUARD_M))
            del pending[:done]
            if covered2 > stop2 or covered == math.inf:
                # Every pending and unseen point is beyond the stop distance.
                return self._finish(best, evaluated, lat, lng, limit, radius)
            ring += 1

    def _finish(
        self,
        best: list[tuple[float, int]],
        evaluated: list[tuple[float, int]],
        lat: float,
        lng: float,
        limit: int,
        radius: float,
    ) -> list[tuple[float, T]]:
        """Order the winners; settle with geographiclib whatever Vincenty leaves ambiguous:
        a distance within a guard of a rounding boundary or the radius, or two within a
        guard of each other."""
        if not best:
            return []
        rows = sorted([(-neg, i) for neg, i in best])
        # ``best`` admits rows up to ``radius + GUARD_M``; beyond the row's own guard a row
        # is certainly outside the radius (and so is every row after it).
        if rows[-1][0] >= radius - GUARD_M:
            rows = [
                (d, i) for d, i in rows if d < radius + (GUARD_SHORT_M if d < SHORT_M else GUARD_M)
            ]
            if not rows:
                return []
        if len(rows) >= limit:
            # Rows a guard behind the last winner might really be ahead of it.
            cutoff = rows[-1][0]
            reach = cutoff + (GUARD_SHORT_M if cutoff < SHORT_M else GUARD_M)
            near = [(d, i) for d, i in evaluated if cutoff <= d <= reach and d <= radius + GUARD_M]
            if len(near) > 1:
                taken = {i for _, i in rows}
                rows += [(d, i) for d, i in near if i not in taken]
                rows.sort()
        needs_exact: set[int] = set()
        floor = math.floor
        previous, previous_i = -math.inf, -1
        for d, i in rows:
            guard = GUARD_SHORT_M if d < SHORT_M else GUARD_M
            if abs(d - floor(d) - 0.5) < guard or abs(d - radius) < guard:
                needs_exact.add(i)
            if d - previous < guard:
                needs_exact.add(i)
                needs_exact.add(previous_i)
            previous, previous_i = d, i
        if needs_exact:
            points = self._points
            rows = [
                (geodesic_m(lat, lng, *points[i][:2]) if i in needs_exact else d, i)
                for d, i in rows
            ]
            rows = [(d, i) for d, i in rows if d <= radius]
            rows.sort()
        return [(d, self.items[i]) for d, i in rows[:limit]]
