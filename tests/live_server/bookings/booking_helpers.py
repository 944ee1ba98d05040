"""Helpers for the booking tests: a store open around the clock, its next free slot."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ALL_DAY = {
    d: [{"open": "00:00", "close": "23:59"}]
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}


async def make_store(
    api: Any, ops_token: str, store_id: str = "t1", capacity: int = 2, **extra: Any
) -> dict[str, Any]:
    store = {
        "id": store_id, "name": f"Test {store_id}", "lat": 31.2, "lng": 121.45,
        "timezone": "Asia/Shanghai", "hours": ALL_DAY,
        "services": ["cake-consult", "baking-class"], "slot_minutes": 30,
        "capacity": capacity, **extra,
    }  # fmt: skip
    status, body = await api.put("/api/v1/stores", ops_token, json=[store])
    assert status == 200, body
    return store


async def tomorrow_slots(api: Any, store_id: str = "t1") -> list[dict[str, Any]]:
    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date()
    status, body = await api.get(f"/api/v1/stores/{store_id}/slots?date={day.isoformat()}")
    assert status == 200, body
    return list(body["slots"])
