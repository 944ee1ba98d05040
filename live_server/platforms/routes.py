"""HTTP surface of live platforms: bind/unbind platform rooms (host, ops), Douyin's signed
data push, and the signed generic bridge."""

from __future__ import annotations

from aiohttp import web

from live_server.core.errors import ValidationFailed
from live_server.core.tokens import Role
from live_server.platforms.models import (
    Binding,
    BindPlatform,
    BridgeEvents,
    BridgeResult,
    DouyinPushResult,
    Platform,
    PlatformBinding,
    PlatformBindings,
)
from live_server.platforms.wiring import PLATFORMS
from live_server.web.api import Api, Call

api = Api()
TAG = "platforms"

SIGNED_BRIDGE: web.RequestKey[Binding] = web.RequestKey("signed_bridge", Binding)


def _platform(name: str) -> Platform:
    try:
        return Platform(name)
    except ValueError:
        allowed = ", ".join(p.value for p in Platform)
        raise ValidationFailed(f"platform: one of {allowed}, not {name!r}") from None


@api.put(
    "/api/v1/rooms/{room}/platforms/{platform}", summary="Bind a platform room to the room",
    tag=TAG, roles=[Role.HOST], scope="room", body=BindPlatform, response=PlatformBinding,
    errors=[404],
    description=(
        "`platform` is `douyin` (pushes to POST /api/v1/platforms/douyin/push, signed with "
        "`secret`) or `generic` (a brand's bridge posting to .../platform-events, HMAC with "
        "`secret`). Replaces the room's binding of that platform. The secret is never returned."
    ),
)  # fmt: skip
async def bind_platform(call: Call[BindPlatform, None]) -> PlatformBinding:
    return await call.app[PLATFORMS].bind(
        call.path("room"), _platform(call.path("platform")), call.body
    )


@api.delete(
    "/api/v1/rooms/{room}/platforms/{platform}", summary="Unbind the room's platform room",
    tag=TAG, roles=[Role.HOST], scope="room", status=204, errors=[400, 404],
)  # fmt: skip
async def unbind_platform(call: Call[None, None]) -> None:
    await call.app[PLATFORMS].unbind(call.path("room"), _platform(call.path("platform")))


@api.get(
    "/api/v1/rooms/{room}/platforms", summary="The room's platform bindings (no secrets)",
    tag=TAG, roles=[Role.HOST], scope="room", response=PlatformBindings, errors=[404],
)  # fmt: skip
async def list_platforms(call: Call[None, None]) -> PlatformBindings:
    room_id = call.path("room")
    return PlatformBindings(room_id=room_id, platforms=await call.app[PLATFORMS].bindings(room_id))


@api.post(
    "/api/v1/platforms/douyin/push", summary="Douyin's live-room data push", tag=TAG,
    response=DouyinPushResult, errors=[400, 401, 404],
    raw_body={"application/json": "a JSON list of Douyin messages of type x-msg-type"},
    headers=["x-nonce-str", "x-timestamp", "x-roomid", "x-msg-type", "x-signature"],
    description=(
        "As Douyin's open platform pushes live-room data: x-msg-type live_comment, live_like, "
        "live_gift or live_fansclub; x-timestamp in ms (within 5 minutes); x-signature = "
        "base64(md5(x-msg-type=..&x-nonce-str=..&x-roomid=..&x-timestamp=.. + raw body + the "
        "bound secret)). 404: x-roomid is bound to no room; 401: bad signature or stale "
        "timestamp. A repeated msg_id is counted once."
    ),
)  # fmt: skip
async def douyin_push(call: Call[None, None]) -> DouyinPushResult:
    body = await call.request.read()
    return await call.app[PLATFORMS].douyin_push(call.request.headers, body)


async def _bridge_signature(request: web.Request) -> None:
    """The bound secret's signature over the raw body, before the body is parsed."""
    raw = await request.read()
    request[SIGNED_BRIDGE] = await request.app[PLATFORMS].signed_bridge(
        request.match_info["room"], raw,
        request.headers.get("X-Timestamp"), request.headers.get("X-Signature"),
    )  # fmt: skip


@api.post(
    "/api/v1/rooms/{room}/platform-events", summary="A brand's bridge for another platform",
    tag=TAG, body=BridgeEvents, response=BridgeResult, errors=[401, 404],
    headers=["X-Timestamp", "X-Signature"], guard=_bridge_signature,
    description=(
        "Signed with the room's generic binding secret as the group webhook is: X-Timestamp "
        "(unix seconds, within 5 minutes), X-Signature: sha256=<hex HMAC-SHA256(secret, "
        "timestamp + '.' + raw body)>. Idempotent by event id."
    ),
)  # fmt: skip
async def platform_events(call: Call[BridgeEvents, None]) -> BridgeResult:
    return await call.app[PLATFORMS].bridge_events(call.request[SIGNED_BRIDGE], call.body)
