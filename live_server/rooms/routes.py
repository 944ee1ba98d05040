"""HTTP surface of rooms: create (ops), start/end and announcements (host), viewer
identities. The events they cause leave from the services (``LiveRooms``)."""

from __future__ import annotations

from live_server.core.tenancy import TENANCY
from live_server.core.tokens import Role
from live_server.rooms.models import (
    Announcement,
    Broadcasted,
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
    """A brand's ops token creates rooms of its brand (the default when none is named)."""
    spec = call.body
    mine = call.who.brand
    if mine is not None and "brand" not in spec.model_fields_set:
        spec = spec.model_copy(update={"brand": mine})
    call.require_brand(spec.brand)
    if spec.store_id is not None:
        await call.app[TENANCY].require(call.who, "store", spec.store_id)
    room, host_token = await call.app[ROOMS].create(spec)
    return RoomCreated(room_id=room.room_id, host_token=host_token, status=room.status)


@api.get(
    "/api/v1/rooms/{room}", summary="Room details", tag=TAG,
    roles=[Role.HOST, Role.VIEWER], scope="room", response=Room, errors=[404],
)  # fmt: skip
async def get_room(call: Call[None, None]) -> Room:
    return await call.app[ROOMS].get(call.path("room"))


@api.post(
    "/api/v1/rooms/{room}/start", summary="Go live", tag=TAG,
    roles=[Role.HOST], scope="room", response=Room, errors=[404, 409],
)  # fmt: skip
async def start_room(call: Call[None, None]) -> Room:
    return await call.app[LIVE_ROOMS].move(call.path("room"), RoomStatus.LIVE)


@api.post(
    "/api/v1/rooms/{room}/end", summary="End the broadcast", tag=TAG,
    roles=[Role.HOST], scope="room", response=Room, errors=[404, 409],
)  # fmt: skip
async def end_room(call: Call[None, None]) -> Room:
    return await call.app[LIVE_ROOMS].move(call.path("room"), RoomStatus.ENDED)


@api.post(
    "/api/v1/rooms/{room}/viewers", summary="Join a room as a viewer", tag=TAG,
    body=CreateViewer, response=ViewerCreated, status=201, errors=[403, 404],
    description=(
        "Same external id, same viewer in every room (OneID). With `launch` (the platform's "
        "launch token): the viewer of that platform open id, verified; 403 if the token is "
        "forged, expired or for another room."
    ),
    limits=[JOIN_PER_IP],
)  # fmt: skip
async def create_viewer(call: Call[CreateViewer, None]) -> ViewerCreated:
    viewer_id, token, verified = await call.app[ROOMS].add_viewer(
        call.path("room"), call.body.external_id, call.body.external_id_sig, call.body.launch
    )
    return ViewerCreated(viewer_id=viewer_id, token=token, verified=verified)


@api.post(
    "/api/v1/rooms/{room}/announcements", summary="Host message to every viewer", tag=TAG,
    roles=[Role.HOST], scope="room", body=Announcement, response=Broadcasted, status=201,
    errors=[404, 409, 410],
)  # fmt: skip
async def announce(call: Call[Announcement, None]) -> Broadcasted:
    """Broadcast ``room.announcement`` {text} to the room's viewers (recorded with an offset)."""
    offset = await call.app[LIVE_ROOMS].announce(call.path("room"), call.body.text)
    return Broadcasted(offset=offset)
