"""/asyncapi.json is a valid AsyncAPI 3.0 document (checked against the official JSON
Schema from the @asyncapi/specs npm package, installed by the front-end build), and every
event a real broadcast sends (recorded by real Socket.IO clients on /live, /host and
/store) is declared for its namespace and matches its payload schema."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from live_server.core.socket_events import EVENTS
from tests.conftest import Api, EventLog, SioFactory
from tests.live_server.bookings.booking_helpers import make_store, tomorrow_slots

SPECS = Path(__file__).resolve().parents[3] / "widgets/node_modules/@asyncapi/specs/schemas"


def asyncapi_schema() -> dict[str, Any]:
    path = SPECS / "3.0.0.json"
    if not path.exists():
        pytest.fail("run `make frontend` (npm ci in widgets/ installs @asyncapi/specs)")
    return dict(json.loads(path.read_text()))


async def test_document_is_valid_asyncapi_3(api: Api) -> None:
    status, doc = await api.get("/asyncapi.json")
    assert status == 200
    jsonschema.validate(doc, asyncapi_schema())
    assert doc["asyncapi"] == "3.0.0"
    assert {c["address"] for c in doc["channels"].values()} == {"/live", "/host", "/store"}
    declared = {m["name"] for m in doc["components"]["messages"].values()}
    assert {e.name for e in EVENTS} <= declared
    # the other engineers' events are declared for their namespaces
    host = doc["channels"]["host"]["messages"]
    store = doc["channels"]["store"]["messages"]
    assert "room_engagement" in host
    assert {"task_assigned", "task_updated", "task_reminder"} <= set(store)


def _payload_schemas(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    messages = doc["components"]["messages"]
    out = {}
    for channel in doc["channels"].values():
        for ref in channel["messages"].values():
            message = messages[ref["$ref"].rsplit("/", 1)[-1]]
            out[(channel["address"], message["name"])] = message["payload"]
    return out


async def test_recorded_events_match_the_document(
    api: Api, ops_token: str, make_room: Any, make_viewer: Any, sio_client: SioFactory,
    staff_token: Any,
) -> None:  # fmt: skip
    await make_store(api, ops_token, capacity=2)
    room = await make_room(live=False)
    room_id, host = room["room_id"], room["host_token"]
    viewer = await make_viewer(room_id)
    logs: dict[str, EventLog] = {}
    _, logs["/live"] = await sio_client("/live", viewer["token"])
    _, logs["/host"] = await sio_client("/host", host)
    _, logs["/store"] = await sio_client("/store", staff_token("t1"))
    await logs["/live"].wait_for("room.state")
    await logs["/store"].wait_for("store.synced")

    assert (await api.post(f"/api/v1/rooms/{room_id}/start", host))[0] == 200
    status, _ = await api.post(
        f"/api/v1/rooms/{room_id}/announcements", host, json={"text": "welcome"}
    )
    assert status == 201
    # a coupon: created, dropped, claimed, redeemed at the store
    body = {"title": "50 off", "value": 50, "quantity": 10, "per_user": 1,
            "expires_at": int(time.time()) + 3600}  # fmt: skip
    status, campaign = await api.post(f"/api/v1/rooms/{room_id}/campaigns", host, json=body)
    assert status == 201, campaign
    campaign_path = f"/api/v1/rooms/{room_id}/campaigns/{campaign['id']}"
    assert (await api.post(f"{campaign_path}/drop", host))[0] == 200
    status, claim = await api.post(f"{campaign_path}/claim", viewer["token"])
    assert status == 201, claim
    status, _ = await api.post(
        "/api/v1/stores/t1/redemptions", staff_token("t1"), json={"code": claim["code"]}
    )
    assert status == 200
    # a booking, checked in, then another cancelled
    slots = await tomorrow_slots(api)
    booking_body = {"store_id": "t1", "slot": slots[20]["start"], "service": "cake-consult"}
    status, booking = await api.post(
        f"/api/v1/rooms/{room_id}/bookings", viewer["token"], json=booking_body,
        headers={"Idempotency-Key": "asyncapi-1"},
    )  # fmt: skip
    assert status == 201, booking
    status, _ = await api.post(
        f"/api/v1/stores/t1/bookings/{booking['id']}/arrive", staff_token("t1")
    )
    assert status == 200
    status, second = await api.post(
        f"/api/v1/rooms/{room_id}/bookings", viewer["token"],
        json={**booking_body, "slot": slots[21]["start"]},
        headers={"Idempotency-Key": "asyncapi-2"},
    )  # fmt: skip
    assert status == 201, second
    assert (await api.delete(f"/api/v1/bookings/{second['id']}", viewer["token"]))[0] == 200
    # a question: asked, pinned, answered
    status, card = await api.post(
        f"/api/v1/rooms/{room_id}/questions", viewer["token"], json={"text": "门店几点开门?"}
    )
    assert status in (200, 201, 202), card
    (new,) = await logs["/host"].wait_for("question.new")
    assert (await api.post(f"/api/v1/questions/{new['id']}/pin", host))[0] == 200
    await logs["/live"].wait_for("question.pinned")
    assert (await api.post(f"/api/v1/questions/{new['id']}/answer", host))[0] == 200
    await logs["/live"].wait_for("question.answered")
    await logs["/live"].wait_for("coupon.stock")
    await logs["/host"].wait_for("booking.count")
    await logs["/store"].wait_for("booking.cancelled")
    assert (await api.post(f"/api/v1/rooms/{room_id}/end", host))[0] == 200
    await logs["/live"].wait_for("room.ended")
    await logs["/host"].wait_for("room.ended")

    status, doc = await api.get("/asyncapi.json")
    schemas = _payload_schemas(doc)
    seen: set[tuple[str, str]] = set()
    for namespace, log in logs.items():
        for name, data in log.events:
            assert (namespace, name) in schemas, f"{name} on {namespace} is not declared"
            jsonschema.validate(data, schemas[(namespace, name)])
            seen.add((namespace, name))
    expected = {
        ("/live", "room.state"), ("/live", "room.started"), ("/live", "room.announcement"),
        ("/live", "coupon.dropped"), ("/live", "coupon.stock"), ("/live", "question.pinned"),
        ("/live", "question.answered"), ("/live", "room.ended"),
        ("/host", "room.started"), ("/host", "coupon.dropped"), ("/host", "booking.created"),
        ("/host", "booking.count"), ("/host", "question.new"), ("/host", "question.updated"),
        ("/host", "room.ended"),
        ("/store", "store.synced"), ("/store", "booking.created"), ("/store", "booking.arrived"),
        ("/store", "booking.cancelled"), ("/store", "coupon.redeemed"),
    }  # fmt: skip
    assert expected <= seen, expected - seen
