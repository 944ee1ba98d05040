"""HTTP surface of the store registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from geo.storefile import CSV_MEDIA, GEOJSON_MEDIA
from live_server.core.appkeys import SETTINGS
from live_server.core.errors import NotFound, PayloadTooLarge
from live_server.core.tenancy import TENANCY
from live_server.core.tokens import Role
from live_server.stores.models import Store
from live_server.stores.service import parse_store_file, validate_rows
from live_server.stores.wiring import NEAREST, STORES
from live_server.web.api import Api, Call

api = Api()
TAG = "stores"


class StoreList(RootModel[list[Store]]):
    """A JSON list of stores; a bad list is refused whole with row numbers and reasons."""

    @model_validator(mode="wrap")
    @classmethod
    def _rows(cls, data: Any, handler: Any) -> Any:
        # Same refusal (StoreFileInvalid, per row) as CSV and GeoJSON uploads.
        if isinstance(data, list):
            return handler(validate_rows(data))
        return handler(data)


class NearestQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90, description="latitude of the viewer (WGS-84)")
    lng: float = Field(ge=-180, le=180, description="longitude of the viewer (WGS-84)")
    limit: int = Field(default=10, ge=1, le=50)
    radius_km: float | None = Field(default=None, gt=0, le=20_040)
    service: str | None = Field(default=None, max_length=64, description="only stores offering it")
    open_now: bool = Field(default=False, description="only stores open right now")
    room: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="the room asking (the widget's): only the stores of the room's brand",
    )  # fmt: skip


class NearbyStore(BaseModel):
    id: str
    name: str
    address: str
    city: str
    lat: float
    lng: float
    distance_m: int = Field(description="geodesic distance on WGS-84, to the metre")
    open_now: bool
    services: list[str]
    phone: str
    timezone: str


class NearestStores(BaseModel):
    stores: list[NearbyStore]


class UpsertResult(BaseModel):
    upserted: int
    version: int


class StoreNotFound(NotFound):
    title, slug = "Store not found", "store-not-found"


@api.put(
    "/api/v1/stores", summary="Bulk upsert stores (all or nothing)", tag=TAG, roles=[Role.OPS],
    body=StoreList, response=UpsertResult,
    raw_body={
        CSV_MEDIA: "CSV with a header row: id,name,lat,lng,address,city,timezone,hours,services,"
        "slot_minutes,capacity,brand,status,phone; hours like 'mon-fri 08:00-21:00; sat,sun "
        "09:00-22:00' (quoted) or a JSON object; services separated by '|'",
        GEOJSON_MEDIA: "GeoJSON FeatureCollection of Point features; properties are the store's "
        "fields, coordinates [lng, lat]",
    },
)  # fmt: skip
async def upsert_stores(call: Call[StoreList | None, None]) -> UpsertResult:
    """All or nothing: a bad file is refused whole (400) with each bad row and the reason.
    Every worker serves the change within a second."""
    if call.body is not None:
        stores = call.body.root
    else:
        request = call.request
        limit = call.app[SETTINGS].max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"the body must be at most {limit} bytes")
        raw = await request.read()  # aiohttp enforces client_max_size while reading
        stores = parse_store_file(raw, content_type=request.content_type)
    registry = call.app[STORES]
    for store in stores:  # a brand's ops token writes its own stores, and takes none over
        call.require_brand(store.brand)
        existing = registry.get(store.id)
        if existing is not None:
            call.require_brand(existing.brand)
    version = await registry.upsert(stores)
    return UpsertResult(upserted=len(stores), version=version)


@api.get(
    "/api/v1/stores/nearest", summary="Nearest stores by geodesic distance", tag=TAG,
    query=NearestQuery, response=NearestStores, errors=[404],
)  # fmt: skip
async def nearest_stores(call: Call[None, NearestQuery]) -> NearestStores:
    """Open-status stores nearest first (closed stores are left out); ``distance_m`` is the
    WGS-84 geodesic to the metre. Filters: ``service``, ``open_now``, ``radius_km``, and
    ``room`` (the widget's room: only that room's brand's stores; 404 for no such room)."""
    q = call.query
    now = datetime.now(UTC)
    brand = await call.app[TENANCY].room_brand(q.room) if q.room is not None else None
    found = call.app[NEAREST].nearest(
        q.lat, q.lng, q.limit,
        radius_m=q.radius_km * 1000 if q.radius_km is not None else None,
        service=q.service, open_at=now if q.open_now else None, brand=brand,
    )  # fmt: skip
    return NearestStores(
        stores=[
            NearbyStore(
                id=s.id,
                name=s.name,
                address=s.address,
                city=s.city,
                lat=s.lat,
                lng=s.lng,
                distance_m=d,
                open_now=s.is_open_at(now),
                services=list(s.services),
                phone=s.phone,
                timezone=s.timezone,
            )
            for d, s in found
        ]
    )


@api.get("/api/v1/stores/{store}", summary="One store", tag=TAG, response=Store, errors=[404])
async def get_store(call: Call[None, None]) -> Store:
    store = call.app[STORES].get(call.path("store"))
    if store is None:
        raise StoreNotFound(f"no store {call.path('store')!r}")
    return store


@api.delete(
    "/api/v1/stores/{store}", summary="Remove a store", tag=TAG, roles=[Role.OPS],
    status=204, errors=[404],
)  # fmt: skip
async def remove_store(call: Call[None, None]) -> None:
    """Removes the store from the registry (every worker within a second). Its bookings and
    stream stay readable; to stop bookings but keep the store, upsert it with
    ``status: closed``."""
    store_id = call.path("store")
    if await call.app[STORES].remove([store_id]) == 0:
        raise StoreNotFound(f"no store {store_id!r}")
