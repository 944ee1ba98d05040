"""Coupon rules: campaign lifecycle, claim and redeem orchestration, ops actions, expiry,
the broadcasts (``coupon.dropped``, the coalesced ``coupon.stock``) and the funnel metrics.

Every atomic step is one Lua script on the campaign's hash tag ``{camp:C}``
(:mod:`coupons.store`). Two steps need another tag and are split (cluster rule, see
live_server/core/keys.py):

* the room's status (``{room:R}``) is not read by the claim: ending a room closes its
  campaigns first (:meth:`CouponService.close_room`, and the sweeper), so an open campaign
  means a live room;
* ``coupon.redeemed`` goes to the store's stream (``{store:S}``) as an idempotent
  follow-up of the redeem script: the script records the redemption as "unappended", the
  append script is keyed by the redemption (a retry returns the first entry id), and a
  marker then clears it. The sweeper retries whatever is still unappended.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import orjson
import segno
from redis.exceptions import RedisError

from coupons.codes import Code, CodeBook, InvalidCode, campaign_ref, new_campaign_id
from coupons.models import (
    MAX_QUANTITY,
    AlreadyRedeemed,
    AuditEntries,
    BelowMinimumSpend,
    Campaign,
    CampaignAlreadyDropped,
    CampaignClosed,
    CampaignList,
    CampaignNotFound,
    CampaignNotOpen,
    CampaignStatus,
    Claimed,
    CodeNotFound,
    CodeState,
    CodeStatus,
    CodeVoided,
    CouponExpired,
    CreateCampaign,
    CustomerContext,
    GroupMembersOnly,
    IdentityRequired,
    LimitReached,
    NotACode,
    NotRedeemed,
    NotValidHere,
    NotValidYet,
    Redemption,
    SoldOut,
    UnknownStore,
    discount_for,
    iso,
)
from coupons.store import (
    ClaimOutcome,
    ClaimReply,
    CouponStore,
    DropOutcome,
    FinishOutcome,
    OpsActionName,
    OpsOutcome,
    RedeemOutcome,
    RedeemReply,
)
from live_server.core.errors import RoomEnded, TooManyRequests
from live_server.core.metrics import Metrics, labelled
from live_server.core.tasks import cancel_and_wait
from live_server.core.tokens import Claims
from live_server.core.util import now_ms
from live_server.realtime.server import Realtime
from live_server.rooms.models import RoomStatus
from live_server.rooms.service import RoomService
from live_server.stores.store import StoreRegistry
from live_server.web.limits import Rule

log = logging.getLogger(__name__)

ROOM_ENDED_REASON = "room ended"
"""finish_reason of a campaign closed because its room ended (claims then answer room-ended)."""

SWEEP_INTERVAL_S = 1.0
STATS_FLUSH_S = 0.25
PRODUCT_CACHE_S = 1.0
"""The room's product on screen, as a claim records it, is read this often per room."""
SWEEP_GRACE_MS = 3600 * 1000  # keep repairing store-stream follow-ups this long after expiry
GIFT_CAMPAIGN_MS = 10 * 366 * 86_400_000  # a join gift's campaign; each code has its own expiry
LISTED = 500  # campaigns a room lists (and room.state shows)

CLAIM_PER_VIEWER = Rule("claim-viewer", "viewer", 10, 10, by_route=True)
"""Per viewer and campaign: counted inside claim.lua (a flash claim is one round trip)."""

# Enum members read as ``ClaimOutcome.X`` cost ~0.2 µs each on Python 3.11 (a module
# global ~0.02 µs): the flash path compares against these.
_CLAIMED, _DUP, _COLLISION = ClaimOutcome.OK, ClaimOutcome.DUP, ClaimOutcome.COLLISION


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """A code handed to a viewer; ``replayed`` for an idempotent retry (the first code
    again). :meth:`CouponService.claimed_body` renders the 201 body."""

    code: Code
    campaign: Campaign
    replayed: bool


@dataclass(frozen=True, slots=True)
class RedeemResult:
    redemption: Redemption
    campaign_id: str
    room_id: str
    stream_id: str | None


class CouponMetrics:
    """Prometheus series of the coupon funnel (names documented in docs/COUPONS.md)."""

    def __init__(self, metrics: Metrics) -> None:
        self.claims = metrics.counter(
            "live_coupon_claims_total", "Coupon claim attempts by result", ("result",)
        )
        self.sell_out = metrics.histogram(
            "live_coupon_sell_out_seconds", "Time from drop to the last coupon claimed",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
        )  # fmt: skip
        # No room or store label: their number is unbounded (per-room and per-store
        # figures are in /api/v1/rooms/{room}/stats).
        self.claimed = metrics.counter("live_coupon_claimed_total", "Codes handed out")
        self.redemptions = metrics.counter("live_coupon_redemptions_total", "Codes redeemed")
        self.redeem_attempts = metrics.counter(
            "live_coupon_redeem_attempts_total", "Redemption attempts by result", ("result",)
        )


class CouponService:
    """Campaigns, claims, redemptions and ops actions; one Lua call per hot-path decision."""

    def __init__(
        self, store: CouponStore, rooms: RoomService, stores: StoreRegistry, codebook: CodeBook,
        metrics: Metrics, realtime: Realtime, claim_rule: Rule | None = None,
        production: bool = False,
    ) -> None:  # fmt: skip
        self.production = production
        """Campaigns without an ``identity`` need a verified viewer in production."""
        self.store = store
        self.claim_rule = claim_rule
        """The per-viewer claim limit claim.lua enforces (None: rate limits are off); read
        at construction."""
        self._claim_window_ms = claim_rule.window_s * 1000 if claim_rule else 1000
        self._claim_limit = claim_rule.limit if claim_rule else 1 << 62
        self.rooms = rooms
        self.stores = stores
        self.codebook = codebook
        self.metrics = CouponMetrics(metrics)
        self.rt = realtime
        self._tasks: list[asyncio.Task[None]] = []
        self._static: dict[str, asyncio.Future[Campaign]] = {}
        self._claimed_static: dict[str, bytes] = {}
        self._products: dict[str, tuple[float, asyncio.Future[str | None]]] = {}
        self._claimed_delta: dict[str, int] = {}
        self.audience_dropped: list[Callable[[Campaign], Awaitable[None]]] = []
        """Run after a group-only offer is dropped: the groups domain announces it to its
        groups (linked in live_server.app)."""

    # --- campaigns -------------------------------------------------------------------

    async def create_campaign(self, room_id: str, spec: CreateCampaign) -> Campaign:
        room = await self.rooms.get(room_id)  # 404 for an unknown room
        if spec.store_mode == "list":
            assert isinstance(spec.store_ids, list)
            unknown = [s for s in spec.store_ids if self.stores.get(s) is None]
            if unknown:
                raise UnknownStore(f"no store {unknown[0]!r}", stores=unknown[:20])
        if spec.identity is None:
            spec = spec.model_copy(update={"identity": "verified" if self.production else "any"})
        created = now_ms()
        for _ in range(5):  # random ids: a clash is rare, retry with another
            campaign_id = new_campaign_id()
            if await self.store.create(
                campaign_id=campaign_id, room_id=room_id, room_title=room.title, spec=spec,
                created_ms=created,
            ):  # fmt: skip
                break
        else:  # pragma: no cover - five clashes in a 28.6M space
            raise RuntimeError("could not allocate a campaign id")
        await self.store.index(
            room_id=room_id, campaign_id=campaign_id, created_ms=created,
            expires_at=spec.expires_at,
        )  # fmt: skip
        return await self.get_campaign(room_id, campaign_id)

    async def get_campaign(self, room_id: str | None, campaign_id: str) -> Campaign:
        campaign = await self.store.campaign(campaign_id)
        if campaign is None or (room_id is not None and campaign.room_id != room_id):
            raise CampaignNotFound(f"no campaign {campaign_id!r} in this room")
        return campaign

    async def list_campaigns(self, room_id: str) -> CampaignList:
        await self.rooms.get(room_id)
        out: list[Campaign] = []
        for campaign_id in await self.store.campaign_ids(room_id, LISTED):
            campaign = await self.store.campaign(campaign_id)
            if campaign is not None:
                out.append(campaign)
        return CampaignList(campaigns=out)

    async def open_state(self, room_id: str, claims: Claims) -> dict[str, Any]:
        """``room.state``'s ``campaigns``: the room's open drops (the same for every joiner),
        so a viewer who opens the room after a drop, or whose join raced it, still sees
        the drop and can claim."""
        ids = await self.store.campaign_ids(room_id, LISTED)
        if not ids:
            return {"campaigns": []}
        campaigns = await self.store.campaigns(ids)
        return {
            "campaigns": [
                c.model_dump(mode="json") for c in campaigns if c.status is CampaignStatus.OPEN
            ]
        }

    async def drop(self, room_id: str, campaign_id: str) -> Campaign:
        """Open claiming (once) and tell the room: ``coupon.dropped`` to viewers and host."""
        await self.rooms.require_live(room_id)
        outcome = await self.store.drop(campaign_id=campaign_id, room_id=room_id, now_ms=now_ms())
        if outcome is DropOutcome.MISSING:
            raise CampaignNotFound(f"no campaign {campaign_id!r} in this room")
        if outcome is DropOutcome.ALREADY:
            raise CampaignAlreadyDropped("this campaign was already dropped")
        if outcome is DropOutcome.EXPIRED:
            raise CouponExpired("this campaign has expired")
        if outcome is not DropOutcome.OK:
            raise CampaignClosed(f"this campaign is {outcome}")
        campaign = await self.get_campaign(room_id, campaign_id)
        event = campaign.model_dump(mode="json")
        await self.rt.to_viewers(campaign.room_id, "coupon.dropped", dict(event))
        await self.rt.to_host(campaign.room_id, "coupon.dropped", dict(event))
        if campaign.audience is not None:
            for hook in self.audience_dropped:
                try:
                    await hook(campaign)
                except Exception:  # the drop stands; the announcement is best effort
                    log.exception("group-only drop announcement failed")
        return campaign

    async def close_by_host(self, room_id: str, campaign_id: str) -> Campaign:
        """The host stops claiming now (404 for a campaign of another room)."""
        await self.get_campaign(room_id, campaign_id)
        await self.close(campaign_id, CampaignStatus.CLOSED, "closed by the host", by="host")
        return await self.get_campaign(room_id, campaign_id)

    async def close(
        self, campaign_id: str, status: CampaignStatus, reason: str, by: str = "system"
    ) -> Campaign | None:
        """Stop claiming and release the stock left (expired or closed); idempotent. The
        room sees the release as ``coupon.stock`` (remaining 0, the status)."""
        outcome = await self.store.finish(
            campaign_id=campaign_id, status=status, now_ms=now_ms(), reason=reason, by=by
        )
        if outcome is not FinishOutcome.OK:
            return None
        campaign = await self.get_campaign(None, campaign_id)
        try:
            self.rt.counter(campaign.room_id, "coupon.stock", campaign.id, {
                "campaign_id": campaign.id, "remaining": 0, "quantity": campaign.quantity,
                "status": campaign.status.value, "released": campaign.released,
            })  # fmt: skip
        except Exception:  # a failed broadcast must not undo the state change
            log.exception("coupon.stock broadcast failed", extra={"campaign": campaign_id})
        return campaign

    async def close_room(self, room_id: str) -> None:
        """Close every campaign of a room that is ending (drafts too, so none can be
        dropped later); called BEFORE the room is marked ended, so a claim never succeeds
        in an ended room without reading the room's status. Idempotent."""
        for campaign_id in await self.store.campaign_ids(room_id, None):
            await self.close(campaign_id, CampaignStatus.CLOSED, ROOM_ENDED_REASON)

    # --- claim ------------------------------------------------------------------------

    async def claim(
        self, room_id: str, campaign_id: str, viewer_id: str, idempotency_key: str | None,
        verified: bool = True,
    ) -> ClaimResult:  # fmt: skip
        """Hand one code to the viewer: one Lua call (one round trip), which also counts the
        viewer's attempts (the per-viewer flood guard) and knows the room has ended because
        ending a room closes its campaigns first (:meth:`close_room`). A fresh claim
        publishes the stock (``coupon.stock``, coalesced)."""
        try:
            campaign_ref(campaign_id)
        except ValueError:
            raise CampaignNotFound(f"no campaign {campaign_id!r} in this room") from None
        now = now_ms()
        await self._check_audience(room_id, campaign_id, viewer_id)
        product_id = await self._product_on_screen(room_id)
        for _ in range(3):  # a nonce clash (one in millions) retries with a fresh nonce
            code = self.codebook.issue(campaign_id)
            reply = await self.store.claim(
                campaign_id=campaign_id, room_id=room_id, viewer_id=viewer_id,
                idempotency_key=idempotency_key, nonce=code.nonce, now_ms=now,
                limit=self._claim_limit, window_ms=self._claim_window_ms, verified=verified,
                product_id=product_id or "",
            )  # fmt: skip
            if reply.outcome is not _COLLISION:
                break
        outcome = reply.outcome
        labelled(self.metrics.claims, outcome).inc()
        if outcome is _CLAIMED:
            if reply.sold_out_now and reply.dropped_at:
                self.metrics.sell_out.observe(max(0.0, (now - reply.dropped_at) / 1000))
            self.metrics.claimed.inc()
            # Follow-up on the room's tag: a funnel counter, coalesced (flushed every
            # STATS_FLUSH_S) so a flash of claims costs one HINCRBY per room, not one each.
            # The campaign hash stays the truth; a crash loses at most one flush window.
            self._claimed_delta[room_id] = self._claimed_delta.get(room_id, 0) + 1
            campaign = await self._campaign_cached(campaign_id)
            # at most 4 a second across workers, never behind a count already shown
            self.rt.counter(room_id, "coupon.stock", campaign.id, {
                "campaign_id": campaign.id, "remaining": reply.remaining,
                "quantity": campaign.quantity, "status": campaign.status.value,
            }, gated=campaign.quantity - reply.remaining, gate_ms=250)  # fmt: skip
            return ClaimResult(code, campaign, False)
        if outcome is _DUP:
            code = self.codebook.issue(campaign_id, reply.nonce)
            campaign = await self.get_campaign(None, campaign_id)
            return ClaimResult(code, campaign, True)
        if outcome is ClaimOutcome.MISSING:
            await self.rooms.get(room_id)  # an unknown room is a 404 about the room
        raise _claim_problem(reply)

    async def _check_audience(self, room_id: str, campaign_id: str, viewer_id: str) -> None:
        """A group-only offer: the viewer must be a member of one of its groups (OneID: the
        groups domain records members with a platform identity under their viewer id).
        The campaign's static part is cached per process; an open drop costs one SMEMBERS
        per claim only when it has an audience."""
        try:
            campaign = await self._campaign_cached(campaign_id)
        except CampaignNotFound:
            return  # claim.lua answers (and an unknown room is a 404 about the room)
        if campaign.audience is None or campaign.room_id != room_id:
            return
        wanted = campaign.audience.groups
        if not await self.store.customer_groups(viewer_id) & set(wanted):
            raise GroupMembersOnly(
                "this offer is for members of the store's community groups ("
                + ", ".join(wanted[:5])
                + "): join one with your platform identity, "
                "then claim again"
            )

    # --- join gifts (community groups) -------------------------------------------------

    async def create_gift_campaign(
        self, *, group_id: str, title: str, value: float, store_ids: list[str]
    ) -> str:
        """A campaign for a group's join gift: no room, open at once, one code per holder;
        each code carries its own expiry (:meth:`issue_gift`)."""
        unknown = [s for s in store_ids if self.stores.get(s) is None]
        if unknown:
            raise UnknownStore(f"no store {unknown[0]!r}", stores=unknown[:20])
        spec = CreateCampaign(
            title=title, value=value, quantity=MAX_QUANTITY, per_user=1, store_ids=store_ids,
            expires_at=(now_ms() + GIFT_CAMPAIGN_MS) // 1000, identity="any",  # unix seconds
        )  # fmt: skip
        created = now_ms()
        for _ in range(5):
            campaign_id = new_campaign_id()
            if await self.store.create(
                campaign_id=campaign_id, room_id="", room_title=f"group {group_id}", spec=spec,
                created_ms=created,
            ):  # fmt: skip
                break
        else:  # pragma: no cover - five clashes in a 28.6M space
            raise RuntimeError("could not allocate a campaign id")
        await self.store.open_gift_campaign(campaign_id, created)
        return campaign_id

    async def issue_gift(
        self, campaign_id: str, holder: str, valid_days: int, base_url: str = ""
    ) -> dict[str, Any]:
        """The holder's one code of a gift campaign (the same code however often asked):
        ``{code, qr_svg_url, expires_at, issued}``."""
        now = now_ms()
        for _ in range(3):
            code = self.codebook.issue(campaign_id)
            outcome, nonce, expires = await self.store.gift(
                campaign_id=campaign_id, holder=holder, nonce=code.nonce, now_ms=now,
                expires_ms=now + valid_days * 86_400_000,
            )  # fmt: skip
            if outcome != "collision":
                break
        if outcome not in ("ok", "dup"):
            raise CampaignClosed(f"the gift campaign {campaign_id!r} is {outcome}")
        code = self.codebook.issue(campaign_id, nonce)
        return {
            "code": code.text, "qr_svg_url": f"{base_url}/api/v1/coupons/{quote(code.text)}/qr.svg",
            "expires_at": iso(expires), "issued": outcome == "ok",
        }  # fmt: skip

    def claimed_body(self, result: ClaimResult, base_url: str) -> bytes:
        """The 201 body of a claim, exactly :class:`Claimed`: two fields per code, the rest
        static per campaign, serialised once per process (the campaign's static part never
        changes). ``base_url``: where the client reached this server (``qr_svg_url``); asked
        for only once a claim succeeded, so a refused tap does not work it out."""
        text, campaign = result.code.text, result.campaign
        qr_url = f"{base_url}/api/v1/coupons/{quote(text)}/qr.svg"
        return b"".join((
            b'{"code":', orjson.dumps(text), b',"qr_svg_url":', orjson.dumps(qr_url),
            b",", self._claimed_tail(campaign),
        ))  # fmt: skip

    def _claimed_tail(self, campaign: Campaign) -> bytes:
        """:class:`Claimed` of one campaign without code and qr_svg_url, after its ``{``."""
        cached = self._claimed_static.get(campaign.id)
        if cached is None:
            model = Claimed(
                code="", qr_svg_url="", campaign_id=campaign.id, expires_at=campaign.expires_at,
                title=campaign.title, kind=campaign.kind, value=campaign.value,
                store_ids=campaign.store_ids, valid_from=campaign.valid_from,
                min_spend=campaign.min_spend,
            )  # fmt: skip
            cached = model.model_dump_json(exclude={"code", "qr_svg_url"}).encode()[1:]
            if len(self._claimed_static) > 10_000:
                self._claimed_static.clear()
            self._claimed_static[campaign.id] = cached
        return cached

    async def _product_on_screen(self, room_id: str) -> str | None:
        """The room's product on screen (recorded on the claim), read at most every
        PRODUCT_CACHE_S per room and process, single flight: a flash of claims costs no
        extra round trip (the product card changes every few minutes, not per second)."""
        now = time.monotonic()
        cached = self._products.get(room_id)
        if cached is None or cached[0] <= now:
            future = asyncio.ensure_future(self.rooms.product_on_screen(room_id))
            if len(self._products) > 10_000:
                self._products.clear()
            cached = self._products[room_id] = (now + PRODUCT_CACHE_S, future)
        try:
            return await asyncio.shield(cached[1])
        except Exception:
            self._products.pop(room_id, None)
            return None  # attribution is best effort: never fail a claim over it

    async def _campaign_cached(self, campaign_id: str) -> Campaign:
        # The static part of a campaign (title, kind, value, stores, expiry) never changes
        # after creation: keep it per process so the hot path stays at one Lua call.
        # Single flight: the first claims of a drop arrive together; one read fills the
        # cache for all of them (not one HGETALL and one new pooled connection each).
        cached = self._static.get(campaign_id)
        if cached is None:
            cached = asyncio.ensure_future(self.get_campaign(None, campaign_id))
            if len(self._static) > 10_000:
                self._static.clear()
            self._static[campaign_id] = cached
        try:
            return await asyncio.shield(cached)
        except BaseException:
            if cached.done() and self._static.get(campaign_id) is cached:
                del self._static[campaign_id]  # a failed read is not cached
            raise

    # --- codes --------------------------------------------------------------------------

    def verify(self, text: str) -> Code:
        """Check a typed or scanned code offline (no Redis): 400 when it is not ours."""
        try:
            return self.codebook.parse(text)
        except InvalidCode as exc:
            raise NotACode(str(exc)) from None

    def qr_svg(self, text: str) -> bytes:
        """The code as a QR image (SVG), verified offline first (no Redis)."""
        return _qr_svg(self.verify(text).text)

    async def redeem(
        self, store_id: str, text: str, order_amount: float | None, staff: str
    ) -> RedeemResult:
        """Redeem a code at a store: once, only where and when it is valid."""
        try:
            code = self.verify(text)
        except NotACode:
            self.metrics.redeem_attempts.labels("invalid").inc()
            raise
        now = now_ms()
        reply = await self.store.redeem(
            campaign_id=code.campaign_id, nonce=code.nonce, store_id=store_id, now_ms=now,
            order_amount=order_amount, booking_checked=False, staff=staff,
        )  # fmt: skip
        if reply.outcome is RedeemOutcome.CHECK_BOOKING:
            # The code is valid at the store of the viewer's booking: that set lives in
            # the customer's tag, so it is read here and the script runs again, told so.
            if await self.store.booked_at(reply.viewer_id, store_id):
                reply = await self.store.redeem(
                    campaign_id=code.campaign_id, nonce=code.nonce, store_id=store_id,
                    now_ms=now, order_amount=order_amount, booking_checked=True, staff=staff,
                )  # fmt: skip
            else:
                reply = RedeemReply(RedeemOutcome.WRONG_STORE_BOOKING)
        self.metrics.redeem_attempts.labels(reply.outcome).inc()
        if reply.outcome is not RedeemOutcome.OK:
            raise _redeem_problem(reply, self.stores)
        redeemed_at = now  # what the script stored: later answers quote the same time
        name = await self.store.customer_name(reply.viewer_id)
        redemption = Redemption(
            code=code.text,
            status=CodeStatus.REDEEMED,
            store_id=store_id,
            redeemed_at=iso(redeemed_at) or "",
            campaign_title=reply.title,
            kind=reply.kind,
            value=reply.value,
            order_amount=order_amount,
            discount=discount_for(reply.kind, reply.value, order_amount),
            customer=CustomerContext(
                name=name, room_title=reply.room_title, claimed_at=iso(reply.claimed_at) or ""
            ),
        )
        self.metrics.redemptions.inc()
        if reply.room_id:  # a join gift has no room (its group counts it)
            await self._count_redemption(reply.room_id, store_id, redemption, +1)
        stream_id = await self.append_redemption(code, reply.number, reply.room_id, redemption)
        return RedeemResult(redemption, code.campaign_id, reply.room_id, stream_id)

    async def _count_redemption(
        self, room_id: str, store_id: str, r: Redemption, sign: int
    ) -> None:
        await self.store.count_redemption(
            room_id=room_id, store_id=store_id, order_amount=r.order_amount,
            discount=r.discount, sign=sign,
        )  # fmt: skip

    async def append_redemption(
        self, code: Code, number: int, room_id: str, r: Redemption
    ) -> str | None:
        """The idempotent follow-up: one ``coupon.redeemed`` store-stream entry per redemption.

        Retried a few times here; if Redis still fails, the redemption stays in the
        campaign's "unappended" set and the sweeper appends it later (never twice).
        """
        data = {
            **r.model_dump(mode="json"),
            "campaign_id": code.campaign_id,
            "room_id": room_id,
            "redemption_no": number,
        }
        for attempt in range(3):
            try:
                entry = await self.store.append_redeemed(
                    store_id=r.store_id, campaign_id=code.campaign_id, nonce=code.nonce,
                    number=number, data=data, now_ms=now_ms(),
                )  # fmt: skip
                await self.store.mark_appended(
                    campaign_id=code.campaign_id, nonce=code.nonce, number=number,
                    stream_id=entry,
                )  # fmt: skip
                return entry
            except RedisError:
                log.warning("coupon.redeemed append failed (attempt %d)", attempt + 1,
                            extra={"campaign": code.campaign_id, "store": r.store_id})  # fmt: skip
                await asyncio.sleep(0.05 * (attempt + 1))  # back off before retrying (not sync)
        return None

    async def _repair_appends(self, campaign_id: str) -> None:
        """Append what a crashed or failed follow-up left behind (from the code records)."""
        pending = await self.store.unappended(campaign_id)
        if not pending:
            return
        found = await self.store.campaign_and_room_title(campaign_id)
        for member in pending:
            nonce, _, number = member.partition(":")
            record = await self.store.code_record(campaign_id, nonce, background=True)
            if record is None or found is None:
                continue
            campaign, room_title = found
            if record.status is not CodeStatus.REDEEMED or str(record.number) != number:
                # Rolled back (or re-redeemed) since: nothing to append for that number.
                await self.store.forget_unappended(campaign_id, member)
                continue
            code = self.codebook.issue(campaign_id, nonce)
            amount = float(record.amount) if record.amount else None
            name = await self.store.customer_name(record.viewer_id, background=True)
            redemption = Redemption(
                code=code.text, status=CodeStatus.REDEEMED, store_id=record.store_id,
                redeemed_at=iso(record.redeemed_at) or "", campaign_title=campaign.title,
                kind=campaign.kind, value=campaign.value, order_amount=amount,
                discount=discount_for(campaign.kind, campaign.value, amount),
                customer=CustomerContext(
                    name=name, room_title=room_title, claimed_at=iso(record.claimed_at) or "",
                ),
            )  # fmt: skip
            await self.append_redemption(code, int(number), campaign.room_id, redemption)

    # --- ops --------------------------------------------------------------------------

    async def ops_action(
        self, text: str, action: OpsActionName, who: str, reason: str
    ) -> CodeState:
        """Void a claimed code, or roll back a redemption; both land in the audit stream."""
        code = self.verify(text)
        reply = await self.store.ops(
            campaign_id=code.campaign_id, nonce=code.nonce, action=action, now_ms=now_ms(),
            who=who, reason=reason,
        )  # fmt: skip
        if reply.outcome is OpsOutcome.UNKNOWN:
            raise CodeNotFound("no such code was handed out")
        if reply.outcome is OpsOutcome.ALREADY_VOID:
            raise CodeVoided("this code is already void")
        if reply.outcome is OpsOutcome.REDEEMED:
            at = iso(reply.redeemed_at)
            raise AlreadyRedeemed(
                f"this code was redeemed at {at} in store {reply.store_id}; "
                "roll the redemption back first",
                redeemed_at=at, store_id=reply.store_id,
            )  # fmt: skip
        if reply.outcome is OpsOutcome.NOT_REDEEMED:
            raise NotRedeemed(f"this code is {reply.status}, not redeemed")
        if action == "rollback":
            campaign = await self.get_campaign(None, code.campaign_id)
            order_amount = float(reply.amount) if reply.amount else None
            undone = Redemption(
                code=code.text, status=CodeStatus.CLAIMED, store_id=reply.store_id,
                redeemed_at=iso(reply.redeemed_at) or "", campaign_title=campaign.title,
                kind=campaign.kind, value=campaign.value, order_amount=order_amount,
                discount=discount_for(campaign.kind, campaign.value, order_amount),
                customer=CustomerContext(room_title="", claimed_at=""),
            )  # fmt: skip
            await self._count_redemption(campaign.room_id, reply.store_id, undone, -1)
        return await self.code_state(code)

    async def code_state(self, code: Code) -> CodeState:
        record = await self.store.code_record(code.campaign_id, code.nonce)
        if record is None:
            raise CodeNotFound("no such code was handed out")
        return CodeState(
            code=code.text, campaign_id=code.campaign_id, status=record.status,
            claimed_at=iso(record.claimed_at) or "", redeemed_at=iso(record.redeemed_at),
            store_id=record.store_id or None, product_id=record.product_id,
        )  # fmt: skip

    async def audit(self, campaign_id: str, count: int = 100) -> AuditEntries:
        out = []
        for entry_id, item in await self.store.audit(campaign_id, count):
            item["id"] = entry_id
            for field in ("ts", "redeemed_at"):  # unix ms in the stream, ISO-8601 out
                if item.get(field, "").isdigit():
                    item[field] = iso(int(item[field])) or ""
            if item.get("code"):
                item["code"] = self.codebook.issue(campaign_id, item["code"]).text
            out.append(item)
        return AuditEntries(entries=out)

    # --- sweeper ----------------------------------------------------------------------

    async def sweep_once(self) -> None:
        """Expire campaigns past their end, close those whose room ended, repair appends."""
        now = now_ms()
        for campaign_id, expires_at in await self.store.active_campaigns(now - SWEEP_GRACE_MS):
            status = await self.store.campaign_status(campaign_id)
            if status is None:
                continue
            if expires_at <= now and status != CampaignStatus.EXPIRED:
                await self.close(campaign_id, CampaignStatus.EXPIRED, "validity ended")
            elif status in (CampaignStatus.OPEN, CampaignStatus.DRAFT):
                room_id = await self.store.campaign_room_id(campaign_id)
                room_status = await self.store.room_status(room_id) if room_id else None
                if room_status in (RoomStatus.ENDED, None):
                    await self.close(campaign_id, CampaignStatus.CLOSED, ROOM_ENDED_REASON)
            await self._repair_appends(campaign_id)
        await self.store.forget_active(now - SWEEP_GRACE_MS)

    async def flush_stats(self) -> None:
        """Write the coalesced claim counters to the rooms' funnel hashes."""
        pending, self._claimed_delta = self._claimed_delta, {}
        for room_id, delta in pending.items():
            try:
                await self.store.add_claimed(room_id, delta)
            except RedisError:  # keep it for the next flush
                self._claimed_delta[room_id] = self._claimed_delta.get(room_id, 0) + delta
                raise

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(STATS_FLUSH_S)  # the flush period, not a synchronisation
            try:
                await self.flush_stats()
            except RedisError as exc:
                log.warning("coupon stats flush failed: %s", exc)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except RedisError as exc:
                log.warning("coupon sweep failed: %s", exc)
            except Exception:
                log.exception("coupon sweep failed")
            await asyncio.sleep(SWEEP_INTERVAL_S)  # the sweep's period, not a synchronisation

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._sweep_forever()),
            loop.create_task(self._flush_forever()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        with contextlib.suppress(RedisError):
            await asyncio.wait_for(self.flush_stats(), timeout=2.0)


# --- outcome mapping ---------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _qr_svg(code: str) -> bytes:
    buf = io.BytesIO()
    segno.make(code, error="m", micro=False).save(buf, kind="svg", scale=6, border=2, title=code)
    return buf.getvalue()


def _claim_problem(reply: ClaimReply) -> Exception:
    outcome = reply.outcome
    if outcome is ClaimOutcome.SOLD_OUT:
        return SoldOut("all coupons of this drop have been claimed")
    if outcome is ClaimOutcome.IDENTITY:
        return IdentityRequired(
            "this coupon is for viewers the live platform knows: open the live room from the "
            "platform's app (a signed platform identity), then claim again"
        )
    if outcome is ClaimOutcome.LIMIT:
        return LimitReached(f"you already hold {reply.held} of these coupons (the limit)")
    if outcome is ClaimOutcome.EXPIRED:
        return CouponExpired("this campaign has expired")
    if outcome is ClaimOutcome.RATE:
        retry_s = max(0.001, reply.retry_after_ms / 1000)
        return TooManyRequests(
            f"too many claims on this campaign; retry in {max(1, round(retry_s))}s",
            retry_after=retry_s,
        )
    if outcome is ClaimOutcome.CLOSED:
        if reply.reason == ROOM_ENDED_REASON:
            return RoomEnded("the broadcast has ended; claiming is closed")
        return CampaignClosed("claiming is closed for this campaign")
    if outcome is ClaimOutcome.DRAFT:
        return CampaignNotOpen("the host has not dropped these coupons yet")
    return CampaignNotFound("no such campaign in this room")


def _redeem_problem(reply: RedeemReply, stores: StoreRegistry) -> Exception:
    outcome = reply.outcome
    if outcome is RedeemOutcome.ALREADY:
        at, store_id = iso(reply.at), reply.store_id
        store = stores.get(store_id)
        where = f"{store.name} ({store_id})" if store else store_id
        return AlreadyRedeemed(
            f"already redeemed at {at} in {where}", redeemed_at=at, store_id=store_id
        )
    if outcome is RedeemOutcome.VOID:
        voided = f" at {iso(reply.at)}" if reply.at is not None else ""
        return CodeVoided("this code was voided" + voided)
    if outcome is RedeemOutcome.EXPIRED:
        return CouponExpired(f"this coupon expired at {iso(reply.at)}")
    if outcome is RedeemOutcome.NOT_YET:
        return NotValidYet(f"this coupon is valid from {iso(reply.at)}")
    if outcome is RedeemOutcome.WRONG_STORE:
        return NotValidHere("this coupon is not valid in this store")
    if outcome is RedeemOutcome.WRONG_STORE_BOOKING:
        return NotValidHere(
            "this coupon is valid only at the store where the customer booked a visit"
        )
    if outcome is RedeemOutcome.AMOUNT_REQUIRED:
        return BelowMinimumSpend(
            f"this coupon needs a minimum spend of {reply.min_spend}: send order_amount",
            min_spend=float(reply.min_spend),
        )
    if outcome is RedeemOutcome.BELOW_MIN:
        return BelowMinimumSpend(
            f"the order is below this coupon's minimum spend of {reply.min_spend}",
            min_spend=float(reply.min_spend),
        )
    return CodeNotFound("no such code was handed out")
