"""Typed views of redis-py replies, narrowed at the boundary, and of the fields it takes.

Every client is built with ``decode_responses=False`` (``redis_conn.connect_redis``), so a
string in a reply is always ``bytes``. redis-py annotates replies for both modes
(``bytes | str``) and, for some stream commands, with shapes this deployment never gets
(RESP3 maps, ``None`` for XRANGE). These helpers only narrow the static type: each returns
its argument unchanged, so behaviour is exactly that of the bare call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias, TypedDict, cast

from redis.typing import (
    EncodableT,
    FieldT,
    StreamRangeResponse,
    XClaimResponse,
    XPendingRangeResponse,
    XReadGroupResponse,
    XReadResponse,
    ZSetRangeResponse,
)

Fields: TypeAlias = dict[FieldT, EncodableT]
"""What XADD and ``HSET mapping=`` take (annotate a str-keyed literal with it: redis-py's
parameter types are invariant in the key type, so ``dict[str, ...]`` is refused)."""
Hash: TypeAlias = dict[bytes, bytes]
"""HGETALL, or the fields of one stream entry."""
Entry: TypeAlias = tuple[bytes, Hash]
"""One stream entry: (id, fields)."""
ClaimedEntry: TypeAlias = tuple[bytes, Hash | None]
"""One XCLAIM / XAUTOCLAIM entry: fields are None when the entry was deleted meanwhile."""
AutoClaimReply: TypeAlias = tuple[bytes, list[ClaimedEntry], *tuple[Any, ...]]
"""XAUTOCLAIM's reply (a list): cursor, entries, then (Redis >= 7) the deleted ids."""
StreamReply: TypeAlias = list[tuple[bytes, list[Entry]]]
"""XREAD / XREADGROUP (RESP2): [stream name, entries] per stream."""


class PendingEntry(TypedDict):
    """One XPENDING (extended form) row."""

    message_id: bytes
    consumer: bytes
    time_since_delivered: int
    times_delivered: int


def as_fields(value: Hash) -> Fields:
    """Fields read back (an entry, a hash) as fields to write again (copied into XADD):
    the same dict, only typed as redis-py's parameter wants it."""
    return cast(Fields, value)


def raw(value: bytes | str) -> bytes:
    """A string reply (a GET, an HGET known to exist, an entry id)."""
    return cast(bytes, value)


def raw_or_none(value: bytes | str | None) -> bytes | None:
    """A string reply that may be missing (GET, HGET)."""
    return cast(bytes | None, value)


def raw_hash(value: Mapping[bytes | str, bytes | str]) -> Hash:
    """HGETALL (empty when the key does not exist)."""
    return cast(Hash, value)


def members(value: ZSetRangeResponse) -> list[bytes]:
    """ZRANGE / ZREVRANGE without scores: the members, in order."""
    return cast(list[bytes], value)


def scored(value: ZSetRangeResponse) -> list[tuple[bytes, float]]:
    """ZRANGE / ZRANGEBYSCORE ``withscores=True``: (member, score) pairs, in order."""
    return cast(list[tuple[bytes, float]], value)


def entries(value: StreamRangeResponse | None) -> list[Entry]:
    """XRANGE / XREVRANGE: a list of entries, empty when there are none (never None)."""
    return cast(list[Entry], value)


def claimed(value: XClaimResponse) -> list[ClaimedEntry]:
    """XCLAIM (without JUSTID): the claimed entries."""
    return cast(list[ClaimedEntry], value)


def autoclaimed(value: list[Any]) -> AutoClaimReply:
    """XAUTOCLAIM: [next cursor, entries, ids deleted while pending (Redis >= 7 only)]."""
    return cast(AutoClaimReply, value)


def streams(value: XReadResponse | XReadGroupResponse | None) -> StreamReply | None:
    """XREAD / XREADGROUP: None (or empty) when nothing arrived before the block ended."""
    return cast(StreamReply | None, value)


def pending(value: XPendingRangeResponse) -> list[PendingEntry]:
    """XPENDING key group min max count (the extended form): one row per pending entry."""
    return cast(list[PendingEntry], value)
