"""HTTP surface of the store streams: check-in, the store's notice webhook."""

from __future__ import annotations

import secrets
from typing import Any

from live_server.core.appkeys import SETTINGS
from live_server.core.errors import Forbidden, NotFound
from live_server.core.outbound import refuse_internal_url
from live_server.core.staff import require_active_guide
from live_server.core.tokens import Role
from live_server.store_streams.models import Arrival, Webhook, WebhookIn
from live_server.store_streams.wiring import NOTICES, STORE_STREAMS
from live_server.stores.wiring import STORES
from live_server.web.api import Api, Call

api = Api()
TAG = "stores"


@api.post(
    "/api/v1/stores/{store}/bookings/{booking}/arrive", summary="Check a booking in",
    tag=TAG, roles=[Role.STAFF], scope="store", response=Arrival, errors=[404, 409],
)  # fmt: skip
async def arrive(call: Call[None, None]) -> Arrival:
    """Staff of the booking's store mark the visitor arrived; appends ``booking.arrived``
    to the store stream. Idempotent: a repeated call returns the first check-in; 409 if
    the booking was cancelled. A guide's token only while the guide is active."""
    await require_active_guide(call.app[STORE_STREAMS].store.redis, call.who, call.path("store"))
    return await call.app[STORE_STREAMS].arrive(
        call.path("store"), call.path("booking"), call.who.subject
    )


def _managed_store(call: Call[Any, None]) -> str:
    """The path's store, for ops or the store's manager (not a guide's token)."""
    store_id = call.path("store")
    if call.who.role is Role.STAFF and not call.who.is_store_manager:
        raise Forbidden("this needs the store manager's token (or ops); yours is a guide's")
    if call.app[STORES].get(store_id) is None:
        raise NotFound(f"no store {store_id!r}")
    return store_id


@api.put(
    "/api/v1/stores/{store}/webhook", summary="Where the store's notices go", tag=TAG,
    roles=[Role.STAFF], scope="store", body=WebhookIn, response=Webhook, errors=[400, 403, 404],
)  # fmt: skip
async def put_webhook(call: Call[WebhookIn, None]) -> Webhook:
    """New task, reminder, reassignment and overdue accept notices are POSTed there, signed
    like the group webhook (``X-Timestamp``, ``X-Signature: sha256=HMAC(secret, ts + "." +
    body)``), retried for a while, then dead-lettered. The secret is answered once (a new
    one is generated when none is given)."""
    store_id = _managed_store(call)
    if call.app[SETTINGS].production:
        refuse_internal_url(call.body.url, "url")
    secret = call.body.secret or secrets.token_urlsafe(32)
    await call.app[STORE_STREAMS].store.set_webhook(store_id, call.body.url, secret)
    await call.app[NOTICES].consumer(store_id).ensure_group()
    return Webhook(store_id=store_id, url=call.body.url, secret=secret)


@api.delete(
    "/api/v1/stores/{store}/webhook", summary="Stop the store's notices", tag=TAG,
    roles=[Role.STAFF], scope="store", errors=[403, 404],
)  # fmt: skip
async def delete_webhook(call: Call[None, None]) -> None:
    """The store's manager or ops; no more notices are sent (those not yet delivered wait
    for the next webhook PUT). 404 when the store has none."""
    store_id = _managed_store(call)
    if not await call.app[STORE_STREAMS].store.delete_webhook(store_id):
        raise NotFound(f"store {store_id!r} has no webhook")


@api.get(
    "/api/v1/stores/{store}/webhook", summary="The store's notice webhook and its backlog",
    tag=TAG, roles=[Role.STAFF], scope="store", response=Webhook, errors=[403, 404],
)  # fmt: skip
async def get_webhook(call: Call[None, None]) -> Webhook:
    store_id = _managed_store(call)
    hook = await call.app[STORE_STREAMS].store.webhook(store_id)
    if hook is None:
        raise NotFound(f"store {store_id!r} has no webhook; PUT one")
    waiting, dead = await call.app[NOTICES].state(store_id)
    return Webhook(store_id=store_id, url=hook[0], pending=waiting, dead_letters=dead)
