"""Ops routes of access control: revoking tokens (``POST /api/v1/revocations``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from live_server.core.errors import Forbidden
from live_server.core.revocation import REVOCATIONS
from live_server.core.tenancy import TENANCY
from live_server.core.tokens import Role
from live_server.web.api import Api, Call

api = Api()
TAG = "access"


class Revoke(BaseModel):
    """What to revoke: one token (``token_id``) or every token of a subject issued so far
    (``subject``, e.g. ``guide:g1`` or a viewer id), anywhere or in one ``store``."""

    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    token_id: str | None = Field(default=None, min_length=1, max_length=64)
    store: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="only the subject's tokens scoped to this store (a guide of that store)",
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_target(self) -> Revoke:
        if (self.subject is None) == (self.token_id is None):
            raise ValueError("name either subject or token_id")
        if self.store is not None and self.subject is None:
            raise ValueError("store narrows a subject; a token_id is one token already")
        return self

    @property
    def entry(self) -> str:
        if self.token_id is not None:
            return self.token_id
        assert self.subject is not None
        return f"{self.store}/{self.subject}" if self.store else self.subject


class Revoked(BaseModel):
    revoked: str = Field(description="the entry on the revocation list")
    version: int = Field(description="the list's version (every node within a second)")


@api.post(
    "/api/v1/revocations", summary="Revoke a token or a subject's tokens", tag=TAG,
    roles=[Role.OPS], body=Revoke, response=Revoked, status=201, errors=[404],
)  # fmt: skip
async def revoke_tokens(call: Call[Revoke, None]) -> Revoked:
    """Every node refuses the token(s) within a second, on HTTP and on Socket.IO (open
    connections are closed). A subject's tokens issued after this call work (a guide who
    comes back gets a new token). A brand's ops token revokes subjects of its own stores
    (``store`` required); the platform admin revokes anything."""
    body = call.body
    who = call.who
    if who.brand is not None:
        if body.store is None:
            raise Forbidden("a brand's ops token revokes subjects of its own stores: name store")
        await call.app[TENANCY].require(who, "store", body.store)
    revocations = call.app[REVOCATIONS]
    await revocations.revoke(body.entry)
    return Revoked(revoked=body.entry, version=revocations.version)
