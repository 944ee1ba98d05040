"""Store rules beside the registry: the nearest-store index kept in step with it, and a
store file turned into validated stores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from geo import storefile
from geo.index import SpatialIndex
from live_server.core.errors import ValidationFailed
from live_server.core.tenancy import same_brand
from live_server.stores.models import Store
from live_server.stores.store import StoreRegistry

LARGE_REBUILD = 20_000  # above this many stores, rebuild in a thread (the loop keeps serving)


class NearestStores:
    """The registry's open stores in a :class:`SpatialIndex`, rebuilt when it changes.

    Small registries rebuild synchronously (a query right after an upsert sees it); large
    ones rebuild in a worker thread while the previous index keeps answering.
    """

    def __init__(self, registry: StoreRegistry) -> None:
        self.registry = registry
        self.index: SpatialIndex[Store] = SpatialIndex([])
        self.version = -2
        self._building: asyncio.Future[None] | None = None
        registry.add_listener(self.refresh)

    @staticmethod
    def _build(stores: list[Store]) -> SpatialIndex[Store]:
        # Closed stores take no bookings: they are not offered as nearest.
        return SpatialIndex((s.lat, s.lng, s) for s in stores if s.status == "open")

    def refresh(self) -> None:
        stores, version = self.registry.all(), self.registry.version
        if len(stores) <= LARGE_REBUILD:
            self.index, self.version = self._build(stores), version
            return
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._build, stores)

        def swap(done: asyncio.Future[SpatialIndex[Store]]) -> None:
            if not done.cancelled() and done.exception() is None and version >= self.version:
                self.index, self.version = done.result(), version

        future.add_done_callback(swap)

    def nearest(
        self,
        lat: float,
        lng: float,
        limit: int = 10,
        radius_m: float | None = None,
        service: str | None = None,
        open_at: datetime | None = None,
        brand: str | None = None,
    ) -> list[tuple[int, Store]]:
        """Nearest open-status stores as ``(distance_m rounded to the metre, store)``;
        ``brand``: that brand's only (a room's context)."""

        def accept(store: Store) -> bool:
            if brand is not None and not same_brand(store.brand, brand):
                return False
            if service is not None and service not in store.services:
                return False
            return open_at is None or store.is_open_at(open_at)

        filtered = service is not None or open_at is not None or brand is not None
        found = self.index.nearest(lat, lng, limit, radius_m, accept if filtered else None)
        return [(round(d), s) for d, s in found]


# --- store files -------------------------------------------------------------------------


class StoreFileInvalid(ValidationFailed):
    """A store file was refused whole; ``problems`` lists row numbers and reasons."""

    title, slug = "Store file refused", "store-file-invalid"

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        first = problems[0]
        rows = len({p.get("row") for p in problems})  # a row may have several problems
        super().__init__(
            f"{rows} invalid row(s), nothing applied; row {first['row']}: {first['reason']}",
            problems=problems,
        )
        self.problems = problems


def validate_rows(
    rows: list[Any],
    problems: list[dict[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Store]:
    """Every row as a :class:`Store`, or :class:`StoreFileInvalid` naming each bad row.

    ``problems`` already found while reading the file (rows given as None) join the list.
    ``progress(done, total)`` is called every ``PROGRESS_EVERY`` rows and at the end.
    """
    stores: list[Store] = []
    problems = list(problems or [])
    seen: set[str] = set()
    total = len(rows)
    for number, row in enumerate(rows, start=1):
        if progress is not None and (number % PROGRESS_EVERY == 0 or number == total):
            progress(number, total)
        if row is None:
            continue  # already reported while reading
        if not isinstance(row, dict):
            problems.append({"row": number, "field": "", "reason": "a store must be an object"})
            continue
        try:
            store = Store.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                where = ".".join(str(p) for p in err["loc"]) or "row"
                problems.append({"row": number, "field": where, "reason": f"{where}: {err['msg']}"})
            continue
        if store.id in seen:
            problems.append({"row": number, "field": "id", "reason": f"duplicate id {store.id!r}"})
        seen.add(store.id)
        stores.append(store)
    if problems:
        raise StoreFileInvalid(sorted(problems, key=lambda p: p["row"]))
    return stores


PROGRESS_EVERY = 1000


def parse_store_file(
    raw: bytes,
    name: str = "stores.json",
    content_type: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> list[Store]:
    """Validated stores from a JSON list, a CSV file or a GeoJSON FeatureCollection.

    All or nothing: any bad row refuses the whole file with :class:`StoreFileInvalid`,
    whose ``problems`` list each row number (1 = first store) and the reason.
    """
    try:
        rows, problems = storefile.read_rows(raw, name, content_type)
    except storefile.StoreFileError as exc:
        raise StoreFileInvalid(exc.problems) from exc
    return validate_rows(rows, problems, progress)
