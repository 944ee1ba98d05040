"""Redis access of coupons: campaigns, handed-out codes, the claim and redeem steps, ops
actions, the store-stream follow-up, the sweeper's reads and the funnel counters.

Every atomic step is one Lua script (``lua/``) on the campaign's hash tag ``{camp:C}``;
the ``coupon.redeemed`` append runs on the store's tag ``{store:S}`` (cluster rule, see
live_server/core/keys.py). One method per script builds its KEYS and ARGV from named
parameters and reads its reply; what a script decided is an enum (``ClaimOutcome`` ...).
No rule lives here: :mod:`coupons.service` maps the outcomes to domain errors.

Two clients: ``redis`` for what a request does, ``background_redis`` (the same client
unless a test swaps one) for the sweeper and the counter flush, so a request's own Redis
calls can be observed apart from them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

import msgpack
import orjson

from coupons.models import (
    ALL_STORES,
    Audience,
    Campaign,
    CampaignKind,
    CampaignStatus,
    CodeStatus,
    CreateCampaign,
    iso,
)
from live_server.core import keys
from live_server.core.fastredis import FastRedis
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import entries, members, raw, raw_hash, scored
from live_server.core.scripts import Script
from live_server.core.util import as_text, optional_text

CREATE = Script(__file__, "lua/create.lua")
DROP = Script(__file__, "lua/drop.lua")
CLAIM = Script(__file__, "lua/claim.lua")
REDEEM = Script(__file__, "lua/redeem.lua")
APPEND_STORE = Script(__file__, "lua/append_store.lua")
MARK_APPENDED = Script(__file__, "lua/mark_appended.lua")
OPS = Script(__file__, "lua/ops.lua")
FINISH = Script(__file__, "lua/finish.lua")
GIFT = Script(__file__, "lua/gift.lua")


# --- what the scripts answer ------------------------------------------------------------


class DropOutcome(StrEnum):
    """drop.lua: claiming opened, or why not (a closed or expired campaign names its status)."""

    OK = "ok"
    ALREADY = "already"
    MISSING = "missing"
    EXPIRED = "expired"
    CLOSED = "closed"


class FinishOutcome(StrEnum):
    """finish.lua: ``ok`` (claiming ended now, the stock left released) or nothing to do."""

    OK = "ok"
    SAME = "same"
    NOT_YET = "not_yet"
    MISSING = "missing"


class ClaimOutcome(StrEnum):
    """claim.lua (also the ``result`` label of ``live_coupon_claims_total``)."""

    OK = "ok"
    DUP = "dup"
    LIMIT = "limit"
    SOLD_OUT = "sold_out"
    EXPIRED = "expired"
    CLOSED = "closed"
    DRAFT = "draft"
    MISSING = "missing"
    COLLISION = "collision"
    RATE = "rate"
    IDENTITY = "identity"


class RedeemOutcome(StrEnum):
    """redeem.lua (also the ``result`` label of ``live_coupon_redeem_attempts_total``)."""

    OK = "ok"
    ALREADY = "already"
    VOID = "void"
    EXPIRED = "expired"
    NOT_YET = "not_yet"
    WRONG_STORE = "wrong_store"
    CHECK_BOOKING = "check_booking"
    AMOUNT_REQUIRED = "amount_required"
    BELOW_MIN = "below_min"
    UNKNOWN = "unknown"
    WRONG_STORE_BOOKING = "wrong_store_booking"
    """Not from the script: the service's verdict on CHECK_BOOKING when the viewer booked
    no visit at this store."""


class OpsOutcome(StrEnum):
    """ops.lua (void or rollback of one code)."""

    OK = "ok"
    UNKNOWN = "unknown"
    ALREADY_VOID = "already_void"
    REDEEMED = "redeemed"
    NOT_REDEEMED = "not_redeemed"


OpsActionName = Literal["void", "rollback"]


@dataclass(slots=True)
class ClaimReply:
    """What claim.lua said; each field beyond ``outcome`` belongs to the outcome named.

    Not frozen: one is built per flash claim, and a frozen dataclass pays an
    ``object.__setattr__`` per field. Read-only by convention."""

    outcome: ClaimOutcome
    remaining: int = 0  # ok: the stock left after this claim
    sold_out_now: bool = False  # ok: this claim took the last coupon
    dropped_at: int = 0  # ok and sold_out_now: when the drop opened (ms; 0 unknown)
    nonce: str = ""  # dup: the code handed out for this idempotency key
    held: int = 0  # limit: the codes the viewer holds
    retry_after_ms: int = 0  # rate: until the viewer's window ends
    reason: str = ""  # closed: the campaign's finish_reason


@dataclass(frozen=True, slots=True)
class RedeemReply:
    """What redeem.lua said; each field beyond ``outcome`` belongs to the outcomes named."""

    outcome: RedeemOutcome
    viewer_id: str = ""  # ok | check_booking
    claimed_at: int = 0  # ok (ms)
    number: int = 0  # ok: the code's redemptions so far, this one included
    title: str = ""  # ok: the campaign's
    kind: CampaignKind = CampaignKind.AMOUNT_OFF  # ok
    value: float = 0.0  # ok
    room_id: str = ""  # ok
    room_title: str = ""  # ok
    at: int | None = None  # ms; already: redeemed, void: voided (None unknown), expired:
    # expires_at, not_yet: valid_from
    store_id: str = ""  # already: where it was redeemed
    min_spend: str = ""  # amount_required | below_min: as the campaign stores it


@dataclass(frozen=True, slots=True)
class OpsReply:
    """What ops.lua said."""

    outcome: OpsOutcome
    store_id: str = ""  # ok: the redemption's store ('' none) | redeemed: where
    amount: str = ""  # ok: the redemption's order amount as stored ('' none)
    redeemed_at: int | None = None  # ok: of the redemption (None none) | redeemed (ms)
    status: str = ""  # not_redeemed: the code's status


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """A handed-out code as ``{camp:C}:codes`` keeps it (JSON the scripts write)."""

    viewer_id: str
    status: CodeStatus
    claimed_at: int  # ms
    redeemed_at: int | None = None  # ms, while redeemed
    store_id: str = ""  # while redeemed
    amount: str = ""  # while redeemed: the order amount as typed ('' none)
    number: int | None = None  # the number of its last redemption (None: never redeemed)
    product_id: str | None = None  # the product on screen when it was claimed


def _outcomes(enum: type[StrEnum]) -> dict[bytes | str, Any]:
    """Reply value -> member, for the bytes replies carry (and str, whatever the client)."""
    return {key: member for member in enum for key in (member.value.encode(), member.value)}


_CLAIM_OUTCOMES: dict[bytes | str, ClaimOutcome] = _outcomes(ClaimOutcome)
_REDEEM_OUTCOMES: dict[bytes | str, RedeemOutcome] = _outcomes(RedeemOutcome)
_OPS_OUTCOMES: dict[bytes | str, OpsOutcome] = _outcomes(OpsOutcome)
_DROP_OUTCOMES: dict[bytes | str, DropOutcome] = _outcomes(DropOutcome)
_FINISH_OUTCOMES: dict[bytes | str, FinishOutcome] = _outcomes(FinishOutcome)
# Outcomes that carry nothing else: one shared reply each (a sold-out flash allocates none).
_BARE_CLAIMS = {
    o: ClaimReply(o)
    for o in (
        ClaimOutcome.SOLD_OUT, ClaimOutcome.EXPIRED, ClaimOutcome.DRAFT, ClaimOutcome.MISSING,
        ClaimOutcome.COLLISION, ClaimOutcome.IDENTITY,
    )
}  # fmt: skip
# An enum member read as ``ClaimOutcome.OK`` costs ~0.2 µs on Python 3.11 (a module
# global ~0.02 µs): the flash path compares against this one.
_CLAIMED = ClaimOutcome.OK


def _num(value: float) -> str:
    """A number as Redis stores it: integers without '.0'."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# --- the store --------------------------------------------------------------------------


class CouponStore:
    """Reads and writes of the coupons domain (no rules, no events)."""

    def __init__(self, redis: RedisClient, fast: FastRedis | None = None) -> None:
        self.redis = redis
        self.background_redis = redis
        # The flash path (one claim.lua call per tap) goes down the auto-pipelined
        # connection (live_server/core/fastredis.py) when there is one (a single node); a
        # cluster keeps redis-py's routing. Every other script runs on redis-py.
        self._claim = CLAIM.bind(redis, fast)
        self._create = CREATE.bind(redis)
        self._drop = DROP.bind(redis)
        self._redeem = REDEEM.bind(redis)
        self._append = APPEND_STORE.bind(redis)
        self._mark = MARK_APPENDED.bind(redis)
        self._ops = OPS.bind(redis)
        self._finish = FINISH.bind(redis)
        self._gift = GIFT.bind(redis)

    async def prewarm(self, connections: int) -> None:
        """Open ``connections`` pooled connections now: creating them mid-flash (redis-py
        spends ~3 ms of CPU on each) is what times out when a drop starts."""
        await asyncio.gather(*(self.redis.ping() for _ in range(connections)))

    # --- campaigns ----------------------------------------------------------------------

    async def create(
        self, *, campaign_id: str, room_id: str, room_title: str, spec: CreateCampaign,
        created_ms: int,
    ) -> bool:  # fmt: skip
        """create.lua: the campaign's hash (a draft), unless the id is taken (False)."""
        fields: dict[str, str] = {
            "room_id": room_id,
            "room_title": room_title,
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
            "identity": spec.identity or "any",
            "audience": "," + ",".join(spec.audience.groups) + "," if spec.audience else "",
            "status": CampaignStatus.DRAFT.value,
            "created_at": str(created_ms),
        }
        flat = [item for pair in fields.items() for item in pair]
        keep_until = spec.expires_at + keys.COUPON_RETENTION_MS
        return bool(await self._create([keys.campaign(campaign_id)], [keep_until, *flat]))

    async def index(
        self, *, room_id: str, campaign_id: str, created_ms: int, expires_at: int
    ) -> None:
        """A new campaign in its room's list and in the sweeper's active set (follow-ups on
        other tags, idempotent: ZADD of the same member and score)."""
        await self.redis.zadd(keys.room_campaigns(room_id), {campaign_id: created_ms})
        await self.redis.zadd(keys.CAMPAIGNS_ACTIVE, {campaign_id: expires_at})

    async def campaign(self, campaign_id: str) -> Campaign | None:
        fields = raw_hash(await self.redis.hgetall(keys.campaign(campaign_id)))
        return campaign_from_hash(campaign_id, fields) if fields else None

    async def campaign_ids(self, room_id: str, limit: int | None) -> list[str]:
        """The room's campaign ids, oldest first (the first ``limit``; None: all)."""
        stop = -1 if limit is None else limit - 1
        found = members(await self.redis.zrange(keys.room_campaigns(room_id), 0, stop))
        return [as_text(c) for c in found]

    async def campaigns(self, campaign_ids: list[str]) -> list[Campaign]:
        """The campaigns (in the order asked, missing ones skipped): one pipelined read."""
        if not campaign_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for campaign_id in campaign_ids:
                pipe.hgetall(keys.campaign(campaign_id))
            raws = await pipe.execute()
        return [
            campaign_from_hash(i, fields)
            for i, fields in zip(campaign_ids, raws, strict=True)
            if fields
        ]

    async def drop(self, *, campaign_id: str, room_id: str, now_ms: int) -> DropOutcome:
        """drop.lua: draft -> open, once, for the campaign of ``room_id``."""
        reply = await self._drop([keys.campaign(campaign_id)], [room_id, now_ms])
        return _DROP_OUTCOMES[reply[0]]

    async def finish(
        self, *, campaign_id: str, status: CampaignStatus, now_ms: int, reason: str,
        by: str = "system",
    ) -> FinishOutcome:  # fmt: skip
        """finish.lua: end claiming (``expired`` or ``closed``), release the stock left,
        give every key of the campaign its retention."""
        reply = await self._finish(
            [
                keys.campaign(campaign_id),
                keys.campaign_owners(campaign_id),
                keys.campaign_codes(campaign_id),
                keys.campaign_idempotency(campaign_id),
                keys.campaign_audit(campaign_id),
                keys.campaign_unappended(campaign_id),
            ],
            [status.value, now_ms, keys.COUPON_RETENTION_MS, reason, by],
        )
        return _FINISH_OUTCOMES[reply[0]]

    # --- claim --------------------------------------------------------------------------

    async def claim(
        self, *, campaign_id: str, room_id: str, viewer_id: str, idempotency_key: str | None,
        nonce: str, now_ms: int, limit: int, window_ms: int, verified: bool = True,
        product_id: str = "",
    ) -> ClaimReply:  # fmt: skip
        """claim.lua, the flash path: the viewer's attempts in this window (over ``limit``:
        refused), the idempotency key, the campaign's state and stock, the viewer's share;
        then the code ``nonce`` is stored and counted. One call, one round trip."""
        reply = await self._claim(
            [
                keys.campaign(campaign_id),
                keys.campaign_owners(campaign_id),
                keys.campaign_codes(campaign_id),
                keys.campaign_idempotency(campaign_id),
                keys.campaign_claim_rate(campaign_id, viewer_id, now_ms // window_ms),
            ],
            [
                room_id, viewer_id, f"{viewer_id}|{idempotency_key}" if idempotency_key else "",
                nonce, now_ms, limit, window_ms, "1" if verified else "0", product_id,
            ],
        )  # fmt: skip
        outcome = _CLAIM_OUTCOMES[reply[0]]
        if outcome is _CLAIMED:
            sold_out_now = reply[2] == 1
            dropped_at = int(reply[3]) if sold_out_now and reply[3] else 0
            return ClaimReply(outcome, int(reply[1]), sold_out_now, dropped_at)
        bare = _BARE_CLAIMS.get(outcome)
        if bare is not None:
            return bare
        if outcome is ClaimOutcome.DUP:
            return ClaimReply(outcome, nonce=as_text(reply[1]))
        if outcome is ClaimOutcome.LIMIT:
            return ClaimReply(outcome, held=int(reply[1]))
        if outcome is ClaimOutcome.RATE:
            return ClaimReply(outcome, retry_after_ms=int(reply[1]))
        return ClaimReply(outcome, reason=as_text(reply[1]))  # closed

    # --- redeem -------------------------------------------------------------------------

    async def redeem(
        self, *, campaign_id: str, nonce: str, store_id: str, now_ms: int,
        order_amount: float | None, booking_checked: bool, staff: str,
    ) -> RedeemReply:  # fmt: skip
        """redeem.lua: once, where and when the code is valid. A ``booking_store`` code
        answers CHECK_BOOKING until ``booking_checked`` says the caller checked the
        viewer's booked stores (:meth:`booked_at`: another tag)."""
        reply = await self._redeem(
            [
                keys.campaign(campaign_id),
                keys.campaign_codes(campaign_id),
                keys.campaign_unappended(campaign_id),
            ],
            [
                nonce, store_id, now_ms, _num(order_amount) if order_amount is not None else "",
                "1" if booking_checked else "0", staff,
            ],
        )  # fmt: skip
        outcome = _REDEEM_OUTCOMES[reply[0]]
        if outcome is RedeemOutcome.OK:
            return RedeemReply(
                outcome, viewer_id=as_text(reply[1]), claimed_at=int(reply[2]),
                number=int(reply[3]), title=as_text(reply[4]),
                kind=CampaignKind(as_text(reply[5])), value=float(reply[6]),
                room_id=as_text(reply[7]), room_title=as_text(reply[8]),
            )  # fmt: skip
        if outcome is RedeemOutcome.ALREADY:
            return RedeemReply(outcome, at=int(reply[1]), store_id=as_text(reply[2]))
        if outcome is RedeemOutcome.VOID:
            return RedeemReply(outcome, at=int(reply[1]) if as_text(reply[1]) else None)
        if outcome in (RedeemOutcome.EXPIRED, RedeemOutcome.NOT_YET):
            return RedeemReply(outcome, at=int(reply[1]))
        if outcome in (RedeemOutcome.AMOUNT_REQUIRED, RedeemOutcome.BELOW_MIN):
            return RedeemReply(outcome, min_spend=as_text(reply[1]))
        if outcome is RedeemOutcome.CHECK_BOOKING:
            return RedeemReply(outcome, viewer_id=as_text(reply[1]))
        return RedeemReply(outcome)  # wrong_store | unknown

    async def open_gift_campaign(self, campaign_id: str, now_ms: int) -> None:
        """A join-gift campaign has no drop: it opens at once (no room to be live)."""
        await self.redis.hset(
            keys.campaign(campaign_id), mapping={"status": "open", "dropped_at": str(now_ms)}
        )

    async def gift(
        self, *, campaign_id: str, holder: str, nonce: str, now_ms: int, expires_ms: int
    ) -> tuple[str, str, int]:
        """gift.lua: (outcome ok|dup|missing|closed|collision, nonce, code expiry ms)."""
        reply = await self._gift(
            [keys.campaign(campaign_id), keys.campaign_codes(campaign_id),
             keys.campaign_idempotency(campaign_id)],
            [f"gift|{holder}", nonce, now_ms, expires_ms],
        )  # fmt: skip
        outcome = as_text(reply[0])
        if outcome == "ok":
            return outcome, nonce, int(reply[1])
        if outcome == "dup":
            return outcome, as_text(reply[1]), int(as_text(reply[2]) or 0)
        return outcome, "", 0

    async def customer_groups(self, viewer_id: str) -> set[str]:
        """The community groups the customer is a member of (the groups domain writes
        ``keys.customer_groups``): who may claim a group-only offer."""
        return {as_text(g) for g in await self.redis.smembers(keys.customer_groups(viewer_id))}

    async def booked_at(self, viewer_id: str, store_id: str) -> bool:
        """Whether the viewer booked a visit at the store (what bookings records, keys.py)."""
        return bool(await self.redis.sismember(keys.customer_booked_stores(viewer_id), store_id))

    async def customer_name(self, viewer_id: str, *, background: bool = False) -> str | None:
        """The customer's name (OneID profile), None when not known."""
        client = self.background_redis if background else self.redis
        name = await client.hget(keys.customer(viewer_id), "name")
        return as_text(name) if name else None

    async def count_redemption(
        self, *, room_id: str, store_id: str, order_amount: float | None,
        discount: float | None, sign: int,
    ) -> None:  # fmt: skip
        """The room's funnel counters of a redemption (``sign`` -1: rolled back)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            stats = keys.room_stats(room_id)
            pipe.hincrby(stats, "total:" + keys.STAT_COUPONS_REDEEMED, sign)
            pipe.hincrby(stats, f"{store_id}:{keys.STAT_COUPONS_REDEEMED}", sign)
            if order_amount:
                pipe.hincrbyfloat(stats, "total:" + keys.STAT_REDEEMED_AMOUNT, sign * order_amount)
                pipe.hincrbyfloat(
                    stats, f"{store_id}:{keys.STAT_REDEEMED_AMOUNT}", sign * order_amount
                )
            if discount:
                pipe.hincrbyfloat(stats, f"{store_id}:{keys.STAT_COUPON_DISCOUNT}", sign * discount)
            await pipe.execute()

    async def append_redeemed(
        self, *, store_id: str, campaign_id: str, nonce: str, number: int,
        data: dict[str, Any], now_ms: int,
    ) -> str:  # fmt: skip
        """append_store.lua: ``coupon.redeemed`` on the store's stream, at most once per
        redemption (a retry answers the first entry id)."""
        entry = await self._append(
            [keys.store_stream(store_id), keys.store_coupon_appends(store_id)],
            [f"{campaign_id}:{nonce}:{number}", msgpack.packb(data), now_ms],
        )
        return as_text(entry)

    async def mark_appended(
        self, *, campaign_id: str, nonce: str, number: int, stream_id: str
    ) -> None:
        """mark_appended.lua: the redemption reached the store stream (the follow-up is done)."""
        await self._mark(
            [keys.campaign_codes(campaign_id), keys.campaign_unappended(campaign_id)],
            [nonce, number, stream_id],
        )

    # --- codes and ops ------------------------------------------------------------------

    async def code_record(
        self, campaign_id: str, nonce: str, *, background: bool = False
    ) -> CodeRecord | None:
        client = self.background_redis if background else self.redis
        record = await client.hget(keys.campaign_codes(campaign_id), nonce)
        if record is None:
            return None
        rec: dict[str, Any] = orjson.loads(raw(record))
        return CodeRecord(
            viewer_id=rec["v"], status=CodeStatus(rec["s"]), claimed_at=int(rec["c"]),
            redeemed_at=int(rec["r"]) if rec.get("r") else None, store_id=rec.get("st") or "",
            amount=rec.get("a") or "", number=rec.get("n"), product_id=rec.get("p") or None,
        )  # fmt: skip

    async def ops(
        self, *, campaign_id: str, nonce: str, action: OpsActionName, now_ms: int, who: str,
        reason: str,
    ) -> OpsReply:  # fmt: skip
        """ops.lua: void a claimed code or roll a redemption back, in the audit stream."""
        reply = await self._ops(
            [
                keys.campaign(campaign_id),
                keys.campaign_codes(campaign_id),
                keys.campaign_audit(campaign_id),
            ],
            [action, nonce, now_ms, who, reason],
        )
        outcome = _OPS_OUTCOMES[reply[0]]
        if outcome is OpsOutcome.OK:
            redeemed_at = as_text(reply[4])
            return OpsReply(
                outcome, store_id=as_text(reply[2]), amount=as_text(reply[3]),
                redeemed_at=int(redeemed_at) if redeemed_at else None,
            )  # fmt: skip
        if outcome is OpsOutcome.REDEEMED:
            return OpsReply(outcome, redeemed_at=int(reply[1]), store_id=as_text(reply[2]))
        if outcome is OpsOutcome.NOT_REDEEMED:
            return OpsReply(outcome, status=as_text(reply[1]))
        return OpsReply(outcome)  # unknown | already_void

    async def audit(self, campaign_id: str, count: int) -> list[tuple[str, dict[str, str]]]:
        """The newest ``count`` audit entries: (entry id, fields), newest first."""
        found = entries(await self.redis.xrevrange(keys.campaign_audit(campaign_id), count=count))
        return [
            (as_text(entry_id), {as_text(k): as_text(v) for k, v in fields.items()})
            for entry_id, fields in found
        ]

    # --- the sweeper and the counter flush (background client) --------------------------

    async def active_campaigns(self, since_ms: int) -> list[tuple[str, float]]:
        """(campaign id, expires_at) of the campaigns the sweeper still watches."""
        found = scored(
            await self.background_redis.zrangebyscore(
                keys.CAMPAIGNS_ACTIVE, since_ms, "+inf", withscores=True
            )
        )
        return [(as_text(member), expires_at) for member, expires_at in found]

    async def forget_active(self, before_ms: int) -> None:
        """The sweeper stops watching campaigns that expired before ``before_ms``."""
        await self.background_redis.zremrangebyscore(keys.CAMPAIGNS_ACTIVE, "-inf", before_ms)

    async def campaign_status(self, campaign_id: str) -> str | None:
        """The campaign's status field (None: no such campaign any more)."""
        return optional_text(await self.background_redis.hget(keys.campaign(campaign_id), "status"))

    async def campaign_room_id(self, campaign_id: str) -> str | None:
        value = await self.background_redis.hget(keys.campaign(campaign_id), "room_id")
        return as_text(value) if value else None

    async def room_status(self, room_id: str) -> str | None:
        """The room's status as the room's hash has it (None: no such room)."""
        return optional_text(await self.background_redis.hget(keys.room(room_id), "status"))

    async def campaign_and_room_title(self, campaign_id: str) -> tuple[Campaign, str] | None:
        """The campaign and the room title it was created in (the sweeper's repair)."""
        fields = raw_hash(await self.background_redis.hgetall(keys.campaign(campaign_id)))
        if not fields:
            return None
        return campaign_from_hash(campaign_id, fields), as_text(fields.get(b"room_title", b""))

    async def unappended(self, campaign_id: str) -> list[str]:
        """Redemptions (``nonce:number``) whose store-stream entry is not confirmed yet."""
        pending = await self.background_redis.smembers(keys.campaign_unappended(campaign_id))
        return [as_text(member) for member in pending]

    async def forget_unappended(self, campaign_id: str, redemption: str) -> None:
        await self.background_redis.srem(keys.campaign_unappended(campaign_id), redemption)

    async def add_claimed(self, room_id: str, delta: int) -> None:
        """The room's funnel counter of claimed coupons (coalesced by the service)."""
        await self.background_redis.hincrby(
            keys.room_stats(room_id), "total:" + keys.STAT_COUPONS_CLAIMED, delta
        )


def campaign_from_hash(campaign_id: str, raw: dict[bytes, bytes]) -> Campaign:
    """A campaign from its ``{camp:C}:meta`` hash (what create.lua wrote, and the scripts since)."""
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
        identity="verified" if f.get("identity") == "verified" else "any",
        audience=Audience(groups=[g for g in f["audience"].split(",") if g])
        if f.get("audience")
        else None,
    )
