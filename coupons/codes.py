"""Coupon codes: short, human-typable, signed, verifiable without Redis.

A code is 16 characters from a 31-character alphabet with no look-alikes (no ``0 O 1 I L``),
shown in four groups: ``K7M2-PX9Q-RT4W-HNC3``.

=========  =====  =========================================================================
field      chars  meaning
=========  =====  =========================================================================
campaign   5      the campaign reference; the campaign id is ``cp_<ref>`` and its Redis
                  hash tag ``{camp:cp_<ref>}``, so a code alone routes to its keys
nonce      5      random per claim (the code's key inside the campaign)
mac        6      HMAC-SHA256(key, campaign + nonce) folded into 6 characters (~29.7 bits)
=========  =====  =========================================================================

The MAC key is derived from the deployment's signing secret, so every node (and a till
holding the keys) verifies every code offline. A forged or mistyped code fails
:func:`CodeBook.parse` (about one chance in 887 million of a random string passing, per
active key) and is rejected before any Redis lookup.

Keys rotate (``LIVE_SECRETS``, docs/SECURITY.md): new codes are signed with the first key,
and a code verifies under any active key, so codes handed out before a rotation stay
redeemable until their key is retired. The code has no room for a key id (16 characters
people type at a till): the check tries the active keys, signing key first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BASE = len(ALPHABET)  # 31
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_VALID_SET = frozenset(ALPHABET)
REF_LEN, NONCE_LEN, MAC_LEN = 5, 5, 6
CODE_LEN = REF_LEN + NONCE_LEN + MAC_LEN
CAMPAIGN_PREFIX = "cp_"
# Separators and case a person may type or a scanner may add; removed before checking.
_IGNORED = str.maketrans("", "", " -_.\t")


class InvalidCode(ValueError):
    """The text is not a code this deployment issued (malformed, mistyped or forged)."""


_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]  # two base-31 digits at a time
_PAIR_BASE = BASE * BASE


def _encode(number: int, width: int) -> str:
    """``number`` as ``width`` base-31 digits, most significant first (higher digits
    dropped). Two digits per step: this runs for every claim and every code checked."""
    out = ""
    while width >= 2:
        number, pair = divmod(number, _PAIR_BASE)
        out = _PAIRS[pair] + out
        width -= 2
    if width:
        out = ALPHABET[number % BASE] + out
    return out


def random_chars(width: int) -> str:
    """``width`` random alphabet characters (a campaign reference, a nonce)."""
    return _encode(secrets.randbelow(BASE**width), width)


def new_campaign_id() -> str:
    """A fresh campaign id, ``cp_`` + a 5-character reference (28.6 million values)."""
    return CAMPAIGN_PREFIX + random_chars(REF_LEN)


_REFS: dict[str, str] = {}  # campaign id -> reference, for ids already checked


def campaign_ref(campaign_id: str) -> str:
    """The code reference of a campaign id; ValueError if the id is not one of ours."""
    ref = _REFS.get(campaign_id)
    if ref is not None:
        return ref
    ref = campaign_id.removeprefix(CAMPAIGN_PREFIX)
    if not campaign_id.startswith(CAMPAIGN_PREFIX) or len(ref) != REF_LEN or not _valid_chars(ref):
        raise ValueError(f"not a campaign id: {campaign_id!r}")
    if len(_REFS) >= 10_000:
        _REFS.clear()
    _REFS[campaign_id] = ref
    return ref


def _valid_chars(text: str) -> bool:
    return _VALID_SET.issuperset(text)


def normalize(text: str) -> str:
    """Upper-case, without the separators people type: what :func:`CodeBook.parse` checks."""
    return text.translate(_IGNORED).upper()


def pretty(compact: str) -> str:
    """``K7M2PX9QRT4WHNC3`` -> ``K7M2-PX9Q-RT4W-HNC3`` (what people read and type)."""
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))


@dataclass(frozen=True, slots=True)
class Code:
    """A verified code: which campaign it belongs to and its key there."""

    campaign_id: str
    nonce: str
    compact: str

    @property
    def text(self) -> str:
        return pretty(self.compact)


class CodeBook:
    """Issues codes with the first key and verifies them with any of ``secrets``."""

    def __init__(self, secret: str, *older: str) -> None:
        if not secret or not all(older):
            raise ValueError("a secret is required")
        self._keys = [
            hashlib.sha256(b"live-companion/coupon-codes/" + s.encode()).digest()
            for s in (secret, *older)
        ]
        self._key = self._keys[0]

    @staticmethod
    def _mac_with(key: bytes, body: str) -> str:
        digest = hmac.digest(key, body.encode(), "sha256")  # one-shot C HMAC
        return _encode(int.from_bytes(digest[:8], "big") % BASE**MAC_LEN, MAC_LEN)

    def _mac(self, body: str) -> str:
        return self._mac_with(self._key, body)

    def issue(self, campaign_id: str, nonce: str | None = None) -> Code:
        """A new code for the campaign (a fresh random nonce unless given)."""
        ref = campaign_ref(campaign_id)
        nonce = nonce or random_chars(NONCE_LEN)
        body = ref + nonce
        return Code(campaign_id, nonce, body + self._mac(body))

    def parse(self, text: str) -> Code:
        """Verify a typed or scanned code; raise :class:`InvalidCode` without any I/O."""
        compact = normalize(text)
        if len(compact) != CODE_LEN or not _valid_chars(compact):
            raise InvalidCode("not a valid code: check the characters and try again")
        body, mac = compact[:-MAC_LEN], compact[-MAC_LEN:]
        if not any(hmac.compare_digest(mac, self._mac_with(key, body)) for key in self._keys):
            raise InvalidCode("not a valid code: check the characters and try again")
        return Code(CAMPAIGN_PREFIX + body[:REF_LEN], body[REF_LEN:], compact)
