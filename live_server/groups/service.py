"""The group channel's rules: member events (OneID), join gifts, store posts, previews of
scheduled broadcasts, group-only offers, follow-ups after a first visit, per-group stats.
Every notice leaves through the group outbox (:mod:`.outbox`); every timer through
:class:`GroupTimers` (fire.lua: once across nodes)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from live_server.core.tasks import cancel_and_wait
from live_server.core.tokens import Claims
from live_server.core.util import now_ms, parse_time_ms
from live_server.groups.models import (
    DAY_MS,
    Automation,
    AutomationList,
    BrandGroupStats,
    CreatePost,
    Delivery,
    GiftIssuer,
    GroupConfig,
    GroupNotFound,
    GroupStats,
    MemberEvent,
    MemberEventResult,
    MemberEvents,
    MemberEventsResult,
    MemberEventType,
    Post,
    PostKind,
    PostList,
    PostNotAllowed,
    followup_notice,
    gift_holder,
    gift_notice,
    iso_ms,
    offer_notice,
    post_notice,
    preview_text,
)
from live_server.groups.outbox import GroupOutbox
from live_server.groups.store import GroupStore
from live_server.questions.models import Group, JoinGift
from live_server.rooms.models import Room, RoomNotFound, RoomStatus, verify_launch
from live_server.rooms.service import RoomService
from live_server.store_streams.groups import ConsumerConfig, StoreConsumer
from live_server.stores.store import StoreRegistry

log = logging.getLogger(__name__)

GIFT_REPAIR_S = 30.0
FOLLOW_UP_MAX_AGE_MS = DAY_MS
"""A check-in older than this when first read (a new deployment reading a store's kept
history) marks the first visit but arms no follow-up."""


class GroupService:
    """Use cases of the group channel (one per process)."""

    def __init__(
        self, store: GroupStore, config: GroupConfig, rooms: RoomService, stores: StoreRegistry,
        *, group: Callable[[str], Awaitable[Group | None]],
        all_groups: Callable[[], Awaitable[list[Group]]], base_url: str,
    ) -> None:  # fmt: skip
        self.store = store
        self.config = config
        self.rooms = rooms
        self.stores = stores
        self.group = group
        self.all_groups = all_groups
        self.base_url = base_url
        self.gifts: GiftIssuer | None = None
        """The coupons domain (linked in live_server.app): gift campaigns and codes."""
        self.outbox = GroupOutbox(store, config, group, before_pass=self._repair_gifts)
        self._repaired_at = 0.0

    # --- member events (OneID) ----------------------------------------------------------
    def _viewer_of(self, group: Group, event: MemberEvent) -> str:
        """The member's viewer id when it has a platform identity ('' otherwise); 403 for
        a forged, expired or foreign launch token or an unsigned external id."""
        if event.launch is not None:
            identity = verify_launch(
                event.launch, self.rooms.platform_secret, group.id, time.time()
            )
            return self.rooms.viewer_id_for(identity.external_id)
        if event.external_id is not None:
            self.rooms.check_external_id(event.external_id, event.external_id_sig)
            return self.rooms.viewer_id_for(event.external_id)
        return ""

    async def member_events(self, group: Group, body: MemberEvents) -> MemberEventsResult:
        """Apply the bot's member events in order, each once (by id). Identities are
        checked first: one bad one refuses the batch and nothing changes."""
        viewers = [self._viewer_of(group, e) for e in body.events]
        gift = await self.store.gift_config(group.id)
        results = []
        for event, viewer_id in zip(body.events, viewers, strict=True):
            outcome = await self.store.member_event(
                group_id=group.id, event_id=event.id, kind=event.type.value,
                member_id=event.member_id, viewer_id=viewer_id, name=event.name or "",
                at_ms=event.at_ms, gift_on=gift is not None,
                holder=gift_holder(event.member_id, viewer_id or None),
            )  # fmt: skip
            viewer = outcome.viewer_id or None
            if outcome.applied and viewer:  # the follow-up on the customer's tag
                joined = event.type is MemberEventType.JOINED
                await self.store.set_customer_group(viewer, group.id, joined)
                if joined and group.guide_id:
                    await self.store.prefer_guide(group.store_id, viewer, group.guide_id)
            if outcome.gift:
                holder = gift_holder(event.member_id, viewer)
                await self._send_gift(group, holder, event.member_id)
            results.append(MemberEventResult(
                id=event.id, member_id=event.member_id, applied=outcome.applied,
                viewer_id=viewer, gift=outcome.gift,
            ))  # fmt: skip
        return MemberEventsResult(group_id=group.id, results=results)

    # --- join gifts ---------------------------------------------------------------------
    async def group_saved(self, group: Group, spec: JoinGift | None) -> dict[str, Any] | None:
        """``PUT /groups/{group}`` with ``join_gift``: a gift campaign (coupons) redeemable
        in the group's store or ``store_ids``; the same gift again keeps its campaign."""
        current = await self.store.gift_config(group.id)
        if spec is None:
            return current
        store_ids = sorted(spec.store_ids or [group.store_id])
        same = current is not None and (
            current["title"],
            current["value"],
            current["store_ids"],
        ) == (spec.title, spec.value, store_ids)
        if same:
            assert current is not None
            campaign_id = current["campaign_id"]
        else:
            if self.gifts is None:
                raise RuntimeError("join gifts need the coupons domain")
            campaign_id = await self.gifts.create_gift_campaign(
                group_id=group.id, title=spec.title, value=spec.value, store_ids=store_ids
            )
        config = {
            "campaign_id": campaign_id, "title": spec.title, "value": spec.value,
            "valid_days": spec.valid_days, "store_ids": store_ids,
        }  # fmt: skip
        await self.store.put_gift_config(group.id, config)
        return config

    async def _send_gift(self, group: Group, holder: str, member_id: str) -> None:
        """Issue the holder's code (idempotent: the same code however often) and queue its
        notice (idempotent by key); then nothing is left to repair."""
        config = await self.store.gift_config(group.id)
        if config is None or self.gifts is None:
            return
        gift = await self.gifts.issue_gift(
            config["campaign_id"], holder, config["valid_days"], self.base_url
        )
        notice = gift_notice(group.id, member_id, gift, config["title"])
        await self.store.enqueue(group.id, f"gift:{holder}", "join_gift", notice, now_ms())
        await self.store.gift_sent(group.id, holder, gift["code"])
        self.outbox.wake()

    async def _repair_gifts(self) -> None:
        """Gifts decided whose notice was never queued (a crash in between): every
        GIFT_REPAIR_S, on any node (both steps are idempotent)."""
        if time.monotonic() - self._repaired_at < GIFT_REPAIR_S:
            return
        self._repaired_at = time.monotonic()
        for group in await self.all_groups():
            for holder, member_id in (await self.store.gifts_pending(group.id)).items():
                try:
                    await self._send_gift(group, holder, member_id)
                except Exception:
                    log.exception("join gift repair failed", extra={"group": group.id})

    # --- questions (counted per group) --------------------------------------------------
    async def group_asked(self, group: Group, author_id: str) -> None:
        await self.store.count(group.id, "questions")

    # --- store posts ---------------------------------------------------------------------
    async def _store_groups(self, store_id: str) -> list[Group]:
        return sorted((g for g in await self.all_groups() if g.store_id == store_id),
                      key=lambda g: g.id)  # fmt: skip

    async def create_post(self, who: Claims, store_id: str, spec: CreatePost) -> Post:
        if self.stores.get(store_id) is None:
            raise PostNotAllowed(f"no store {store_id!r}")
        groups = [g.id for g in await self._store_groups(store_id)]
        if spec.groups is not None:
            foreign = sorted(set(spec.groups) - set(groups))
            if foreign:
                raise PostNotAllowed(f"group {foreign[0]!r} is not a group of store {store_id!r}")
            groups = sorted(set(spec.groups))
        if not groups:
            raise PostNotAllowed(f"store {store_id!r} has no community group to post to")
        now = now_ms()
        send_at = max(now, parse_time_ms(spec.send_at)) if spec.send_at is not None else now
        post_id = "p_" + secrets.token_hex(6)
        post = {
            "post_id": post_id, "store_id": store_id, "kind": spec.kind.value, "text": spec.text,
            "send_at": send_at, "created_at": now, "groups": groups, "by": who.subject,
            "status": "scheduled" if send_at > now else "sent",
        }  # fmt: skip
        await self.store.save_post(store_id, post, now)
        if send_at > now:
            await self.store.arm(f"post|{store_id}|{post_id}", send_at)
        else:
            await self._send_post(post)
        return await self.get_post(store_id, post_id)

    async def _send_post(self, post: dict[str, Any]) -> None:
        """Queue the post to each of its groups (idempotent per group: a re-fire after a
        crash queues only what is missing)."""
        store_id, post_id = post["store_id"], post["post_id"]
        for group_id in post["groups"]:
            body = post_notice(group_id, store_id, post_id, post["kind"], post["text"])
            await self.store.enqueue(group_id, f"post:{store_id}:{post_id}", "post", body, now_ms())
        await self.store.mark_post_sent(store_id, post_id)
        self.outbox.wake()

    async def get_post(self, store_id: str, post_id: str) -> Post:
        raw = await self.store.post(store_id, post_id)
        if raw is None:
            raise GroupNotFound(f"no post {post_id!r} in store {store_id!r}")
        deliveries = []
        for group_id in raw["groups"]:
            [state] = await self.store.notice_states(group_id, [f"post:{store_id}:{post_id}"])
            deliveries.append(Delivery(
                group_id=group_id, state=state.get("state", "scheduled"),
                attempts=int(state.get("attempts", 0)), error=state.get("error"),
                at=iso_ms(state.get("at")),
            ))  # fmt: skip
        return Post(
            post_id=post_id, store_id=store_id, kind=PostKind(raw["kind"]), text=raw["text"],
            send_at=iso_ms(raw["send_at"]), created_at=iso_ms(raw["created_at"]) or "",
            status=raw["status"], deliveries=deliveries,
        )  # fmt: skip

    async def list_posts(self, store_id: str) -> PostList:
        if self.stores.get(store_id) is None:
            raise GroupNotFound(f"no store {store_id!r}")
        ids = await self.store.post_ids(store_id)
        return PostList(store_id=store_id, posts=[await self.get_post(store_id, p) for p in ids])

    # --- scheduled broadcasts and previews ---------------------------------------------
    async def room_created(self, room: Room) -> None:
        """A room with ``scheduled_at``: its preview is armed LIVE_PREVIEW_DAYS before."""
        if room.scheduled_at is None:
            return
        scheduled = parse_time_ms(room.scheduled_at)
        await self.store.schedule_room(room.brand, room.room_id, scheduled)
        due = max(now_ms(), scheduled - int(self.config.preview_days * DAY_MS))
        await self.store.arm(f"preview|{room.room_id}", due)

    async def _send_preview(self, room_id: str) -> None:
        try:
            room = await self.rooms.get(room_id)
        except RoomNotFound:
            return
        if room.status is not RoomStatus.SCHEDULED or room.scheduled_at is None:
            return  # started early or cancelled: no preview
        featured_stores = {room.store_id} if room.store_id else None
        groups = [
            g for g in await self.all_groups()
            if g.brand == room.brand and (featured_stores is None or g.store_id in featured_stores)
        ]  # fmt: skip
        link = self.booking_link(room.room_id)
        text = preview_text(room.title, room.scheduled_at, link)
        for group in groups:
            body = {
                **post_notice(group.id, group.store_id, f"preview-{room.room_id}", "preview", text),
                "room_id": room.room_id, "title": room.title, "scheduled_at": room.scheduled_at,
                "booking_url": link,
            }  # fmt: skip
            await self.store.enqueue(group.id, f"preview:{room.room_id}", "post", body, now_ms())
        self.outbox.wake()

    def booking_link(self, room_id: str) -> str:
        return f"{self.base_url}/embed/{room_id}"

    async def next_broadcast(self, brand: str, after_ms: int) -> Room | None:
        for room_id, _ in await self.store.scheduled_rooms(brand, after_ms):
            try:
                room = await self.rooms.get(room_id)
            except RoomNotFound:
                continue
            if room.status is RoomStatus.SCHEDULED:
                return room
        return None

    # --- group-only offers ---------------------------------------------------------------
    async def offer_dropped(self, campaign: Any) -> None:
        """A group-only drop (coupons' Campaign) is announced to its groups."""
        data = campaign.model_dump(mode="json")
        offer = {k: data.get(k) for k in ("id", "room_id", "title", "kind", "value",
                                          "expires_at", "store_ids")}  # fmt: skip
        offer["claim_url"] = self.booking_link(campaign.room_id)
        for group_id in data["audience"]["groups"]:
            if await self.group(group_id) is None:
                continue
            body = offer_notice(group_id, offer)
            await self.store.enqueue(group_id, f"offer:{campaign.id}", "offer", body, now_ms())
        self.outbox.wake()

    # --- automations ---------------------------------------------------------------------
    async def put_automations(self, brand: str, automations: list[Automation]) -> AutomationList:
        await self.store.put_automations(brand, [a.model_dump() for a in automations])
        return await self.get_automations(brand)

    async def get_automations(self, brand: str) -> AutomationList:
        found = [Automation.model_validate(a) for a in await self.store.automations(brand)]
        return AutomationList(brand=brand, automations=found)

    async def on_store_entry(self, entry: dict[str, Any], at_ms: int) -> None:
        """A store-stream entry (consumer group ``groups``): bookings and visits by members
        are counted per group; a customer's first check-in arms the brand's follow-ups."""
        kind, viewer_id = entry.get("type"), entry.get("viewer_id")
        if kind not in ("booking.created", "booking.arrived") or not viewer_id:
            return
        store_id = str(entry.get("store_id", ""))
        groups = await self.store.customer_groups(str(viewer_id))
        field = "bookings" if kind == "booking.created" else "visits"
        for group_id in sorted(groups):
            await self.store.count_once(group_id, field, entry["id"])
            if kind == "booking.created" and entry.get("source") == "preview":
                await self.store.count_once(group_id, "preview_bookings", entry["id"])
        if kind != "booking.arrived":
            return
        arrived = int(entry.get("ts") or at_ms)
        if not await self.store.first_visit(str(viewer_id), arrived):
            return
        if at_ms - arrived > FOLLOW_UP_MAX_AGE_MS:
            return
        store = self.stores.get(store_id)
        if store is None:
            return
        rules = [a for a in await self.store.automations(store.brand)
                 if a.get("trigger") == "first_visit"]  # fmt: skip
        store_groups = {g.id for g in await self._store_groups(store_id)}
        for group_id in sorted(groups & store_groups):
            member_id = await self.store.member_of_viewer(group_id, str(viewer_id))
            if member_id is None:
                continue
            for rule in rules:
                due = arrived + int(rule["delay_days"]) * DAY_MS
                await self.store.arm(
                    f"followup|{group_id}|{member_id}|{viewer_id}|{store.brand}", due
                )

    async def _send_followup(
        self, group_id: str, member_id: str, viewer_id: str, brand: str, at_ms: int
    ) -> bool:
        """The follow-up names the next broadcast; not before that broadcast's preview
        time (re-armed for then). False when re-armed or nothing to name."""
        room = await self.next_broadcast(brand, at_ms)
        if room is None or room.scheduled_at is None:
            log.info("follow-up for %s in %s: no scheduled broadcast", viewer_id, group_id)
            return False
        preview_at = parse_time_ms(room.scheduled_at) - int(self.config.preview_days * DAY_MS)
        if preview_at > at_ms:
            await self.store.arm(f"followup|{group_id}|{member_id}|{viewer_id}|{brand}", preview_at)
            return False
        body = followup_notice(group_id, member_id, viewer_id, {
            "room_id": room.room_id, "title": room.title, "scheduled_at": room.scheduled_at,
            "booking_url": self.booking_link(room.room_id),
        })  # fmt: skip
        queued = await self.store.enqueue(
            group_id, f"followup:{viewer_id}:{room.room_id}", "follow_up", body, now_ms()
        )
        self.outbox.wake()
        return queued

    # --- timers --------------------------------------------------------------------------
    async def fire(self, member: str, at_ms: int) -> str:
        """Act on one taken timer; answers what it did (tests and logs read it)."""
        kind, _, rest = member.partition("|")
        if kind == "post":
            store_id, _, post_id = rest.partition("|")
            post = await self.store.post(store_id, post_id)
            if post is None:
                return "gone"
            await self._send_post(post)
            return "post"
        if kind == "preview":
            await self._send_preview(rest)
            return "preview"
        if kind == "followup":
            group_id, member_id, viewer_id, brand = rest.split("|", 3)
            sent = await self._send_followup(group_id, member_id, viewer_id, brand, at_ms)
            return "follow_up" if sent else "follow_up_later"
        return "unknown"

    # --- stats ---------------------------------------------------------------------------
    async def group_stats(self, group: Group) -> GroupStats:
        counters = await self.store.stats(group.id)
        gift = await self.store.gift_config(group.id)
        redeemed = await self.store.campaign_redeemed(gift["campaign_id"]) if gift else 0
        return GroupStats(
            group_id=group.id, name=group.name, store_id=group.store_id, brand=group.brand,
            gifts_redeemed=redeemed, **counters,
        )  # fmt: skip

    async def brand_stats(self, brand: str) -> BrandGroupStats:
        groups = sorted((g for g in await self.all_groups() if g.brand == brand),
                        key=lambda g: g.id)  # fmt: skip
        return BrandGroupStats(brand=brand, groups=[await self.group_stats(g) for g in groups])

    async def room_group_stats(self, brand: str) -> list[dict[str, Any]]:
        """``/stats``' ``groups``: the brand's groups and their counters."""
        return [g.model_dump() for g in (await self.brand_stats(brand)).groups]


class GroupTimers:
    """One per process: reads the store streams (consumer group ``groups``) and fires the
    due group timers. ``run_once(at_ms)`` is the whole pass (tests call it with a chosen
    clock); the background loop calls it every ``timer_poll_s``."""

    def __init__(self, service: GroupService, poll_s: float) -> None:
        self.service = service
        self.poll_s = poll_s
        self.fired: dict[str, int] = {}
        self._consumers: dict[str, StoreConsumer] = {}
        self._config = ConsumerConfig(
            group="groups", claim_idle_ms=60_000, max_deliveries=5, batch=100, start="0"
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="group-timers")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                log.warning("group timers: %s; retrying", exc)
            except Exception:
                log.exception("group timers pass failed")
            await asyncio.sleep(self.poll_s)

    async def run_once(self, at_ms: int | None = None) -> list[tuple[str, str]]:
        """Read new store-stream entries, then fire every timer due at ``at_ms`` (now);
        answers (timer, what it did) for each fired here."""
        at = now_ms() if at_ms is None else at_ms
        service = self.service
        for store in service.stores.all():
            consumer = self._consumers.get(store.id)
            if consumer is None:
                consumer = self._consumers[store.id] = StoreConsumer(
                    service.store.redis, store.id, self._config
                )
                await consumer.ensure_group()

            async def handle(entry: dict[str, Any]) -> None:
                await service.on_store_entry(entry, at)

            await consumer.poll(handle, block=False)
        done: list[tuple[str, str]] = []
        for member in await service.store.take_due(at):
            what = await service.fire(member, at)
            await service.store.done(member)
            self.fired[what] = self.fired.get(what, 0) + 1
            done.append((member, what))
        return done
