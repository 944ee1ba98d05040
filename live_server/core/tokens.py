"""Signed bearer tokens: role, scope and expiry, checked in one place for HTTP and Socket.IO.

Format: ``lc1.<payload>.<mac>`` where payload is base64url(orjson claims) and mac is
base64url(HMAC-SHA256(secret, "lc1." + payload)). Stateless: every node that shares
``LIVE_SECRET`` verifies every token without a Redis round-trip.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from enum import StrEnum

import orjson

from live_server.core.errors import Unauthorized

PREFIX = "lc1."
GUIDE_SUBJECT = "guide:"
MANAGER_SUBJECT = "manager"
VERIFIED_CACHE = 50_000  # verified tokens kept per process for HTTP (~20 MB at most)


class Role(StrEnum):
    OPS = "ops"
    HOST = "host"
    VIEWER = "viewer"
    STAFF = "staff"


_ROLES = {role.value: role for role in Role}  # Role(value) without the enum machinery


@dataclass(frozen=True, slots=True)
class Claims:
    """Who the bearer is. ``scope`` is a room id (host, viewer) or store id (staff)."""

    role: Role
    scope: str
    subject: str
    expires_at: int
    token_id: str
    verified: bool = False
    """A viewer whose live-platform identity was signed by the platform (OneID): a person,
    not an id minted for free. Campaigns may require it to claim."""

    def can_act_on_room(self, room_id: str) -> bool:
        return self.role is Role.OPS or (
            self.role in (Role.HOST, Role.VIEWER) and self.scope == room_id
        )

    def can_act_on_store(self, store_id: str) -> bool:
        return self.role is Role.OPS or (self.role is Role.STAFF and self.scope == store_id)

    @property
    def guide_id(self) -> str | None:
        """A guide's staff token names its guide (subject ``guide:<id>``); else None."""
        if self.role is Role.STAFF and self.subject.startswith(GUIDE_SUBJECT):
            return self.subject[len(GUIDE_SUBJECT) :]
        return None

    @property
    def is_store_manager(self) -> bool:
        """A staff token that is not a guide's: the store's manager (tokens issued before
        guides existed, subject ``staff``, keep the whole store too)."""
        return self.role is Role.STAFF and not self.subject.startswith(GUIDE_SUBJECT)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies tokens with one secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a token secret is required")
        self._key = hashlib.sha256(b"live-companion/tokens/" + secret.encode()).digest()
        # HMAC-SHA256 (RFC 2104) from the two padded-key states, hashed once here: a MAC is
        # then two copies and two updates (0.7 us, not hmac.digest's 2 us with its lookup).
        block = self._key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        # token -> its verified claims. A viewer taps claim, book and vote many times with one
        # token: the MAC and the JSON are checked on first sight only, expiry on every use.
        # Only tokens whose MAC matched get in: forged tokens cannot fill it.
        self._verified: dict[str, Claims] = {}

    def issue(
        self,
        role: Role,
        scope: str,
        subject: str = "",
        ttl_s: int = 7 * 24 * 3600,
        *,
        now: float | None = None,
        verified: bool = False,
    ) -> str:
        issued = int(time.time() if now is None else now)
        token_id = _b64(hashlib.sha256(f"{role}{scope}{subject}{issued}".encode()).digest()[:6])
        data: dict[str, object] = {
            "r": str(role), "s": scope, "u": subject, "e": issued + ttl_s, "j": token_id
        }  # fmt: skip
        if verified:
            data["v"] = 1
        payload = _b64(orjson.dumps(data))
        return f"{PREFIX}{payload}.{self._mac(payload)}"

    def _mac(self, payload: str) -> str:
        inner = self._inner.copy()
        inner.update((PREFIX + payload).encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return _b64(outer.digest())

    def verify(
        self, token: str | None, *, now: float | None = None, remember: bool = False
    ) -> Claims:
        """Return the claims of a valid token, or raise :class:`Unauthorized`.

        ``remember``: keep the verified claims for the next request with this token (the
        HTTP path, where one viewer sends many; a socket verifies once per connection)."""
        if not token:
            raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_signed(token)
            if remember:
                if len(self._verified) >= VERIFIED_CACHE:
                    self._verified.clear()
                self._verified[token] = claims
        if claims.expires_at < (time.time() if now is None else now):
            raise Unauthorized("the token has expired")
        return claims

    def _verify_signed(self, token: str) -> Claims:
        """MAC and payload of a token (not its expiry)."""
        # Non-ASCII never occurs in a token we issue, and hmac.compare_digest raises
        # TypeError on non-ASCII str (a 500 from a latin-1 Authorization header).
        if (
            not token.startswith(PREFIX) or token.count(".") != 2 or len(token) > 1024
            or not token.isascii()
        ):  # fmt: skip
            raise Unauthorized("the token is malformed")
        payload, mac = token[len(PREFIX) :].split(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise Unauthorized("the token signature is invalid")
        try:
            data = orjson.loads(_unb64(payload))
            claims = Claims(
                role=_ROLES[data["r"]],
                scope=str(data["s"]),
                subject=str(data["u"]),
                expires_at=int(data["e"]),
                token_id=str(data["j"]),
                verified=data.get("v") == 1,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("the token is malformed") from exc
        return claims


def bearer_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
