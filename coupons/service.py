"""Coupons in Redis: campaigns, the atomic claim and redeem (Lua), ops actions, expiry.

Every atomic step runs as one Lua script on the campaign's hash tag ``{camp:C}``. Two
steps need another tag and are split (cluster rule, see live_server/keys.py):

* the room's status (``{room:R}``) is read just before the claim script; ending a room
  also closes its campaigns in their own hash (lazily on the next claim, and by the sweeper);
* ``coupon.redeemed`` goes to the store's stream (``{store:S}``) as an idempotent
  follow-up of the redeem script: the script records the redemption as "unappended", the
  append script is keyed by the redemption (a retry returns the first entry id), and a
  marker then clears it. The sweeper retries whatever is still unappended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
from redis.exceptions import RedisError

from coupons.codes import Code, CodeBook, InvalidCode, campaign_ref, new_campaign_id
from coupons.models import (
    ALL_STORES,
    BOOKING_STORE,
    AlreadyRedeemed,
    BelowMinimumSpend,
    Campaign,
    CampaignAlreadyDropped,
    CampaignClosed,
    CampaignKind,
    CampaignNotFound,
    CampaignNotOpen,
    CampaignStatus,
    CodeNotFound,
    CodeState,
    CodeStatus,
    CodeVoided,
    CouponExpired,
    CreateCampaign,
    CustomerContext,
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
    now_ms,
)
from live_server.core import keys
from live_server.core.errors import RoomEnded, TooManyRequests
from live_server.core.fastredis import FastRedis, FastScript
from live_server.core.metrics import Metrics, labelled
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import entries, raw, raw_hash, scored
from live_server.core.tasks import cancel_and_wait
from live_server.core.tokens import Claims
from live_server.core.util import as_text
from live_server.rooms.service import RoomService
from live_server.stores.store import StoreRegistry
from live_server.web.limits import Rule

log = logging.getLogger(__name__)

ROOM_ENDED_REASON = "room ended"
"""finish_reason of a campaign closed because its room ended (claims then answer room-ended)."""

_LUA = Path(__file__).parent / "lua"
SWEEP_INTERVAL_S = 1.0
STATS_FLUSH_S = 0.25
SWEEP_GRACE_MS = 3600 * 1000  # keep repairing store-stream follow-ups this long after expiry
MAX_IDEMPOTENCY_KEY = 128

CLAIM_PER_VIEWER = Rule("claim-viewer", "viewer", 10, 10, by_route=True)
"""Per viewer and campaign: counted inside claim.lua (a flash claim is one round trip)."""


def _lua(name: str) -> str:
    return (_LUA / f"{name}.lua").read_text()


def _num(value: float) -> str:
    """A number as Redis stores it: integers without '.0'."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """A code handed to a viewer; ``fresh`` is False for an idempotent replay."""

    code: Code
    campaign: Campaign
    fresh: bool
    remaining: int


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
        self.claimed_by_room = metrics.counter(
            "live_coupon_claimed_total", "Codes handed out per room", ("room",)
        )
        self.redemptions = metrics.counter(
            "live_coupon_redemptions_total", "Redemptions per room and store", ("room", "store")
        )
        self.redeem_attempts = metrics.counter(
            "live_coupon_redeem_attempts_total", "Redemption attempts by result", ("result",)
        )


class CouponService:
    """Campaigns, claims, redemptions and ops actions; one Lua call per hot-path decision."""

    def __init__(
        self,
        redis: RedisClient,
        rooms: RoomService,
        stores: StoreRegistry,
        codebook: CodeBook,
        metrics: Metrics,
        claim_rule: Rule | None = None,
    ) -> None:
        self.redis = redis
        self.claim_rule = claim_rule
        """The per-viewer claim limit claim.lua enforces (None: rate limits are off)."""
        # Background work (sweeper, counter flush) goes through its own name, so what a
        # request does can be observed apart from it (the offline-rejection test).
        self.background_redis = redis
        self.rooms = rooms
        self.stores = stores
        self.codebook = codebook
        self.metrics = CouponMetrics(metrics)
        self._create = redis.register_script(_lua("create"))
        self._drop = redis.register_script(_lua("drop"))
        self._claim: Callable[..., Awaitable[Any]] = redis.register_script(_lua("claim"))
        self._redeem = redis.register_script(_lua("redeem"))
        self._append = redis.register_script(_lua("append_store"))
        self._mark = redis.register_script(_lua("mark_appended"))
        self._ops = redis.register_script(_lua("ops"))
        self._finish = redis.register_script(_lua("finish"))
        self._tasks: list[asyncio.Task[None]] = []
        self._static: dict[str, asyncio.Future[Campaign]] = {}
        self._claimed_delta: dict[str, int] = {}
        # Called after the sweeper (or a lazy check) ends claiming: (room, campaign) -> None.
        self.on_finished: list[Callable[[Campaign], Awaitable[None]]] = []

    # --- campaigns -------------------------------------------------------------------

    async def create_campaign(self, room_id: str, spec: CreateCampaign) -> Campaign:
        room = await self.rooms.get(room_id)  # 404 for an unknown room
        if spec.store_mode == "list":
            assert isinstance(spec.store_ids, list)
            unknown = [s for s in spec.store_ids if self.stores.get(s) is None]
            if unknown:
                raise UnknownStore(f"no store {unknown[0]!r}", stores=unknown[:20])
        created = now_ms()
        fields: dict[str, str] = {
            "room_id": room_id,
            "room_title": room.title,
            "title": spec.title,
            "kind": spec.kind.value,
            "value": _num(spec.value),
            "quantity": str(spec.quantity),
            "remaining": str(spec.quantity),
            "claimed": "0",
            "redeemed": "0",
            "released": "0",
            "per_user": str(spec.per_user),
            "store_mode": spec.store_mode,
            "stores": "," + ",".join(spec.store_ids) + ","
            if isinstance(spec.store_ids, list)
            else "",
            "valid_from": str(spec.valid_from) if spec.valid_from is not None else "",
            "expires_at": str(spec.expires_at),
            "min_spend": _num(spec.min_spend) if spec.min_spend else "",
            "status": CampaignStatus.DRAFT.value,
            "created_at": str(created),
        }
        flat = [item for pair in fields.items() for item in pair]
        keep_until = spec.expires_at + keys.COUPON_RETENTION_MS
        for _ in range(5):  # random ids: a clash is rare, retry with another
            campaign_id = new_campaign_id()
            if await self._create(keys=[keys.campaign(campaign_id)], args=[keep_until, *flat]):
                break
        else:  # pragma: no cover - five clashes in a 28.6M space
            raise RuntimeError("could not allocate a campaign id")
        # Follow-ups on other tags, idempotent (ZADD of the same member/score).
        await self.redis.zadd(keys.room_campaigns(room_id), {campaign_id: created})
        await self.redis.zadd(keys.CAMPAIGNS_ACTIVE, {campaign_id: spec.expires_at})
        return await self.get_campaign(room_id, campaign_id)

    async def get_campaign(self, room_id: str | None, campaign_id: str) -> Campaign:
        fields = raw_hash(await self.redis.hgetall(keys.campaign(campaign_id)))
        campaign = _campaign_from(campaign_id, fields) if fields else None
        if campaign is None or (room_id is not None and campaign.room_id != room_id):
            raise CampaignNotFound(f"no campaign {campaign_id!r} in this room")
        return campaign

    async def list_campaigns(self, room_id: str) -> list[Campaign]:
        await self.rooms.get(room_id)
        ids = [as_text(c) for c in await self.redis.zrange(keys.room_campaigns(room_id), 0, 499)]
        out: list[Campaign] = []
        for campaign_id in ids:
            fields = raw_hash(await self.redis.hgetall(keys.campaign(campaign_id)))
            if fields:
                out.append(_campaign_from(campaign_id, fields))
        return out

    async def open_state(self, room_id: str, claims: Claims) -> dict[str, Any]:
        """``room.state``'s ``campaigns``: the room's open drops (the same for every joiner),
        so a viewer who opens the room after a drop, or whose join raced it, still sees
        the drop and can claim."""
        ids = [as_text(c) for c in await self.redis.zrange(keys.room_campaigns(room_id), 0, 499)]
        if not ids:
            return {"campaigns": []}
        async with self.redis.pipeline(transaction=False) as pipe:
            for campaign_id in ids:
                pipe.hgetall(keys.campaign(campaign_id))
            raws = await pipe.execute()
        campaigns = [_campaign_from(i, raw) for i, raw in zip(ids, raws, strict=True) if raw]
        return {
            "campaigns": [
                c.model_dump(mode="json") for c in campaigns if c.status is CampaignStatus.OPEN
            ]
        }

    async def drop(self, room_id: str, campaign_id: str) -> Campaign:
        """Open claiming (once); the caller broadcasts ``coupon.dropped``."""
        await self.rooms.require_live(room_id)
        (outcome, *_) = await self._drop(
            keys=[keys.campaign(campaign_id)], args=[room_id, now_ms()]
        )
        outcome = as_text(outcome)
        if outcome == "missing":
            raise CampaignNotFound(f"no campaign {campaign_id!r} in this room")
        if outcome == "already":
            raise CampaignAlreadyDropped("this campaign was already dropped")
        if outcome == "expired":
            raise CouponExpired("this campaign has expired")
        if outcome != "ok":
            raise CampaignClosed(f"this campaign is {outcome}")
        return await self.get_campaign(room_id, campaign_id)

    async def close(self, campaign_id: str, status: CampaignStatus, reason: str) -> Campaign | None:
        """Stop claiming and release the stock left (expired or closed); idempotent."""
        result = await self._finish(
            keys=_finish_keys(campaign_id),
            args=[status.value, now_ms(), keys.COUPON_RETENTION_MS, reason],
        )
        if as_text(result[0]) != "ok":
            return None
        campaign = await self.get_campaign(None, campaign_id)
        for hook in self.on_finished:
            try:
                await hook(campaign)
            except Exception:  # a failed broadcast must not undo the state change
                log.exception("coupon finish hook failed", extra={"campaign": campaign_id})
        return campaign

    # --- claim ------------------------------------------------------------------------

    async def claim(
        self, room_id: str, campaign_id: str, viewer_id: str, idempotency_key: str | None
    ) -> ClaimResult:
        """Hand one code to the viewer: one Lua call (one round trip), which also counts the
        viewer's attempts (the per-viewer flood guard) and knows the room has ended because
        ending a room closes its campaigns first (:meth:`close_room`)."""
        try:
            campaign_ref(campaign_id)
        except ValueError:
            raise CampaignNotFound(f"no campaign {campaign_id!r} in this room") from None
        idem = f"{viewer_id}|{idempotency_key}" if idempotency_key else ""
        now = now_ms()
        rule = self.claim_rule
        window_ms = rule.window_s * 1000 if rule else 1000
        rate_key = keys.campaign_claim_rate(campaign_id, viewer_id, now // window_ms)
        limit = rule.limit if rule else 1 << 62
        for _ in range(3):  # a nonce clash (one in millions) retries with a fresh nonce
            code = self.codebook.issue(campaign_id)
            result = await self._claim(
                keys=[
                    keys.campaign(campaign_id),
                    keys.campaign_owners(campaign_id),
                    keys.campaign_codes(campaign_id),
                    keys.campaign_idempotency(campaign_id),
                    rate_key,
                ],
                args=[room_id, viewer_id, idem, code.nonce, now, limit, window_ms],
            )
            outcome = as_text(result[0])
            if outcome != "collision":
                break
        labelled(self.metrics.claims, outcome).inc()
        if outcome == "ok":
            remaining, sold_out_now, dropped_at = int(result[1]), int(result[2]), as_text(result[3])
            if sold_out_now and dropped_at:
                self.metrics.sell_out.observe(max(0.0, (now - int(dropped_at)) / 1000))
            labelled(self.metrics.claimed_by_room, room_id).inc()
            # Follow-up on the room's tag: a funnel counter, coalesced (flushed every
            # STATS_FLUSH_S) so a flash of claims costs one HINCRBY per room, not one each.
            # The campaign hash stays the truth; a crash loses at most one flush window.
            self._claimed_delta[room_id] = self._claimed_delta.get(room_id, 0) + 1
            campaign = await self._campaign_cached(campaign_id)
            return ClaimResult(code, campaign, True, remaining)
        if outcome == "dup":
            code = self.codebook.issue(campaign_id, as_text(result[1]))
            campaign = await self.get_campaign(None, campaign_id)
            return ClaimResult(code, campaign, False, campaign.remaining)
        if outcome == "missing":
            await self.rooms.get(room_id)  # an unknown room is a 404 about the room
        raise _claim_problem(outcome, result)

    async def close_room(self, room_id: str) -> None:
        """Close every campaign of a room that is ending (drafts too, so none can be
        dropped later); called BEFORE the room is marked ended, so a claim never succeeds
        in an ended room without reading the room's status. Idempotent."""
        ids = [as_text(c) for c in await self.redis.zrange(keys.room_campaigns(room_id), 0, -1)]
        for campaign_id in ids:
            await self.close(campaign_id, CampaignStatus.CLOSED, ROOM_ENDED_REASON)

    def use_fast_claims(self, fast: FastRedis) -> None:
        """Run claim.lua on an auto-pipelined connection (same script, same keys)."""
        self._claim = FastScript(fast, _lua("claim"))

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

    async def redeem(
        self, store_id: str, text: str, order_amount: float | None, staff: str
    ) -> RedeemResult:
        """Redeem a code at a store: once, only where and when it is valid."""
        try:
            code = self.verify(text)
        except NotACode:
            self.metrics.redeem_attempts.labels("invalid").inc()
            raise
        amount = _num(order_amount) if order_amount is not None else ""
        booking_checked = "0"
        now = now_ms()
        for _ in range(2):
            result = await self._redeem(
                keys=[
                    keys.campaign(code.campaign_id),
                    keys.campaign_codes(code.campaign_id),
                    keys.campaign_unappended(code.campaign_id),
                ],
                args=[code.nonce, store_id, now, amount, booking_checked, staff],
            )
            outcome = as_text(result[0])
            if outcome != "check_booking":
                break
            # The code is valid at the store of the viewer's booking: that set lives in
            # the customer's tag, so it is read here and the script runs again, told so.
            booked = await self.redis.sismember(
                keys.customer_booked_stores(as_text(result[1])), store_id
            )
            if not booked:
                outcome = "wrong_store_booking"
                break
            booking_checked = "1"
        self.metrics.redeem_attempts.labels(outcome).inc()
        if outcome != "ok":
            raise _redeem_problem(outcome, result, self.stores)
        viewer, claimed_at, number = as_text(result[1]), int(result[2]), int(result[3])
        title, kind, value = as_text(result[4]), CampaignKind(as_text(result[5])), float(result[6])
        room_id, room_title = as_text(result[7]), as_text(result[8])
        redeemed_at = now  # what the script stored: later answers quote the same time
        name = await self.redis.hget(keys.customer(viewer), "name")
        redemption = Redemption(
            code=code.text,
            status=CodeStatus.REDEEMED,
            store_id=store_id,
            redeemed_at=iso(redeemed_at) or "",
            campaign_title=title,
            kind=kind,
            value=value,
            order_amount=order_amount,
            discount=discount_for(kind, value, order_amount),
            customer=CustomerContext(
                name=as_text(name) if name else None,
                room_title=room_title,
                claimed_at=iso(claimed_at) or "",
            ),
        )
        self.metrics.redemptions.labels(room_id, store_id).inc()
        await self._bump_redeemed(room_id, store_id, redemption, +1)
        stream_id = await self.append_redemption(code, number, room_id, redemption)
        return RedeemResult(redemption, code.campaign_id, room_id, stream_id)

    async def _bump_redeemed(self, room_id: str, store_id: str, r: Redemption, sign: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            stats = keys.room_stats(room_id)
            pipe.hincrby(stats, "total:" + keys.STAT_COUPONS_REDEEMED, sign)
            pipe.hincrby(stats, f"{store_id}:{keys.STAT_COUPONS_REDEEMED}", sign)
            if r.order_amount:
                pipe.hincrbyfloat(
                    stats, "total:" + keys.STAT_REDEEMED_AMOUNT, sign * r.order_amount
                )
                pipe.hincrbyfloat(
                    stats, f"{store_id}:{keys.STAT_REDEEMED_AMOUNT}", sign * r.order_amount
                )
            if r.discount:
                pipe.hincrbyfloat(
                    stats, f"{store_id}:{keys.STAT_COUPON_DISCOUNT}", sign * r.discount
                )
            await pipe.execute()

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
                entry = await self._append(
                    keys=[keys.store_stream(r.store_id), keys.store_coupon_appends(r.store_id)],
                    args=[
                        f"{code.campaign_id}:{code.nonce}:{number}",
                        msgpack.packb(data),
                        now_ms(),
                    ],
                )
                await self._mark(
                    keys=[
                        keys.campaign_codes(code.campaign_id),
                        keys.campaign_unappended(code.campaign_id),
                    ],
                    args=[code.nonce, number, entry],
                )
                return as_text(entry)
            except RedisError:
                log.warning("coupon.redeemed append failed (attempt %d)", attempt + 1,
                            extra={"campaign": code.campaign_id, "store": r.store_id})  # fmt: skip
                await asyncio.sleep(0.05 * (attempt + 1))  # back off before retrying (not sync)
        return None

    async def _repair_appends(self, campaign_id: str) -> None:
        """Append what a crashed or failed follow-up left behind (from the code records)."""
        pending = await self.background_redis.smembers(keys.campaign_unappended(campaign_id))
        if not pending:
            return
        raw_meta = raw_hash(await self.background_redis.hgetall(keys.campaign(campaign_id)))
        campaign = _campaign_from(campaign_id, raw_meta) if raw_meta else None
        for member in pending:
            nonce, _, number = as_text(member).partition(":")
            record = await self.background_redis.hget(keys.campaign_codes(campaign_id), nonce)
            if record is None or campaign is None:
                continue
            rec = _json(raw(record))
            if rec.get("s") != "redeemed" or str(rec.get("n")) != number:
                # Rolled back (or re-redeemed) since: nothing to append for that number.
                await self.background_redis.srem(keys.campaign_unappended(campaign_id), member)
                continue
            code = self.codebook.issue(campaign_id, nonce)
            amount = float(rec["a"]) if rec.get("a") else None
            name = await self.background_redis.hget(keys.customer(rec["v"]), "name")
            redemption = Redemption(
                code=code.text, status=CodeStatus.REDEEMED, store_id=rec["st"],
                redeemed_at=iso(int(rec["r"])) or "", campaign_title=campaign.title,
                kind=campaign.kind, value=campaign.value, order_amount=amount,
                discount=discount_for(campaign.kind, campaign.value, amount),
                customer=CustomerContext(
                    name=as_text(name) if name else None,
                    room_title=as_text(raw_meta.get(b"room_title", b"")),
                    claimed_at=iso(int(rec["c"])) or "",
                ),
            )  # fmt: skip
            await self.append_redemption(code, int(number), campaign.room_id, redemption)

    # --- ops --------------------------------------------------------------------------

    async def ops_action(self, text: str, action: str, who: str, reason: str) -> CodeState:
        """Void a claimed code, or roll back a redemption; both land in the audit stream."""
        code = self.verify(text)
        result = await self._ops(
            keys=[
                keys.campaign(code.campaign_id),
                keys.campaign_codes(code.campaign_id),
                keys.campaign_audit(code.campaign_id),
            ],
            args=[action, code.nonce, now_ms(), who, reason],
        )
        outcome = as_text(result[0])
        if outcome == "unknown":
            raise CodeNotFound("no such code was handed out")
        if outcome == "already_void":
            raise CodeVoided("this code is already void")
        if outcome == "redeemed":
            raise AlreadyRedeemed(
                f"this code was redeemed at {iso(int(result[1]))} in store {as_text(result[2])}; "
                "roll the redemption back first",
                redeemed_at=iso(int(result[1])), store_id=as_text(result[2]),
            )  # fmt: skip
        if outcome == "not_redeemed":
            raise NotRedeemed(f"this code is {as_text(result[1])}, not redeemed")
        if action == "rollback":
            store_id, amount = as_text(result[2]), as_text(result[3])
            campaign = await self.get_campaign(None, code.campaign_id)
            order_amount = float(amount) if amount else None
            undone = Redemption(
                code=code.text, status=CodeStatus.CLAIMED, store_id=store_id,
                redeemed_at=iso(int(result[4])) or "", campaign_title=campaign.title,
                kind=campaign.kind, value=campaign.value, order_amount=order_amount,
                discount=discount_for(campaign.kind, campaign.value, order_amount),
                customer=CustomerContext(room_title="", claimed_at=""),
            )  # fmt: skip
            await self._bump_redeemed(campaign.room_id, store_id, undone, -1)
        return await self.code_state(code)

    async def code_state(self, code: Code) -> CodeState:
        record = await self.redis.hget(keys.campaign_codes(code.campaign_id), code.nonce)
        if record is None:
            raise CodeNotFound("no such code was handed out")
        rec = _json(raw(record))
        return CodeState(
            code=code.text, campaign_id=code.campaign_id, status=CodeStatus(rec["s"]),
            claimed_at=iso(int(rec["c"])) or "",
            redeemed_at=iso(int(rec["r"])) if rec.get("r") else None, store_id=rec.get("st"),
        )  # fmt: skip

    async def audit(self, campaign_id: str, count: int = 100) -> list[dict[str, Any]]:
        found = entries(await self.redis.xrevrange(keys.campaign_audit(campaign_id), count=count))
        out = []
        for entry_id, fields in found:
            item = {as_text(k): as_text(v) for k, v in fields.items()}
            item["id"] = as_text(entry_id)
            if item.get("code"):
                item["code"] = self.codebook.issue(campaign_id, item["code"]).text
            out.append(item)
        return out

    # --- sweeper ----------------------------------------------------------------------

    async def sweep_once(self) -> None:
        """Expire campaigns past their end, close those whose room ended, repair appends."""
        now = now_ms()
        active = scored(
            await self.background_redis.zrangebyscore(
                keys.CAMPAIGNS_ACTIVE, now - SWEEP_GRACE_MS, "+inf", withscores=True
            )
        )
        for member, expires_at in active:
            campaign_id = as_text(member)
            status = await self.background_redis.hget(keys.campaign(campaign_id), "status")
            if status is None:
                continue
            if expires_at <= now and status != b"expired":
                await self.close(campaign_id, CampaignStatus.EXPIRED, "validity ended")
            elif status in (b"open", b"draft"):
                room_id = await self.background_redis.hget(keys.campaign(campaign_id), "room_id")
                room_status = (
                    await self.background_redis.hget(keys.room(as_text(room_id)), "status")
                    if room_id
                    else None
                )
                if room_status in (b"ended", None):
                    await self.close(campaign_id, CampaignStatus.CLOSED, ROOM_ENDED_REASON)
            await self._repair_appends(campaign_id)
        await self.background_redis.zremrangebyscore(
            keys.CAMPAIGNS_ACTIVE, "-inf", now - SWEEP_GRACE_MS
        )

    async def flush_stats(self) -> None:
        """Write the coalesced claim counters to the rooms' funnel hashes."""
        pending, self._claimed_delta = self._claimed_delta, {}
        for room_id, delta in pending.items():
            try:
                await self.background_redis.hincrby(
                    keys.room_stats(room_id), "total:" + keys.STAT_COUPONS_CLAIMED, delta
                )
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


# --- decoding and outcome mapping ----------------------------------------------------


def _json(raw: bytes) -> dict[str, Any]:
    import orjson

    data: dict[str, Any] = orjson.loads(raw)
    return data


def _finish_keys(campaign_id: str) -> list[str]:
    return [
        keys.campaign(campaign_id),
        keys.campaign_owners(campaign_id),
        keys.campaign_codes(campaign_id),
        keys.campaign_idempotency(campaign_id),
        keys.campaign_audit(campaign_id),
        keys.campaign_unappended(campaign_id),
    ]


def _campaign_from(campaign_id: str, raw: dict[bytes, bytes]) -> Campaign:
    f = {as_text(k): as_text(v) for k, v in raw.items()}
    mode = f.get("store_mode", ALL_STORES)
    stores: list[str] | str = (
        [s for s in f.get("stores", "").split(",") if s] if mode == "list" else mode
    )

    def opt_ms(name: str) -> int | None:
        return int(f[name]) if f.get(name) else None

    return Campaign(
        id=campaign_id,
        room_id=f["room_id"],
        title=f["title"],
        kind=CampaignKind(f["kind"]),
        value=float(f["value"]),
        quantity=int(f["quantity"]),
        remaining=int(f["remaining"]),
        claimed=int(f.get("claimed", 0)),
        redeemed=int(f.get("redeemed", 0)),
        released=int(f.get("released", 0)),
        per_user=int(f["per_user"]),
        store_ids=stores,  # type: ignore[arg-type]
        valid_from=iso(opt_ms("valid_from")),
        expires_at=iso(int(f["expires_at"])) or "",
        min_spend=float(f["min_spend"]) if f.get("min_spend") else None,
        status=CampaignStatus(f["status"]),
        created_at=iso(int(f["created_at"])) or "",
        dropped_at=iso(opt_ms("dropped_at")),
        sold_out_at=iso(opt_ms("sold_out_at")),
    )


def _claim_problem(outcome: str, result: list[Any]) -> Exception:
    if outcome == "sold_out":
        return SoldOut("all coupons of this drop have been claimed")
    if outcome == "limit":
        return LimitReached(f"you already hold {int(result[1])} of these coupons (the limit)")
    if outcome == "expired":
        return CouponExpired("this campaign has expired")
    if outcome == "rate":
        retry_s = max(0.001, int(result[1]) / 1000)
        return TooManyRequests(
            f"too many claims on this campaign; retry in {max(1, round(retry_s))}s",
            retry_after=retry_s,
        )
    if outcome == "closed":
        if as_text(result[1]) == ROOM_ENDED_REASON:
            return RoomEnded("the broadcast has ended; claiming is closed")
        return CampaignClosed("claiming is closed for this campaign")
    if outcome == "draft":
        return CampaignNotOpen("the host has not dropped these coupons yet")
    return CampaignNotFound("no such campaign in this room")


def _redeem_problem(outcome: str, result: list[Any], stores: StoreRegistry) -> Exception:
    if outcome == "already":
        at, store_id = iso(int(result[1])), as_text(result[2])
        store = stores.get(store_id)
        where = f"{store.name} ({store_id})" if store else store_id
        return AlreadyRedeemed(
            f"already redeemed at {at} in {where}", redeemed_at=at, store_id=store_id
        )
    if outcome == "void":
        return CodeVoided(
            "this code was voided" + (f" at {iso(int(result[1]))}" if as_text(result[1]) else "")
        )
    if outcome == "expired":
        return CouponExpired(f"this coupon expired at {iso(int(result[1]))}")
    if outcome == "not_yet":
        return NotValidYet(f"this coupon is valid from {iso(int(result[1]))}")
    if outcome == "wrong_store":
        return NotValidHere("this coupon is not valid in this store")
    if outcome == "wrong_store_booking":
        return NotValidHere(
            "this coupon is valid only at the store where the customer booked a visit"
        )
    if outcome == "amount_required":
        return BelowMinimumSpend(
            f"this coupon needs a minimum spend of {as_text(result[1])}: send order_amount",
            min_spend=float(result[1]),
        )
    if outcome == "below_min":
        return BelowMinimumSpend(
            f"the order is below this coupon's minimum spend of {as_text(result[1])}",
            min_spend=float(result[1]),
        )
    return CodeNotFound("no such code was handed out")


__all__ = ["BOOKING_STORE", "ClaimResult", "CouponService", "RedeemResult"]
