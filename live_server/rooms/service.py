"""The room lifecycle and viewer identities (OneID), on :class:`RoomStore`. The realtime
part of rooms (broadcasts, room.state, viewer counts) is ``live_server.rooms.live``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable

from live_server.core.redis_conn import RedisClient
from live_server.core.tokens import Role, TokenSigner
from live_server.rooms.models import (
    ALLOWED_TRANSITIONS,
    CreateRoom,
    ExternalIdNotSigned,
    LaunchIdentity,
    Room,
    RoomNotFound,
    RoomStatus,
    check_transition,
    require_live,
    verify_launch,
)
from live_server.rooms.store import RoomStore, TransitionOutcome


class RoomService:
    """Create rooms, move them through their lifecycle, issue viewer identities."""

    def __init__(
        self, redis: RedisClient, signer: TokenSigner, secret: str, token_ttl_s: int,
        *, platform_secret: str = "", production: bool = False,
    ) -> None:  # fmt: skip
        self.platform_secret = platform_secret
        self.production = production
        self.store = RoomStore(redis)
        self.signer = signer
        self.token_ttl_s = token_ttl_s
        self._oneid_key = hashlib.sha256(b"live-companion/oneid/" + secret.encode()).digest()
        self._brands: dict[str, str] = {}
        self.created: list[Callable[[Room], Awaitable[None]]] = []
        """Run after a room is created (the groups domain arms a scheduled room's preview)."""
        self.before_end: list[Callable[[str], Awaitable[None]]] = []
        """Run (in order) before a room is marked ended, e.g. closing its coupon campaigns
        so nothing can be claimed in an ended room; a hook that fails stops the end (the
        host retries; hooks are idempotent)."""

    async def create(self, spec: CreateRoom, room_id: str | None = None) -> tuple[Room, str]:
        room_id = room_id or "r_" + secrets.token_hex(5)
        await self.store.create(room_id, spec)
        room = await self.get(room_id)
        for hook in self.created:
            await hook(room)
        return room, self.host_token(room_id)

    def host_token(self, room_id: str) -> str:
        return self.signer.issue(Role.HOST, room_id, "host", self.token_ttl_s)

    async def get(self, room_id: str) -> Room:
        room = await self.store.get(room_id)
        if room is None:
            raise RoomNotFound(f"no room {room_id!r}")
        return room

    async def brand_of(self, room_id: str) -> str | None:
        """The room's brand (None: no such room). A room never changes brand, so each
        worker remembers it: brand checks on the flash paths cost a dict look-up."""
        brand = self._brands.get(room_id)
        if brand is None:
            room = await self.store.get(room_id)
            if room is None:
                return None
            if len(self._brands) >= 100_000:
                self._brands.clear()
            brand = self._brands[room_id] = room.brand
        return brand

    async def status(self, room_id: str) -> RoomStatus:
        status = await self.store.status(room_id)
        if status is None:
            raise RoomNotFound(f"no room {room_id!r}")
        return status

    async def require_live(self, room_id: str) -> None:
        require_live(await self.status(room_id))

    async def move(self, room_id: str, wanted: RoomStatus) -> Room:
        """Move the room to ``wanted`` (live or ended), or say why not. No events here:
        ``LiveRooms.move`` (the routes' way in) sends them after this."""
        allowed_from = [s for s, targets in ALLOWED_TRANSITIONS.items() if wanted in targets]
        if wanted is RoomStatus.ENDED:
            check_transition(await self.status(room_id), wanted)  # 404/409 before any hook
            for hook in self.before_end:
                await hook(room_id)
        moved = await self.store.transition(room_id, wanted, allowed_from)
        if moved.outcome is TransitionOutcome.MISSING:
            raise RoomNotFound(f"no room {room_id!r}")
        if moved.outcome is TransitionOutcome.REFUSED:
            assert moved.current is not None
            check_transition(moved.current, wanted)
        room = await self.get(room_id)
        # Follow-up on another hash tag, idempotent: which room is live for the brand.
        if wanted is RoomStatus.LIVE:
            await self.store.set_live_room(room.brand, room.store_id, room_id)
        else:
            await self.store.clear_live_room(room.brand, room.store_id, room_id)
        return room

    async def live_room_for_brand(self, brand: str, store_id: str | None = None) -> str | None:
        """Where a question of the brand's store goes: the store's live room if there is
        one, else the brand's main room (several rooms of a brand may be live at once)."""
        return await self.store.live_room(brand, store_id)

    async def set_product(self, room_id: str, product_id: str) -> None:
        """The platform's product card now shows ``product_id`` in the room."""
        await self.store.set_product(room_id, product_id)

    async def product_on_screen(self, room_id: str) -> str | None:
        """The product on screen now (bookings and claims record it), None if none yet."""
        return await self.store.product_on_screen(room_id)

    def check_launch(self, room_id: str, launch: str) -> LaunchIdentity:
        """The platform identity of a launch token for this room (403 forged, expired,
        another room)."""
        return verify_launch(launch, self.platform_secret, room_id, time.time())

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
        self, room_id: str, external_id: str | None, signature: str | None = None,
        launch: str | None = None,
    ) -> tuple[str, str, bool]:  # fmt: skip
        """The viewer of an external id (signed: verified), of a launch token (verified:
        the platform vouched for the open id) or a fresh anonymous one."""
        if launch is not None:
            external_id, verified = self.check_launch(room_id, launch).external_id, True
        else:
            verified = self.check_external_id(external_id, signature)
        await self.get(room_id)  # 404 for an unknown room
        viewer_id = self.viewer_id_for(external_id)
        await self.store.add_viewer(room_id, viewer_id)
        token = self.signer.issue(
            Role.VIEWER, room_id, viewer_id, self.token_ttl_s, verified=verified
        )
        return viewer_id, token, verified
