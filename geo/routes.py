"""HTTP surface of the store registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, RootModel

from live_server import appkeys
from live_server.api import Api, Call
from live_server.errors import NotFound
from live_server.tokens import Role

from .models import Store

api = Api()
TAG = "stores"


class StoreList(RootModel[list[Store]]):
    pass


class UpsertResult(BaseModel):
    upserted: int
    version: int


class StaffToken(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str


class StoreNotFound(NotFound):
    title, slug = "Store not found", "store-not-found"


@api.put(
    "/api/v1/stores", summary="Bulk upsert stores (all or nothing)", tag=TAG, roles=[Role.OPS],
    body=StoreList, response=UpsertResult,
)  # fmt: skip
async def upsert_stores(call: Call[StoreList, None]) -> UpsertResult:
    stores = call.body.root
    version = await call.app[appkeys.STORES].upsert(stores)
    return UpsertResult(upserted=len(stores), version=version)


@api.get("/api/v1/stores/{store}", summary="One store", tag=TAG, response=Store, errors=[404])
async def get_store(call: Call[None, None]) -> Store:
    store = call.app[appkeys.STORES].get(call.path("store"))
    if store is None:
        raise StoreNotFound(f"no store {call.path('store')!r}")
    return store


@api.post(
    "/api/v1/stores/{store}/staff-tokens", summary="Issue a staff token for a store", tag=TAG,
    roles=[Role.OPS], response=StaffToken, status=201, errors=[404],
)  # fmt: skip
async def issue_staff_token(call: Call[None, None]) -> StaffToken:
    store_id = call.path("store")
    if call.app[appkeys.STORES].get(store_id) is None:
        raise StoreNotFound(f"no store {store_id!r}")
    settings = call.app[appkeys.SETTINGS]
    token = call.app[appkeys.SIGNER].issue(Role.STAFF, store_id, "staff", settings.token_ttl_s)
    return StaffToken(token=token)
