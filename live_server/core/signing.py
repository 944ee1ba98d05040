"""The webhook signature every signed notice and webhook of ours uses (group messages in
and answers out, store notices, the generic platform bridge): ``X-Timestamp`` (unix s)
and ``X-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>``."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()
