"""PUT /api/v1/stores (JSON, CSV, GeoJSON; all or nothing), DELETE, closing, nearest."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from geopy.distance import geodesic

from live_server.stores.models import Store

CSV_OK = (
    "id,name,lat,lng,address,city,timezone,hours,services,capacity\n"
    "c1,Alpha,31.2304,121.4737,1 Road,Shanghai,Asia/Shanghai,"
    '"mon-fri 08:00-21:00; sat,sun 09:00-22:00",cake|bread,6\n'
    "c2,Beta,31.2400,121.5000,2 Road,Shanghai,Asia/Shanghai,"
    '"{""mon"": [{""open"": ""09:00"", ""close"": ""17:00""}]}",bread,3\n'
)


def feature(store_id: str, lat: float, lng: float, **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": store_id,
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": {"name": f"Store {store_id}", "timezone": "Pacific/Fiji", **props},
    }


async def test_csv_upload_and_all_or_nothing(api: Any, ops_token: str) -> None:
    status, body = await api.put(
        "/api/v1/stores", ops_token, data=CSV_OK.encode(), headers={"Content-Type": "text/csv"}
    )
    assert status == 200, body
    assert body["upserted"] == 2
    status, store = await api.get("/api/v1/stores/c1")
    assert status == 200
    assert store["services"] == ["cake", "bread"] and store["capacity"] == 6
    assert store["hours"]["sat"] == [{"open": "09:00", "close": "22:00"}]
    assert "mon" in (await api.get("/api/v1/stores/c2"))[1]["hours"]

    bad = (
        CSV_OK
        + "c3,Gamma,95,121.5,,,Asia/Shanghai,mon-fri 08:00-21:00,,2\n"
        + "c4,Delta,31,121,,,Mars/Base,,,x\n"
    )
    status, problem = await api.put(
        "/api/v1/stores", ops_token, data=bad.encode(), headers={"Content-Type": "text/csv"}
    )
    assert status == 400
    assert problem["type"].endswith("store-file-invalid")
    rows = {(p["row"], p["field"]) for p in problem["problems"]}
    assert (3, "lat") in rows and (4, "timezone") in rows and (4, "capacity") in rows
    assert problem["detail"].startswith("2 invalid row(s)")  # row 4 has two problems
    status, _ = await api.get("/api/v1/stores/c3")
    assert status == 404  # nothing applied, not even the good rows


async def test_geojson_upload_across_the_antimeridian(api: Any, ops_token: str) -> None:
    collection = {
        "type": "FeatureCollection",
        "features": [
            feature(
                "fiji-east", -16.5, 179.9, services="dive|snorkel", hours="mon-sun 08:00-18:00"
            ),
            feature("fiji-west", -16.5, -179.9),
            feature("far", -17.5, 177.0),
        ],
    }
    status, body = await api.put(
        "/api/v1/stores", ops_token, data=orjson.dumps(collection),
        headers={"Content-Type": "application/geo+json"},
    )  # fmt: skip
    assert status == 200, body
    status, found = await api.get("/api/v1/stores/nearest?lat=-16.5&lng=-179.95&limit=3")
    assert status == 200, found
    ids = [s["id"] for s in found["stores"]]
    assert ids == ["fiji-west", "fiji-east", "far"]
    for s in found["stores"]:
        assert s["distance_m"] == round(geodesic((-16.5, -179.95), (s["lat"], s["lng"])).meters)
    near = await api.get("/api/v1/stores/nearest?lat=-16.5&lng=-179.95&service=dive")
    assert [s["id"] for s in near[1]["stores"]] == ["fiji-east"]
    radius = await api.get("/api/v1/stores/nearest?lat=-16.5&lng=-179.95&radius_km=20")
    assert [s["id"] for s in radius[1]["stores"]] == ["fiji-west", "fiji-east"]

    broken = {
        "type": "FeatureCollection",
        "features": [
            feature("ok", 1, 1),
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": []}},
        ],
    }
    status, problem = await api.put(
        "/api/v1/stores", ops_token, data=orjson.dumps(broken),
        headers={"Content-Type": "application/geo+json"},
    )  # fmt: skip
    assert status == 400 and problem["problems"][0]["row"] == 2


async def test_json_list_refused_whole_with_rows(api: Any, ops_token: str) -> None:
    good = {"id": "j1", "name": "J1", "lat": 10, "lng": 10}
    status, problem = await api.put(
        "/api/v1/stores", ops_token, json=[good, {**good, "lat": 100}, good]
    )
    assert status == 400
    reasons = {(p["row"], p["field"]) for p in problem["problems"]}
    assert reasons == {(2, "lat"), (3, "id")}  # row 3 repeats row 1's id
    assert (await api.get("/api/v1/stores/j1"))[0] == 404


async def test_nearest_validation_and_shape(api: Any, stores: list[Store]) -> None:
    for query in (
        "",
        "lat=31.2",
        "lat=91&lng=0",
        "lat=abc&lng=1",
        "lat=1&lng=181",
        "lat=1&lng=1&limit=51",
    ):
        status, problem = await api.get(f"/api/v1/stores/nearest?{query}")
        assert status == 400, query
        assert problem["status"] == 400 and problem["detail"]
    status, body = await api.get("/api/v1/stores/nearest?lat=31.2235&lng=121.4456")
    assert status == 200
    assert len(body["stores"]) == 10
    first = body["stores"][0]
    assert first["id"] == "sh-jingan" and first["distance_m"] == 0
    assert set(first) >= {
        "id",
        "name",
        "address",
        "lat",
        "lng",
        "distance_m",
        "open_now",
        "city",
        "services",
    }
    distances = [s["distance_m"] for s in body["stores"]]
    assert distances == sorted(distances)


async def test_close_and_remove_reach_nearest(
    api: Any, ops_token: str, stores: list[Store]
) -> None:
    here = "/api/v1/stores/nearest?lat=31.2235&lng=121.4456&limit=1"
    closed = stores[0].model_copy(update={"status": "closed"}).model_dump(mode="json")
    status, _ = await api.put("/api/v1/stores", ops_token, json=[closed])
    assert status == 200
    assert (await api.get(here))[1]["stores"][0]["id"] != "sh-jingan"
    status, _ = await api.delete("/api/v1/stores/sh-xujiahui", ops_token)
    assert status == 204
    assert (await api.get("/api/v1/stores/sh-xujiahui"))[0] == 404
    assert (await api.delete("/api/v1/stores/sh-xujiahui", ops_token))[0] == 404
    ids = [s["id"] for s in (await api.get(here.replace("limit=1", "limit=50")))[1]["stores"]]
    assert "sh-xujiahui" not in ids and "sh-jingan" not in ids


async def test_other_workers_see_changes_within_a_second(
    api: Any, ops_token: str, settings: Any
) -> None:
    """Another worker (its own registry and index on its own Redis client) picks up an
    upsert, a close and a removal by polling, each within a second."""
    from live_server.core.redis_conn import connect_redis
    from live_server.stores.service import NearestStores
    from live_server.stores.store import StoreRegistry

    redis = connect_redis(settings)
    registry = StoreRegistry(redis)
    await registry.start()
    nearest = NearestStores(registry)
    loop = asyncio.get_running_loop()

    async def within_a_second(check: Any) -> None:
        deadline = loop.time() + 1.0
        while not check():
            assert loop.time() < deadline, "the other worker did not see the change within 1 s"
            await asyncio.sleep(0.02)

    try:
        store = {"id": "w1", "name": "W", "lat": 5, "lng": 5}
        assert (await api.put("/api/v1/stores", ops_token, json=[store]))[0] == 200
        await within_a_second(lambda: [s.id for _, s in nearest.nearest(5, 5, 1)] == ["w1"])
        assert (await api.put("/api/v1/stores", ops_token, json=[{**store, "status": "closed"}]))[
            0
        ] == 200
        await within_a_second(lambda: nearest.nearest(5, 5, 1) == [])
        assert (await api.delete("/api/v1/stores/w1", ops_token))[0] == 204
        await within_a_second(lambda: registry.get("w1") is None)
    finally:
        await registry.stop()
        await redis.aclose()
