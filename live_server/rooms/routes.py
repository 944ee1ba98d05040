"""HTTP surface of rooms: create (ops), start/end (host), viewer identities."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from live_server.core.tokens import Role
from live_server.realtime.server import REALTIME
from live_server.rooms.models import (
    CreateRoom,
    CreateViewer,
    Room,
    RoomCreated,
    RoomStatus,
    ViewerCreated,
)
from live_server.rooms.wiring import LIVE_ROOMS, ROOMS
from live_server.web.api import Api, Call
from live_server.web.limits import Rule

api = Api()
TAG = "rooms"

JOIN_PER_IP = Rule("viewer-ip", "ip", 600, 60)


@api.post(
    "/api/v1/rooms", summary="Create a live room", tag=TAG, roles=[Role.OPS],
    body=CreateRoom, response=RoomCreated, status=201,
)  # fmt: skip
async def create_room(call: Call[CreateRoom, None]) -> RoomCreated:
    room, host_token = await call.app[ROOMS].create(call.body)
    return RoomCreated(room_id=room.room_id, host_token=host_token, status=room.status)


@api.get(
    "/api/v1/rooms/{room}", summary="Room details", tag=TAG,
    roles=[Role.HOST, Role.VIEWER], scope="room", response=Room, errors=[404],
)  # fmt: skip
async def get_room(call: Call[None, None]) -> Room:
    return await call.app[ROOMS].get(call.path("room"))


async def _move(call: Call[None, None], wanted: RoomStatus) -> Room:
    room = await call.app[ROOMS].move(call.path("room"), wanted)
    rt = call.app[REALTIME]
    event = "room.ended" if wanted is RoomStatus.ENDED else "room.started"
    payload = {"room_id": room.room_id, "status": room.status.value}
    await rt.to_viewers(room.room_id, event, dict(payload))
    await rt.to_host(room.room_id, event, dict(payload))
    return room


@api.post(
    "/api/v1/rooms/{room}/start", summary="Go live", tag=TAG,
    roles=[Role.HOST], scope="room", response=Room, errors=[404, 409],
)  # fmt: skip
async def start_room(call: Call[None, None]) -> Room:
    return await _move(call, RoomStatus.LIVE)


@api.post(
    "/api/v1/rooms/{room}/end", summary="End the broadcast", tag=TAG,
    roles=[Role.HOST], scope="room", response=Room, errors=[404, 409],
)  # fmt: skip
async def end_room(call: Call[None, None]) -> Room:
    return await _move(call, RoomStatus.ENDED)


@api.post(
    "/api/v1/rooms/{room}/viewers", summary="Join a room as a viewer", tag=TAG,
    body=CreateViewer, response=ViewerCreated, status=201, errors=[403, 404],
    description="Same external id, same viewer in every room (OneID).",
    limits=[JOIN_PER_IP],
)  # fmt: skip
async def create_viewer(call: Call[CreateViewer, None]) -> ViewerCreated:
    viewer_id, token, verified = await call.app[ROOMS].add_viewer(
        call.path("room"), call.body.external_id, call.body.external_id_sig
    )
    return ViewerCreated(viewer_id=viewer_id, token=token, verified=verified)


class Announcement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=500)


class Broadcasted(BaseModel):
    offset: str


@api.post(
    "/api/v1/rooms/{room}/announcements", summary="Host message to every viewer", tag=TAG,
    roles=[Role.HOST], scope="room", body=Announcement, response=Broadcasted, status=201,
    errors=[404, 409, 410],
)  # fmt: skip
async def announce(call: Call[Announcement, None]) -> Broadcasted:
    """Broadcast ``room.announcement`` {text} to the room's viewers (recorded with an offset)."""
    room_id = call.path("room")
    await call.app[ROOMS].require_live(room_id)
    offset = await call.app[LIVE_ROOMS].broadcast(
        room_id, "room.announcement", {"room_id": room_id, "text": call.body.text}
    )
    return Broadcasted(offset=offset)
