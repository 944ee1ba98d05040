"""What a load test knows about the deployment: ``demo.json`` as written by ``serve --demo``."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class DemoStore:
    id: str
    name: str
    lat: float
    lng: float
    staff_token: str


@dataclass(frozen=True, slots=True)
class DemoGroup:
    id: str
    store_id: str
    secret: str


@dataclass(frozen=True, slots=True)
class Demo:
    """Tokens and ids of the demo brand: one live room, its host, stores, groups."""

    base_url: str
    ops_token: str
    room_id: str
    host_token: str
    stores: tuple[DemoStore, ...]
    groups: tuple[DemoGroup, ...]
    douyin_room_id: str = ""
    """the simulated Douyin room bound to the demo room ('' in an older demo.json)"""
    douyin_secret: str = ""

    @classmethod
    def load(cls, path: str | Path) -> Demo:
        raw: dict[str, Any] = json.loads(Path(path).read_text())
        try:
            return cls(
                base_url=raw["base_url"], ops_token=raw["ops_token"], room_id=raw["room_id"],
                host_token=raw["host_token"],
                stores=tuple(
                    DemoStore(s["id"], s["name"], float(s["lat"]), float(s["lng"]),
                              s["staff_token"])
                    for s in raw["stores"]
                ),
                groups=tuple(DemoGroup(g["id"], g["store_id"], g["secret"]) for g in raw["groups"]),
                douyin_room_id=str(raw.get("platforms", {}).get("douyin_room_id", "")),
                douyin_secret=str(raw.get("platforms", {}).get("douyin_secret", "")),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{path}: not a demo.json written by `live-server serve --demo` ({exc})"
            ) from exc

    def somewhere_near_a_store(self, rng: random.Random) -> tuple[float, float]:
        """A viewer's position: within a few km of one of the stores."""
        store = rng.choice(self.stores)
        return store.lat + rng.uniform(-0.04, 0.04), store.lng + rng.uniform(-0.04, 0.04)
