"""HTTP surface of coupons: campaigns (host), claim (viewer), QR (public), redeem (staff),
void / rollback / audit (ops). The service broadcasts ``coupon.dropped`` and the coalesced
``coupon.stock``; ``coupon.redeemed`` reaches staff through the store stream."""

from __future__ import annotations

import contextlib

from aiohttp import web

from coupons.models import (
    AuditEntries,
    Campaign,
    CampaignList,
    Claimed,
    CodeState,
    CreateCampaign,
    NotACode,
    NotValidHere,
    OpsAction,
    Redeem,
    Redemption,
    check_idempotency_key,
)
from coupons.service import CLAIM_PER_VIEWER
from coupons.wiring import COUPONS
from live_server.core.appkeys import SETTINGS
from live_server.core.errors import BadRequest
from live_server.core.tenancy import TENANCY, same_brand
from live_server.core.tokens import Role
from live_server.web.api import Api, Call
from live_server.web.limits import Rule

api = Api()
TAG = "coupons"

CLAIM_PER_IP = Rule("claim-ip", "ip", 600, 10)
CAMPAIGN = "/api/v1/rooms/{room}/campaigns/{campaign}"


@api.post(
    "/api/v1/rooms/{room}/campaigns", summary="Create a coupon campaign (not dropped yet)",
    tag=TAG, roles=[Role.HOST], scope="room", body=CreateCampaign, response=Campaign,
    status=201, errors=[400, 404],
)  # fmt: skip
async def create_campaign(call: Call[CreateCampaign, None]) -> Campaign:
    """``store_ids`` "all" (the default) means every store of the room's brand; a list
    names stores of that brand only (400 otherwise)."""
    room_id, store_ids = call.path("room"), call.body.store_ids
    if isinstance(store_ids, list):
        tenancy = call.app[TENANCY]
        for store_id in store_ids:
            if not await tenancy.store_of_room_brand(room_id, str(store_id)):
                raise BadRequest(f"store {store_id!r} is not one of the room's brand's stores")
    return await call.app[COUPONS].create_campaign(room_id, call.body)


@api.get(
    "/api/v1/rooms/{room}/campaigns", summary="The room's coupon campaigns", tag=TAG,
    roles=[Role.HOST, Role.VIEWER], scope="room", response=CampaignList, errors=[404],
)  # fmt: skip
async def list_campaigns(call: Call[None, None]) -> CampaignList:
    return await call.app[COUPONS].list_campaigns(call.path("room"))


@api.get(
    CAMPAIGN, summary="One campaign with its live stock", tag=TAG,
    roles=[Role.HOST, Role.VIEWER], scope="room", response=Campaign, errors=[404],
)  # fmt: skip
async def get_campaign(call: Call[None, None]) -> Campaign:
    return await call.app[COUPONS].get_campaign(call.path("room"), call.path("campaign"))


@api.post(
    CAMPAIGN + "/drop", summary="Drop the coupons: open claiming, tell every viewer", tag=TAG,
    roles=[Role.HOST], scope="room", response=Campaign, errors=[404, 409, 410],
)  # fmt: skip
async def drop_campaign(call: Call[None, None]) -> Campaign:
    return await call.app[COUPONS].drop(call.path("room"), call.path("campaign"))


@api.post(
    CAMPAIGN + "/close", summary="Stop claiming now; the stock left is released", tag=TAG,
    roles=[Role.HOST], scope="room", response=Campaign, errors=[404],
)  # fmt: skip
async def close_campaign(call: Call[None, None]) -> Campaign:
    return await call.app[COUPONS].close_by_host(call.path("room"), call.path("campaign"))


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
    key = check_idempotency_key(call.request.headers.get("Idempotency-Key"))
    service = call.app[COUPONS]
    result = await service.claim(
        call.path("room"), call.path("campaign"), call.who.subject, key, call.who.verified
    )
    body = service.claimed_body(result, _base_url(call.request))
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return web.Response(body=body, status=201, content_type="application/json", headers=headers)


def _base_url(request: web.Request) -> str:
    """Where the client reached this server: the public URL, else scheme + Host header
    (what ``request.url.origin()`` gives, without building a URL object)."""
    public_url = request.app[SETTINGS].public_url
    return public_url.rstrip("/") if public_url else f"{request.scheme}://{request.host}"


@api.get(
    "/api/v1/coupons/{code}/qr.svg", summary="The code as a QR image (SVG)", tag=TAG,
    errors=[400],
    description="Public: the URL carries the code, and the code itself is the bearer of the "
    "coupon (shown at the till), so the image reveals nothing the URL does not. The code is "
    "verified offline (MAC) before drawing; no Redis lookup.",
)  # fmt: skip
async def coupon_qr(call: Call[None, None]) -> web.Response:
    return web.Response(
        body=call.app[COUPONS].qr_svg(call.path("code")),
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
    """A campaign's stores ("all" included) are its brand's: another brand's store is 403,
    refused before the code is touched."""
    store_id = call.path("store")
    with contextlib.suppress(NotACode):  # the service refuses it (and counts it)
        code = call.app[COUPONS].verify(call.body.code)
        tenancy = call.app[TENANCY]
        campaign_brand = await tenancy.brand_of("campaign", code.campaign_id)
        store_brand = await tenancy.brand_of("store", store_id)
        if not same_brand(campaign_brand, store_brand):
            raise NotValidHere("this coupon is for another brand's stores")
    result = await call.app[COUPONS].redeem(
        store_id, call.body.code, call.body.order_amount,
        call.who.subject or call.who.token_id,
    )  # fmt: skip
    return result.redemption


@api.post(
    "/api/v1/coupons/{code}/void", summary="Void a claimed code (ops, audited)", tag=TAG,
    roles=[Role.OPS], body=OpsAction, response=CodeState, errors=[404, 409, 410],
)  # fmt: skip
async def void_code(call: Call[OpsAction, None]) -> CodeState:
    return await call.app[COUPONS].ops_action(
        call.path("code"), "void", call.who.subject, call.body.reason
    )


@api.post(
    "/api/v1/coupons/{code}/rollback", summary="Roll back a redemption (ops, audited)", tag=TAG,
    roles=[Role.OPS], body=OpsAction, response=CodeState, errors=[404, 409],
)  # fmt: skip
async def rollback_redemption(call: Call[OpsAction, None]) -> CodeState:
    return await call.app[COUPONS].ops_action(
        call.path("code"), "rollback", call.who.subject, call.body.reason
    )


@api.get(
    "/api/v1/campaigns/{campaign}/audit", summary="A campaign's audit trail (ops)", tag=TAG,
    roles=[Role.OPS], response=AuditEntries,
)  # fmt: skip
async def campaign_audit(call: Call[None, None]) -> AuditEntries:
    return await call.app[COUPONS].audit(call.path("campaign"))
