"""Where the server may POST: a webhook URL someone typed (a store's notices, a group's
answers) must not reach the server's own network in production (SSRF: the cloud metadata
service at 169.254.169.254, an admin port on 127.0.0.1, a database on 10.x)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from live_server.core.errors import ValidationFailed

_LOCAL_NAMES = ("localhost", "localhost.localdomain")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")


def refuse_internal_url(url: str, field: str) -> None:
    """400 for a URL whose host is a loopback, private, link-local, reserved or multicast
    address, or a local name. (A public name that resolves to such an address is not
    caught here: that needs a check when sending.)"""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        raise ValidationFailed(f"{field}: {url!r} names no host")
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES):
        raise ValidationFailed(f"{field}: {host} is a local name; give an address reachable "
                               "from the internet")  # fmt: skip
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (
        address.is_private or address.is_loopback or address.is_link_local
        or address.is_reserved or address.is_multicast or address.is_unspecified
    ):  # fmt: skip
        raise ValidationFailed(f"{field}: {host} is an internal address; in production a "
                               "webhook must be reachable from the internet")  # fmt: skip
