"""Helpers of the browser tests: stores where it is about noon, a place."""

from __future__ import annotations

from datetime import UTC, datetime

from live_server.stores.models import OpeningWindow, Store


def midday_timezone() -> str:
    """An IANA zone where it is now about noon, so 'today' has open slots in any run."""
    offset = 12 - datetime.now(UTC).hour  # -11 .. +12
    if offset == 0:
        return "Etc/GMT"
    # Etc/GMT-5 is UTC+5 (POSIX sign convention).
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def e2e_stores(capacity: int = 4) -> list[Store]:
    """Three stores around People's Square, Shanghai, open 06:00-22:00 where it is noon."""
    tz = midday_timezone()
    hours = {d: [OpeningWindow(open="06:00", close="22:00")] for d in
             ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}  # fmt: skip
    rows = [
        ("e2e-near", "测试店 人民广场 <b>Near</b>", 31.2320, 121.4750),
        ("e2e-mid", "测试店 静安 Mid", 31.2235, 121.4456),
        ("e2e-far", "测试店 浦东 Far", 31.2397, 121.4998),
    ]
    return [
        Store(
            id=sid,
            name=name,
            lat=lat,
            lng=lng,
            address=f"{name} 地址",
            city="上海",
            timezone=tz,
            hours=hours,
            services=["cake-consult", "baking-class", "bread-tasting"],
            slot_minutes=30,
            capacity=capacity,
            brand="e2e",
        )
        for sid, name, lat, lng in rows
    ]


# People's Square: e2e-near is ~200 m away, the nearest of the three.
HERE = {"latitude": 31.2304, "longitude": 121.4737}


def store_today(store: Store) -> str:
    """Today's date where the store is (what the widget asks slots for)."""
    return datetime.now(store.tz).date().isoformat()
