"""HTTP surface of coupons: campaigns (host), claim (viewer), QR (public), redeem (staff),
void / rollback / audit (ops). Broadcasts: ``coupon.dropped`` and the coalesced
``coupon.stock``; ``coupon.redeemed`` reaches staff through the store stream."""

from __future__ import annotations

import io
from functools import lru_cache
from typing import TypeVar
from urllib.parse import quote

import orjson
import segno
from aiohttp import web
from pydantic import BaseModel

from coupons.models import (
    Campaign,
    CampaignList,
    CampaignStatus,
    Claimed,
    CodeState,
    CreateCampaign,
    OpsAction,
    Redeem,
    Redemption,
)
from coupons.service import CLAIM_PER_VIEWER, MAX_IDEMPOTENCY_KEY, CouponService
from coupons.wiring import COUPONS
from live_server.core.appkeys import SETTINGS
from live_server.core.errors import BadRequest
from live_server.core.tokens import Role
from live_server.realtime.server import REALTIME
from live_server.web.api import Api, Call
from live_server.web.limits import Rule

api = Api()
TAG = "coupons"

CLAIM_PER_IP = Rule("claim-ip", "ip", 600, 10)
CAMPAIGN = "/api/v1/rooms/{room}/campaigns/{campaign}"


_Body = TypeVar("_Body", bound=BaseModel | None)
_Query = TypeVar("_Query", bound=BaseModel | None)


def _service(call: Call[_Body, _Query]) -> CouponService:
    """The app's coupon service, from a call of any body and query type."""
    return call.app[COUPONS]


def _stock(campaign: Campaign, remaining: int | None = None) -> dict[str, object]:
    return {
        "campaign_id": campaign.id,
        "remaining": campaign.remaining if remaining is None else remaining,
        "quantity": campaign.quantity,
        "status": campaign.status.value,
    }


@api.post(
    "/api/v1/rooms/{room}/campaigns", summary="Create a coupon campaign (not dropped yet)",
    tag=TAG, roles=[Role.HOST], scope="room", body=CreateCampaign, response=Campaign,
    status=201, errors=[404],
)  # fmt: skip
async def create_campaign(call: Call[CreateCampaign, None]) -> Campaign:
    return await _service(call).create_campaign(call.path("room"), call.body)


@api.get(
    "/api/v1/rooms/{room}/campaigns", summary="The room's coupon campaigns", tag=TAG,
    roles=[Role.HOST, Role.VIEWER], scope="room", response=CampaignList, errors=[404],
)  # fmt: skip
async def list_campaigns(call: Call[None, None]) -> CampaignList:
    return CampaignList(campaigns=await _service(call).list_campaigns(call.path("room")))


@api.get(
    CAMPAIGN, summary="One campaign with its live stock", tag=TAG,
    roles=[Role.HOST, Role.VIEWER], scope="room", response=Campaign, errors=[404],
)  # fmt: skip
async def get_campaign(call: Call[None, None]) -> Campaign:
    return await _service(call).get_campaign(call.path("room"), call.path("campaign"))


@api.post(
    CAMPAIGN + "/drop", summary="Drop the coupons: open claiming, tell every viewer", tag=TAG,
    roles=[Role.HOST], scope="room", response=Campaign, errors=[404, 409, 410],
)  # fmt: skip
async def drop_campaign(call: Call[None, None]) -> Campaign:
    campaign = await _service(call).drop(call.path("room"), call.path("campaign"))
    rt = call.app[REALTIME]
    event = campaign.model_dump(mode="json")
    await rt.to_viewers(campaign.room_id, "coupon.dropped", dict(event))
    await rt.to_host(campaign.room_id, "coupon.dropped", dict(event))
    return campaign


@api.post(
    CAMPAIGN + "/close", summary="Stop claiming now; the stock left is released", tag=TAG,
    roles=[Role.HOST], scope="room", response=Campaign, errors=[404],
)  # fmt: skip
async def close_campaign(call: Call[None, None]) -> Campaign:
    service = _service(call)
    room_id, campaign_id = call.path("room"), call.path("campaign")
    await service.get_campaign(room_id, campaign_id)
    await service.close(campaign_id, CampaignStatus.CLOSED, "closed by the host")
    return await service.get_campaign(room_id, campaign_id)


@api.post(
    CAMPAIGN + "/claim", summary="Claim a coupon (one per tap; a retry returns the same code)",
    tag=TAG, roles=[Role.VIEWER], scope="room", response=Claimed, status=201,
    errors=[400, 404, 409, 410], headers=["Idempotency-Key"],
    description="201 with the code; 410 sold out, expired, closed or room ended; 409 limit "
    "reached or not dropped yet; 400 an Idempotency-Key longer than 128 characters. The same "
    "Idempotency-Key (per viewer) returns the same code with the header Idempotent-Replayed: true.",
    limits=[CLAIM_PER_VIEWER, CLAIM_PER_IP],
)  # fmt: skip
async def claim_coupon(call: Call[None, None]) -> web.Response:
    key = call.request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY} characters")
    room_id = call.path("room")
    result = await _service(call).claim(room_id, call.path("campaign"), call.who.subject, key)
    campaign = result.campaign
    if result.fresh:
        call.app[REALTIME].counter(
            room_id, "coupon.stock", campaign.id, _stock(campaign, result.remaining)
        )
    # The body is Claimed (the declared response): two fields per code, the rest static per
    # campaign, serialised once per process (the campaign's static part never changes).
    text = result.code.text
    body = b"".join((
        b'{"code":', orjson.dumps(text),
        b',"qr_svg_url":', orjson.dumps(_qr_url(call.request, text)),
        b",", _claimed_static(campaign)[1:],
    ))  # fmt: skip
    headers = {"Idempotent-Replayed": "true"} if not result.fresh else None
    return web.Response(body=body, status=201, content_type="application/json", headers=headers)


_CLAIMED_STATIC: dict[str, bytes] = {}


def _claimed_static(campaign: Campaign) -> bytes:
    """``{...}`` of Claimed without code and qr_svg_url, for one campaign (cached)."""
    cached = _CLAIMED_STATIC.get(campaign.id)
    if cached is None:
        model = Claimed(
            code="", qr_svg_url="", campaign_id=campaign.id, expires_at=campaign.expires_at,
            title=campaign.title, kind=campaign.kind, value=campaign.value,
            store_ids=campaign.store_ids, valid_from=campaign.valid_from,
            min_spend=campaign.min_spend,
        )  # fmt: skip
        cached = model.model_dump_json(exclude={"code", "qr_svg_url"}).encode()
        if len(_CLAIMED_STATIC) > 10_000:
            _CLAIMED_STATIC.clear()
        _CLAIMED_STATIC[campaign.id] = cached
    return cached


def _qr_url(request: web.Request, code: str) -> str:
    settings = request.app[SETTINGS]
    # scheme + Host header: what request.url.origin() gives, without building a URL object.
    base = (
        settings.public_url.rstrip("/")
        if settings.public_url
        else f"{request.scheme}://{request.host}"
    )
    return f"{base}/api/v1/coupons/{quote(code)}/qr.svg"


@lru_cache(maxsize=4096)
def _qr_svg(code: str) -> bytes:
    buf = io.BytesIO()
    segno.make(code, error="m", micro=False).save(buf, kind="svg", scale=6, border=2, title=code)
    return buf.getvalue()


@api.get(
    "/api/v1/coupons/{code}/qr.svg", summary="The code as a QR image (SVG)", tag=TAG,
    errors=[400],
    description="Public: the URL carries the code, and the code itself is the bearer of the "
    "coupon (shown at the till), so the image reveals nothing the URL does not. The code is "
    "verified offline (MAC) before drawing; no Redis lookup.",
)  # fmt: skip
async def coupon_qr(call: Call[None, None]) -> web.Response:
    code = _service(call).verify(call.path("code"))
    return web.Response(
        body=_qr_svg(code.text),
        content_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=86400"},
    )


@api.post(
    "/api/v1/stores/{store}/redemptions", summary="Redeem a coupon code at the till", tag=TAG,
    roles=[Role.STAFF], scope="store", body=Redeem, response=Redemption,
    errors=[403, 404, 409, 410],
    description="400 not a valid code (checked offline, before any lookup); 409 already "
    "redeemed (says when and where) or below the minimum spend; 403 not valid in this store; "
    "410 expired or voided. Appends coupon.redeemed to the store's stream.",
)  # fmt: skip
async def redeem_coupon(call: Call[Redeem, None]) -> Redemption:
    result = await _service(call).redeem(
        call.path("store"),
        call.body.code,
        call.body.order_amount,
        call.who.subject or call.who.token_id,
    )
    return result.redemption


class AuditEntries(BaseModel):
    entries: list[dict[str, str]]


@api.post(
    "/api/v1/coupons/{code}/void", summary="Void a claimed code (ops, audited)", tag=TAG,
    roles=[Role.OPS], body=OpsAction, response=CodeState, errors=[404, 409, 410],
)  # fmt: skip
async def void_code(call: Call[OpsAction, None]) -> CodeState:
    return await _service(call).ops_action(
        call.path("code"), "void", call.who.subject, call.body.reason
    )


@api.post(
    "/api/v1/coupons/{code}/rollback", summary="Roll back a redemption (ops, audited)", tag=TAG,
    roles=[Role.OPS], body=OpsAction, response=CodeState, errors=[404, 409],
)  # fmt: skip
async def rollback_redemption(call: Call[OpsAction, None]) -> CodeState:
    return await _service(call).ops_action(
        call.path("code"), "rollback", call.who.subject, call.body.reason
    )


@api.get(
    "/api/v1/campaigns/{campaign}/audit", summary="A campaign's audit trail (ops)", tag=TAG,
    roles=[Role.OPS], response=AuditEntries,
)  # fmt: skip
async def campaign_audit(call: Call[None, None]) -> AuditEntries:
    return AuditEntries(entries=await _service(call).audit(call.path("campaign")))
