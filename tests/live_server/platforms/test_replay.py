"""``live-server platform replay``: the bundled recording (Douyin's documented shape:
Chinese comments, likes, gifts, fans-club joins, product cards) replayed, signed, into a
bound room: questions become merged cards, the rest counters, product cards the product
on screen; the command itself, against a served room."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from live_server.platforms.replay import Target, read_recording, replay, synthesize
from live_server.settings import Settings
from tests.conftest import Api, SioFactory
from tests.live_server.platforms.conftest import (
    BRIDGE_SECRET,
    DOUYIN_SECRET,
    BoundRoom,
    stats,
)


def test_bundled_recording_is_in_douyins_shape() -> None:
    pushes = read_recording(None)
    kinds = {(p["kind"], p.get("msg_type")) for p in pushes}
    assert {("douyin", "live_comment"), ("douyin", "live_like"), ("douyin", "live_gift"),
            ("product_card", None)} <= kinds  # fmt: skip
    comment = next(p for p in pushes if p.get("msg_type") == "live_comment")["messages"][0]
    assert set(comment) == {"msg_id", "sec_openid", "nickname", "avatar_url", "timestamp",
                            "content"}  # fmt: skip
    assert pushes[-1]["t"] >= 170  # a few minutes


async def test_replay_into_a_bound_room(
    api: Api, base_url: str, douyin_room: BoundRoom, sio_client: SioFactory
) -> None:
    room = await douyin_room()
    status, _ = await api.put(
        f"/api/v1/rooms/{room['room_id']}/platforms/generic", room["host_token"],
        json={"platform_room_id": "cards", "secret": BRIDGE_SECRET},
    )  # fmt: skip
    assert status == 200
    _, host = await sio_client("/host", room["host_token"])
    pushes = list(synthesize(20, comments_per_s=6))
    target = Target(url=base_url, room_id=room["room_id"], douyin_room_id=room["platform_room_id"],
                    douyin_secret=DOUYIN_SECRET, bridge_secret=BRIDGE_SECRET)  # fmt: skip
    sent = await replay(target, pushes, rate=2000)
    assert sent["failed"] == 0 and sent["accepted"] == sent["messages"], sent
    counters = await stats(api, room)
    comments = sum(len(p["messages"]) for p in pushes if p.get("msg_type") == "live_comment")
    assert counters["live_comments"] + counters["live_chatter"] == comments
    assert counters["likes"] == sum(
        m["like_num"] for p in pushes if p.get("msg_type") == "live_like" for m in p["messages"]
    )
    cards = await host.wait_for("question.new")
    assert cards and all(c["sources"][0]["source"] == "live_comment" for c in cards)
    # several commenters asked the same thing: merged, not one card each
    status, listed = await api.get(f"/api/v1/rooms/{room['room_id']}/questions", room["host_token"])
    assert sum(q["askers"] for q in listed["questions"]) > len(listed["questions"])
    await host.wait_for("room.product")
    # replayed again: every message already counted
    again = await replay(target, pushes, rate=2000)
    assert again["accepted"] == 0 and again["failed"] == 0  # every message already counted
    assert await stats(api, room) == counters


async def test_replay_command(
    settings: Settings, base_url: str, douyin_room: BoundRoom, api: Api, tmp_path: Path
) -> None:
    room = await douyin_room()
    recording = tmp_path / "rec.jsonl"
    recording.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in synthesize(5)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "live_server.cli", "platform", "replay", str(recording),
        "--room", room["room_id"], "--rate", "500", "--url", base_url,
        "--redis-url", str(settings.redis_url),
        *(["--redis-cluster"] if settings.redis_cluster else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["room"] == room["room_id"] and summary["accepted"] > 0
    assert (await stats(api, room))["likes"] > 0
