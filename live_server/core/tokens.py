"""Signed bearer tokens: role, scope and expiry, checked in one place for HTTP and Socket.IO.

Format: ``lc1.<payload>.<mac>`` where payload is base64url(orjson claims) and mac is
base64url(HMAC-SHA256(key, "lc1." + payload)). Every node that shares the keys verifies
every token without a Redis round-trip.

Keys rotate: a token names the id of the key that signed it (claim ``k``); several keys
verify at once (``LIVE_SECRETS``), the first one signs. A token from before key ids (no
``k``) is checked against each key. Revocation is the one piece of state: a node keeps
the revoked token ids and subjects in memory (``live_server.core.revocation`` refreshes
them from Redis every quarter second), and :meth:`TokenSigner.verify` refuses them.

Brands are tenants: an ops token scoped ``brand:B`` (``live-server token ops --brand B``)
acts on brand B only; an ops token scoped ``*`` is the platform admin (every brand).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import orjson

from live_server.core.errors import Unauthorized

PREFIX = "lc1."
GUIDE_SUBJECT = "guide:"
MANAGER_SUBJECT = "manager"
BRAND_SCOPE = "brand:"
"""An ops token scoped ``brand:<B>`` acts on brand B only; ``*``: every brand."""
ALL_BRANDS = "*"
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
    issued_at: int = 0
    """Unix seconds; 0 for tokens from before it was recorded. A subject revoked at T
    refuses its tokens issued at or before T."""
    key_id: str = ""

    @property
    def brand(self) -> str | None:
        """The one brand a brand-scoped ops token may touch; None for every other token
        (platform admin: every brand; host, viewer, staff: bound by their room or store)."""
        if self.role is Role.OPS and self.scope.startswith(BRAND_SCOPE):
            return self.scope[len(BRAND_SCOPE) :]
        return None

    @property
    def is_platform_admin(self) -> bool:
        """An ops token for every brand (scope ``*``, as every ops token before brands)."""
        return self.role is Role.OPS and self.brand is None

    def can_touch_brand(self, brand: str) -> bool:
        """Whether the token's brand limit allows touching something of ``brand``. Host,
        viewer and staff tokens are bound by their room or store scope (checked by the
        route), which belongs to one brand; a brand-scoped ops token by its brand."""
        mine = self.brand
        return mine is None or mine == brand

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


class _Key:
    """One signing key: HMAC-SHA256 (RFC 2104) from the two padded-key states, hashed once
    here, so a MAC is two copies and two updates (0.7 us, not hmac.digest's 2 us)."""

    __slots__ = ("_inner", "_outer", "key_id")

    def __init__(self, key_id: str, secret: str) -> None:
        if not secret:
            raise ValueError("a token secret is required")
        self.key_id = key_id
        key = hashlib.sha256(b"live-companion/tokens/" + secret.encode()).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def mac(self, payload: str) -> str:
        inner = self._inner.copy()
        inner.update((PREFIX + payload).encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return _b64(outer.digest())


def derived_key_id(secret: str) -> str:
    """The key id of a secret given alone (``LIVE_SECRET``); the same as the settings'."""
    return hashlib.sha256(b"live-companion/key-id/" + secret.encode()).hexdigest()[:8]


class TokenSigner:
    """Issues tokens with the first key and verifies them with any active key.

    ``TokenSigner(secret)``: one key (its id derived from the secret);
    ``TokenSigner(keys=[(kid, secret), ...])``: several, the first signs."""

    def __init__(self, secret: str = "", *, keys: Sequence[tuple[str, str]] = ()) -> None:
        pairs = list(keys) or [(derived_key_id(secret), secret)]
        self._keys = [_Key(kid, sec) for kid, sec in pairs]
        self._by_id = {k.key_id: k for k in self._keys}
        self._signing = self._keys[0]
        # token -> its verified claims. A viewer taps claim, book and vote many times with one
        # token: the MAC and the JSON are checked on first sight only, expiry on every use.
        # Only tokens whose MAC matched get in: forged tokens cannot fill it.
        self._verified: dict[str, Claims] = {}
        self.revoked: Mapping[str, int] = {}
        """Revoked token ids, subjects and ``scope/subject`` pairs -> unix seconds of the
        revocation (set by :class:`live_server.core.revocation.Revocations`)."""

    @classmethod
    def from_settings(cls, settings: _HasKeys) -> TokenSigner:
        """The deployment's signer: every key of ``settings.signing_keys``."""
        return cls(settings.secret, keys=settings.signing_keys)

    @property
    def key_ids(self) -> list[str]:
        return [k.key_id for k in self._keys]

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
        if token_id[0] == "-":  # `live-server token revoke -Xy...` would read it as an option
            token_id = "A" + token_id[1:]
        data: dict[str, object] = {
            "r": str(role), "s": scope, "u": subject, "e": issued + ttl_s, "j": token_id,
            "i": issued, "k": self._signing.key_id,
        }  # fmt: skip
        if verified:
            data["v"] = 1
        payload = _b64(orjson.dumps(data))
        return f"{PREFIX}{payload}.{self._signing.mac(payload)}"

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
        if self.revoked and self.is_revoked(claims):
            raise Unauthorized("the token has been revoked")
        return claims

    def is_revoked(self, claims: Claims) -> bool:
        """Whether the token, or its subject (anywhere, or in its scope) before it was
        issued, is on the revocation list."""
        revoked = self.revoked
        if claims.token_id in revoked:
            return True
        for entry in (claims.subject, f"{claims.scope}/{claims.subject}"):
            at = revoked.get(entry)
            if at is not None and claims.issued_at <= at:
                return True
        return False

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
        try:
            data = orjson.loads(_unb64(payload))
            kid = data.get("k")
        except (ValueError, TypeError, AttributeError) as exc:
            raise Unauthorized("the token signature is invalid") from exc
        if kid is None:  # signed before key ids: whichever active key made it
            candidates = self._keys
        else:
            key = self._by_id.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise Unauthorized("the token signature is invalid: its key is not one of ours")
            candidates = [key]
        if not any(hmac.compare_digest(mac, key.mac(payload)) for key in candidates):
            raise Unauthorized("the token signature is invalid")
        try:
            claims = Claims(
                role=_ROLES[data["r"]],
                scope=str(data["s"]),
                subject=str(data["u"]),
                expires_at=int(data["e"]),
                token_id=str(data["j"]),
                verified=data.get("v") == 1,
                issued_at=int(data.get("i", 0)),
                key_id=str(kid or ""),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("the token is malformed") from exc
        return claims


class _HasKeys(Protocol):
    @property
    def secret(self) -> str: ...
    @property
    def signing_keys(self) -> tuple[tuple[str, str], ...]: ...


def bearer_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
