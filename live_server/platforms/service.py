"""The live-platform use cases: bind platform rooms, take Douyin's signed pushes and a
brand bridge's signed events, and turn each message into its effect on the room.

Effects. Every message is counted once by its id (ingest.lua: one call per push). A
comment that reads as a question goes to the question pipeline (``ask_question``, wired by
the composition root to the questions domain) with ``source: live_comment``; chatter is
only counted. Likes, gifts, fans-club joins, viewer joins and counts are room counters;
``/host`` gets them as ``room.engagement`` at most once a second (a gate in Redis, so
across workers too). ``product_shown`` sets the room's product on screen;
``live_start``/``live_end`` start and end the room.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError

from live_server.core.errors import Problem
from live_server.core.metrics import Metrics
from live_server.core.tasks import cancel_and_wait, cancel_requested
from live_server.core.util import now_ms
from live_server.platforms.models import (
    Binding,
    BindPlatform,
    BridgeEvents,
    BridgeResult,
    CardRef,
    DouyinMessage,
    DouyinPushResult,
    Effect,
    Platform,
    PlatformBinding,
    PlatformMessage,
    PlatformNotBound,
    PlatformRoomNotFound,
    PlatformRoomTaken,
    PushMalformed,
    check_bridge_fields,
    check_bridge_signature,
    check_douyin_push,
    from_bridge,
    from_douyin,
    reads_as_question,
)
from live_server.platforms.store import IngestCall, PlatformStore
from live_server.realtime.server import Realtime
from live_server.rooms.models import Room, RoomNotFound, RoomStatus
from live_server.rooms.service import RoomService

log = logging.getLogger(__name__)

BINDING_CACHE_S = 2.0
"""A binding is looked up again this often (a rebind reaches every worker within it)."""
ENGAGEMENT_TICK_S = 0.25
_DOUYIN_BODY: TypeAdapter[list[DouyinMessage]] = TypeAdapter(list[DouyinMessage])


class AskedCard(Protocol):
    """What the question pipeline answers: the card a comment joined."""

    @property
    def question_id(self) -> str: ...

    @property
    def askers(self) -> int: ...


AskQuestion = Callable[[str, str, str, str, str], Awaitable[AskedCard]]
"""(room id, platform, platform user id, text, message id): the question pipeline."""


class RoomLifecycle(Protocol):
    """Starting and ending a room with its broadcasts (``rooms.live.LiveRooms``)."""

    async def move(self, room_id: str, wanted: RoomStatus) -> Room: ...


class PlatformService:
    """One per process."""

    def __init__(
        self, store: PlatformStore, rooms: RoomService, lifecycle: RoomLifecycle,
        realtime: Realtime, metrics: Metrics,
    ) -> None:  # fmt: skip
        self.store = store
        self.rooms = rooms
        self.lifecycle = lifecycle
        self.rt = realtime
        self.ask_question: AskQuestion | None = None
        """Set by the composition root: where question-like comments go."""
        self._bindings: dict[tuple[str, str], tuple[float, Binding | None]] = {}
        self._dirty: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.messages_total = metrics.counter(
            "live_platform_messages_total", "Platform messages received, by platform, effect "
            "and outcome", ("platform", "effect", "outcome"),
        )  # fmt: skip

    # --- bindings --------------------------------------------------------------------------
    async def bind(self, room_id: str, platform: Platform, spec: BindPlatform) -> PlatformBinding:
        room = await self.rooms.get(room_id)  # 404 for an unknown room
        other = await self.store.binding_of(platform.value, spec.platform_room_id)
        if other is not None and other.room_id != room_id:
            # One platform room feeds one of our rooms: the newer binding of the same brand
            # takes it over (the next broadcast of the account); another brand's never
            # does, or any host could take a brand's live feed.
            try:
                owner = await self.rooms.get(other.room_id)
            except RoomNotFound:
                owner = None
            if owner is not None and owner.brand != room.brand:
                raise PlatformRoomTaken(
                    f"{platform.value} room {spec.platform_room_id} feeds a room of another "
                    "brand; its ops must unbind it first"
                )
            await self.store.unbind(other)
        previous = await self.store.room_binding(room_id, platform.value)
        binding = Binding(
            room_id=room_id, platform=platform, platform_room_id=spec.platform_room_id,
            app_id=spec.app_id, secret=spec.secret,
            bound_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )  # fmt: skip
        await self.store.bind(binding, previous)
        self._bindings.clear()
        return binding.public()

    async def unbind(self, room_id: str, platform: Platform) -> None:
        binding = await self.store.room_binding(room_id, platform.value)
        if binding is None:
            await self.rooms.get(room_id)
            raise PlatformNotBound(f"room {room_id} has no {platform.value} binding")
        await self.store.unbind(binding)
        self._bindings.clear()

    async def bindings(self, room_id: str) -> list[PlatformBinding]:
        await self.rooms.get(room_id)
        return [b.public() for b in await self.store.room_bindings(room_id)]

    async def _binding(self, platform: str, platform_room_id: str) -> Binding | None:
        now = time.monotonic()
        cached = self._bindings.get((platform, platform_room_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        binding = await self.store.binding_of(platform, platform_room_id)
        if len(self._bindings) > 10_000:
            self._bindings.clear()
        self._bindings[(platform, platform_room_id)] = (now + BINDING_CACHE_S, binding)
        return binding

    # --- Douyin's push ---------------------------------------------------------------------
    async def douyin_push(self, headers: Mapping[str, str], body: bytes) -> DouyinPushResult:
        """One signed push: 404 unknown platform room, 401 bad signature or stale
        timestamp, 400 malformed body (nothing counted in each case)."""
        platform_room_id = headers.get("x-roomid") or ""
        binding = await self._binding(Platform.DOUYIN.value, platform_room_id)
        if binding is None:
            raise PlatformRoomNotFound(f"no room is bound to Douyin room {platform_room_id!r}")
        msg_type = check_douyin_push(headers, body, binding.secret, time.time())
        try:
            messages = _DOUYIN_BODY.validate_json(body)
        except ValidationError as exc:
            raise PushMalformed("the body must be a JSON list of Douyin messages") from exc
        accepted, dups, cards = await self._apply(
            binding.room_id, [from_douyin(msg_type, m) for m in messages]
        )
        return DouyinPushResult(
            room_id=binding.room_id, accepted=accepted, duplicates=dups, questions=len(cards),
            cards=cards,
        )  # fmt: skip

    # --- the generic bridge ----------------------------------------------------------------
    async def signed_bridge(
        self, room_id: str, body: bytes, timestamp: str | None, signature: str | None
    ) -> Binding:
        """The room's generic binding whose secret signed this body (404 none, 401 bad)."""
        binding = await self.store.room_binding(room_id, Platform.GENERIC.value)
        if binding is None:
            raise PlatformNotBound(f"room {room_id!r} has no generic platform binding")
        check_bridge_signature(binding.secret, timestamp, signature, body, time.time())
        return binding

    async def bridge_events(self, binding: Binding, events: BridgeEvents) -> BridgeResult:
        check_bridge_fields(events.events)
        accepted, dups, cards = await self._apply(
            binding.room_id, [from_bridge(e) for e in events.events]
        )
        return BridgeResult(
            room_id=binding.room_id, accepted=accepted, duplicates=dups, questions=len(cards),
            cards=cards,
        )  # fmt: skip

    # --- effects -----------------------------------------------------------------------------
    async def _apply(
        self, room_id: str, messages: list[PlatformMessage]
    ) -> tuple[int, int, list[CardRef]]:
        """Count the batch once per message id, then each new message's effect; answers
        (accepted, duplicates, the cards comments joined)."""
        if not messages:
            return 0, 0, []
        asks = [m.effect is Effect.COMMENT and reads_as_question(m.text) for m in messages]
        batch = [(m, m.counters(q)) for m, q in zip(messages, asks, strict=True)]
        outcome = await self.store.ingest(IngestCall(room_id, batch, time.time()))
        if not outcome.room_status:
            raise RoomNotFound(f"no room {room_id!r}")
        accepted = 0
        counted = False
        comments: list[Awaitable[CardRef | None]] = []
        for message, ask, new in zip(messages, asks, outcome.new, strict=True):
            effect = message.effect
            if not new:
                self.messages_total.labels(message.platform, effect.value, "duplicate").inc()
                continue
            accepted += 1
            self.messages_total.labels(message.platform, effect.value, "accepted").inc()
            if effect is Effect.COMMENT:
                counted = True
                if ask and self.ask_question is not None:
                    comments.append(self._ask(room_id, message))
            elif effect is Effect.PRODUCT_SHOWN:
                await self._show_product(room_id, message.product_id)
            elif effect in (Effect.LIVE_START, Effect.LIVE_END):
                await self._lifecycle(room_id, effect)
            else:
                counted = True
        cards = [card for card in await asyncio.gather(*comments) if card is not None]
        if counted:
            self._mark_dirty(room_id)
        return accepted, len(messages) - accepted, cards

    async def _ask(self, room_id: str, message: PlatformMessage) -> CardRef | None:
        assert self.ask_question is not None
        try:
            card = await self.ask_question(
                room_id, message.platform, message.user_id or message.message_id, message.text,
                message.message_id,
            )  # fmt: skip
        except Problem as exc:  # held back (moderation, rate, room not live): counted only
            log.debug("live comment not taken in room %s: %s", room_id, exc.detail)
            return None
        return CardRef(question_id=card.question_id, askers=card.askers)

    async def _show_product(self, room_id: str, product_id: str) -> None:
        await self.rooms.set_product(room_id, product_id)
        await self.rt.to_host(
            room_id, "room.product", {"room_id": room_id, "product_id": product_id, "ts": now_ms()}
        )

    async def _lifecycle(self, room_id: str, effect: Effect) -> None:
        wanted = RoomStatus.LIVE if effect is Effect.LIVE_START else RoomStatus.ENDED
        try:
            await self.lifecycle.move(room_id, wanted)
        except Problem as exc:  # e.g. live_start for an ended room: the platform's news is old
            log.info("platform %s ignored for room %s: %s", effect.value, room_id, exc.detail)

    # --- room.engagement, at most once a second ---------------------------------------------
    def _mark_dirty(self, room_id: str) -> None:
        self._dirty.add(room_id)

    async def flush_engagement(self) -> None:
        """Send room.engagement for rooms whose counters moved, where this second's send
        is still free (else they wait for the next tick)."""
        for room_id in list(self._dirty):
            counters = await self.store.engagement(room_id)
            if counters is None:
                continue
            self._dirty.discard(room_id)
            await self.rt.to_host(
                room_id, "room.engagement", {"room_id": room_id, **counters, "ts": now_ms()}
            )

    async def _engagement_loop(self) -> None:
        while not cancel_requested():
            await asyncio.sleep(ENGAGEMENT_TICK_S)
            try:
                await self.flush_engagement()
            except RedisError as exc:
                log.debug("room.engagement flush failed: %s", exc)
            except Exception:
                log.exception("room.engagement loop error")

    def start(self) -> None:
        self._task = asyncio.create_task(self._engagement_loop(), name="platform-engagement")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
