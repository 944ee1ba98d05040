"""Room records in Redis and the room lifecycle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import msgpack

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import Fields, raw_hash, raw_or_none
from live_server.core.tokens import Role, TokenSigner
from live_server.core.util import optional_text
from live_server.rooms.models import (
    ALLOWED_TRANSITIONS,
    CreateRoom,
    ExternalIdNotSigned,
    FeaturedItem,
    Room,
    RoomNotFound,
    RoomStatus,
    check_transition,
    require_live,
)

_TRANSITION = (Path(__file__).parent / "transition.lua").read_text()


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class RoomService:
    """Create rooms, move them through their lifecycle, issue viewer identities."""

    def __init__(
        self, redis: RedisClient, signer: TokenSigner, secret: str, token_ttl_s: int,
        *, platform_secret: str = "", production: bool = False,
    ) -> None:  # fmt: skip
        self.platform_secret = platform_secret
        self.production = production
        self.redis = redis
        self.signer = signer
        self.token_ttl_s = token_ttl_s
        self._oneid_key = hashlib.sha256(b"live-companion/oneid/" + secret.encode()).digest()
        self._transition = redis.register_script(_TRANSITION)
        self.before_end: list[Callable[[str], Awaitable[None]]] = []
        """Run (in order) before a room is marked ended, e.g. closing its coupon campaigns
        so nothing can be claimed in an ended room; a hook that fails stops the end (the
        host retries; hooks are idempotent)."""

    async def create(self, spec: CreateRoom, room_id: str | None = None) -> tuple[Room, str]:
        room_id = room_id or "r_" + secrets.token_hex(5)
        created = iso_now()
        fields: Fields = {
            "title": spec.title,
            "brand": spec.brand,
            "status": RoomStatus.SCHEDULED.value,
            "featured": msgpack.packb([f.model_dump() for f in spec.featured]),
            "created_at": created,
        }
        await self.redis.hset(keys.room(room_id), mapping=fields)
        await self.redis.zadd(keys.ROOMS, {room_id: datetime.now(UTC).timestamp()})
        return await self.get(room_id), self.host_token(room_id)

    def host_token(self, room_id: str) -> str:
        return self.signer.issue(Role.HOST, room_id, "host", self.token_ttl_s)

    async def get(self, room_id: str) -> Room:
        fields = raw_hash(await self.redis.hgetall(keys.room(room_id)))
        if not fields:
            raise RoomNotFound(f"no room {room_id!r}")
        return Room(
            room_id=room_id,
            title=fields[b"title"].decode(),
            brand=fields.get(b"brand", b"default").decode(),
            status=RoomStatus(fields[b"status"].decode()),
            featured=[FeaturedItem(**f) for f in msgpack.unpackb(fields.get(b"featured", b"\x90"))],
            created_at=fields[b"created_at"].decode(),
            started_at=optional_text(fields.get(b"started_at")),
            ended_at=optional_text(fields.get(b"ended_at")),
        )

    async def status(self, room_id: str) -> RoomStatus:
        status = raw_or_none(await self.redis.hget(keys.room(room_id), "status"))
        if status is None:
            raise RoomNotFound(f"no room {room_id!r}")
        return RoomStatus(status.decode())

    async def require_live(self, room_id: str) -> None:
        require_live(await self.status(room_id))

    async def move(self, room_id: str, wanted: RoomStatus) -> Room:
        allowed_from = [s.value for s, targets in ALLOWED_TRANSITIONS.items() if wanted in targets]
        stamp_field = "started_at" if wanted is RoomStatus.LIVE else "ended_at"
        if wanted is RoomStatus.ENDED:
            check_transition(await self.status(room_id), wanted)  # 404/409 before any hook
            for hook in self.before_end:
                await hook(room_id)
        ok, current = await self._transition(
            keys=[keys.room(room_id)],
            args=[wanted.value, ",".join(allowed_from), stamp_field, iso_now()],
        )
        if ok == -1:
            raise RoomNotFound(f"no room {room_id!r}")
        if ok == 0:
            check_transition(RoomStatus(current.decode()), wanted)
        room = await self.get(room_id)
        # Follow-up on another hash tag, idempotent: which room is live for the brand.
        if wanted is RoomStatus.LIVE:
            await self.redis.hset(keys.ROOMS_BY_BRAND, room.brand, room_id)
        else:
            current_live = await self.redis.hget(keys.ROOMS_BY_BRAND, room.brand)
            if current_live == room_id.encode():
                await self.redis.hdel(keys.ROOMS_BY_BRAND, room.brand)
        return room

    async def live_room_for_brand(self, brand: str) -> str | None:
        return optional_text(raw_or_none(await self.redis.hget(keys.ROOMS_BY_BRAND, brand)))

    def viewer_id_for(self, external_id: str | None) -> str:
        """Same external id, same viewer in every room (OneID); none: a fresh viewer."""
        if external_id is None:
            return "v_" + secrets.token_hex(8)
        mac = hmac.new(self._oneid_key, external_id.encode(), hashlib.sha256).digest()
        return "v_" + base64.b32encode(mac[:10]).decode().lower()

    def check_external_id(self, external_id: str | None, signature: str | None) -> bool:
        """Whether the external id is verified; raise if it may not be linked at all.

        With ``LIVE_PLATFORM_SECRET`` set, linking needs the platform's signature, so nobody
        can claim someone else's phone or openid. Without it, production refuses to link;
        a local/demo run links unverified ids (documented in docs/SECURITY.md).
        """
        if external_id is None:
            return False
        if self.platform_secret:
            want = hmac.new(
                self.platform_secret.encode(), external_id.encode(), hashlib.sha256
            ).hexdigest()
            # Bytes: compare_digest raises TypeError on non-ASCII str (a 500, not a 403).
            if signature and hmac.compare_digest(want.encode(), signature.lower().encode()):
                return True
            raise ExternalIdNotSigned(
                "external_id must carry external_id_sig = hex HMAC-SHA256 by the live platform"
            )
        if self.production:
            raise ExternalIdNotSigned(
                "linking external ids needs LIVE_PLATFORM_SECRET on the server and a signature"
            )
        return False

    async def add_viewer(
        self, room_id: str, external_id: str | None, signature: str | None = None
    ) -> tuple[str, str, bool]:
        verified = self.check_external_id(external_id, signature)
        await self.get(room_id)  # 404 for an unknown room
        viewer_id = self.viewer_id_for(external_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(keys.customer(viewer_id), "created_at", iso_now())
            pipe.hset(keys.customer(viewer_id), "last_room", room_id)
            await pipe.execute()
        await self.redis.pfadd(keys.room_unique_viewers(room_id), viewer_id)
        token = self.signer.issue(Role.VIEWER, room_id, viewer_id, self.token_ttl_s)
        return viewer_id, token, verified
