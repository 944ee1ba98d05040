"""OneID: an external id (phone, openid) links to a viewer only when the live platform
signed it; random or foreign signatures are refused, never an error."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from live_server.core.tokens import TokenSigner
from live_server.rooms.models import ExternalIdNotSigned
from live_server.rooms.service import RoomService

PLATFORM = "platform-secret-0123456789abcdef"
SECRET = "deployment-secret-0123456789abcdef0123456789"


class _NoRedis:
    """check_external_id is pure; the constructor only registers a script."""

    def register_script(self, _: str) -> Any:
        return None


ROOMS = RoomService(_NoRedis(), TokenSigner(SECRET), SECRET, 3600, platform_secret=PLATFORM)  # type: ignore[arg-type]
ids = st.text(min_size=1, max_size=128)


def _sig(external_id: str, secret: str = PLATFORM) -> str:
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


@settings(max_examples=300)
@given(external_id=ids, sig=st.none() | st.text(max_size=128))
def test_unsigned_external_id_is_refused(external_id: str, sig: str | None) -> None:
    assume(sig is None or sig.lower() != _sig(external_id))
    with pytest.raises(ExternalIdNotSigned):
        ROOMS.check_external_id(external_id, sig)


@settings(max_examples=200)
@given(external_id=ids, other=ids, upper=st.booleans())
def test_signature_binds_the_id_and_the_platform(external_id: str, other: str, upper: bool) -> None:
    good = _sig(external_id)
    assert ROOMS.check_external_id(external_id, good.upper() if upper else good) is True
    if other != external_id:  # someone else's id under my signature
        with pytest.raises(ExternalIdNotSigned):
            ROOMS.check_external_id(other, good)
    with pytest.raises(ExternalIdNotSigned):  # signed by another platform
        ROOMS.check_external_id(external_id, _sig(external_id, PLATFORM + "x"))
