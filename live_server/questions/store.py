"""Redis access for questions: groups, the dedup index, cards, votes. Lua for every write
that must be atomic; each script touches one hash tag ({room:R}) only.

Each script has one builder: a frozen dataclass of its named inputs (``IngestCall``,
``TransitionCall``, ``VoteCall``, ``SplitCall``, ``MergeCall``) whose ``keys_argv()`` lays
them out as the KEYS and ARGV the script's header documents and whose ``read()`` turns the
reply into an outcome; the outcome's code is an enum (``IngestCode``, ``TransitionCode``,
``VoteCode``, ``SplitCode``, ``MergeCode``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgpack
import orjson

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import members, raw
from live_server.core.scripts import KeysArgv, Script
from live_server.core.util import as_text
from live_server.questions.dedup import DedupIndex
from live_server.questions.models import (
    Group,
    HostAction,
    QuestionCard,
    QuestionSource,
    QuestionStatus,
    Rate,
    iso_ms,
    parse_question_id,
    question_id,
    rank_score,
)

INGEST = Script(__file__, "ingest.lua")
TRANSITION = Script(__file__, "transition.lua")
VOTE = Script(__file__, "vote.lua")
SOURCES = Script(__file__, "sources.lua")
SPLIT = Script(__file__, "split.lua", libraries=[SOURCES])
MERGE = Script(__file__, "merge.lua", libraries=[SOURCES])

REPLAY_TTL_S = 900
GROUP_CACHE_S = 5.0
SEQ_BLOCK = 16  # > the 5 min signature window: a replayed message_id is refused for good

"""A script's KEYS and ARGV, as its builder lays them out."""


# --- ingest.lua ----------------------------------------------------------------------------


class IngestMode(StrEnum):
    """ingest.lua ARGV[1]: create a card, or merge into an existing one."""

    NEW = "new"
    MERGE = "merge"


class IngestCode(StrEnum):
    """What ingest.lua answered (its first reply element)."""

    CREATED = "created"
    MERGED = "merged"
    DUPLICATE = "dup"  # the message_id was accepted before
    STALE = "stale"  # new: cards were created since the caller's index copy; merge: a
    # card was split off since it (the entries come back in both cases)
    GONE = "gone"  # merge: the target card does not exist
    MOVED = "moved"  # merge: a host merged the target into another card (question_id)
    NO_ROOM = "noroom"
    NOT_LIVE = "notlive"
    RATE_LIMITED = "rl"


class RateScope(StrEnum):
    """Which ingest limit refused the question (``rl``)."""

    AUTHOR = "author"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What ingest.lua said."""

    code: IngestCode
    question_id: str = ""  # created, merged, duplicate
    askers: int = 0
    new_asker: bool = False
    room_status: str = ""  # not live: the room's status
    limited_by: RateScope | None = None  # rate limited
    retry_after_ms: int = 0
    entries: list[Any] = field(default_factory=list)  # stale: index entries created meanwhile
    card: tuple[dict[bytes, bytes], set[bytes], set[bytes]] | None = None  # created|merged

    def card_at(self, room_id: str, now_ms: int, half_life_s: float) -> QuestionCard | None:
        """The card as ingest.lua returned it (created or merged outcomes)."""
        if self.card is None:
            return None
        return _card(room_id, *self.card, now_ms, half_life_s)


@dataclass(frozen=True, slots=True)
class IngestCall:
    """ingest.lua's input, by name."""

    room_id: str
    seq: int
    mode: IngestMode
    expected_length: int  # new: the index length matched against; merge: the caller's
    text: str
    lane: str
    held_reason: str
    asker: str
    group_id: str
    store_id: str
    message_id: str
    now_ms: int
    author_rate: Rate
    group_rate: Rate
    source: str = ""  # "group", "viewer", "live_comment:<platform>": the card's sources
    similar_to: str = ""  # new: a close card the host may merge it into ("" none)

    def keys_argv(self) -> KeysArgv:
        room_id, seq, qid = self.room_id, self.seq, question_id(self.room_id, self.seq)
        return (
            [
                keys.room(room_id),
                keys.question_replay(room_id, self.group_id or "-", self.message_id or "-"),
                keys.question_rate(room_id, "author", self.asker),
                keys.question_rate(room_id, "group", self.group_id or "-"),
                keys.question_index(room_id),
                keys.question(room_id, seq),
                keys.question_askers(room_id, seq),
                keys.question_groups(room_id, seq),
                keys.question_stores(room_id, seq),
                keys.question_timeline(room_id),
                keys.room_stats(room_id),
                keys.question_asked(room_id, seq),
                keys.question_split_mark(room_id),
            ],
            [
                self.mode.value,
                self.expected_length,
                qid,
                self.text,
                self.lane,
                self.held_reason,
                self.asker,
                self.group_id,
                self.store_id,
                self.now_ms,
                "1" if self.message_id else "0",
                REPLAY_TTL_S,
                self.author_rate.count,
                int(self.author_rate.window_s * 1000),
                self.group_rate.count if self.group_id else 0,
                int(self.group_rate.window_s * 1000),
                msgpack.packb([qid, self.lane, self.text]),
                self.source,
                self.similar_to,
            ],
        )

    @staticmethod
    def read(reply: list[Any]) -> IngestOutcome:
        """ingest.lua's reply as an :class:`IngestOutcome`."""
        code = IngestCode(as_text(reply[0]))
        if code in (IngestCode.CREATED, IngestCode.MERGED):
            flat = reply[4]
            raw = dict(zip(flat[::2], flat[1::2], strict=True))
            return IngestOutcome(
                code, as_text(reply[1]), int(reply[2]), new_asker=int(reply[3]) == 1,
                card=(raw, set(reply[5]), set(reply[6])),
            )  # fmt: skip
        if code is IngestCode.STALE:
            return IngestOutcome(code, entries=[msgpack.unpackb(raw) for raw in reply[1]])
        if code in (IngestCode.DUPLICATE, IngestCode.MOVED):
            return IngestOutcome(code, as_text(reply[1]))
        if code is IngestCode.NOT_LIVE:
            return IngestOutcome(code, room_status=as_text(reply[1]))
        if code is IngestCode.RATE_LIMITED:
            return IngestOutcome(
                code, limited_by=RateScope(as_text(reply[1])), retry_after_ms=max(0, int(reply[2]))
            )
        return IngestOutcome(code)


# --- transition.lua ------------------------------------------------------------------------


class TransitionCode(StrEnum):
    """What transition.lua answered."""

    OK = "ok"
    NOOP = "noop"  # already in the target status
    REFUSED = "refused"  # not allowed from the current status
    MISSING = "missing"
    STALE = "stale"  # the room's pinned card changed since it was read: retry


@dataclass(frozen=True, slots=True)
class TransitionOutcome:
    code: TransitionCode
    previous: str  # the card's status before
    unpinned: str  # the id of the card this pin returned to new ('' none)


@dataclass(frozen=True, slots=True)
class TransitionCall:
    """transition.lua's input, by name."""

    room_id: str
    seq: int
    action: HostAction
    allowed: frozenset[QuestionStatus]
    target: QuestionStatus
    now_ms: int
    pinned: str  # the room's pinned question id as read ('' none): the script re-checks it

    def keys_argv(self) -> KeysArgv:
        room_id, seq = self.room_id, self.seq
        card_key = keys.question(room_id, seq)
        pinned_key = (
            keys.question(room_id, parse_question_id(self.pinned)[1]) if self.pinned else card_key
        )
        return (
            [
                card_key,
                keys.room(room_id),
                pinned_key,
                keys.question_outbox(room_id),
                keys.question_groups(room_id, seq),
            ],
            [
                self.action.value,
                ",".join(s.value for s in self.allowed),
                self.target.value,
                self.now_ms,
                self.pinned,
                question_id(room_id, seq),
                room_id,
            ],
        )

    @staticmethod
    def read(reply: list[Any]) -> TransitionOutcome:
        """transition.lua's reply as a :class:`TransitionOutcome`."""
        return TransitionOutcome(
            TransitionCode(as_text(reply[0])), as_text(reply[1]), as_text(reply[2])
        )


# --- vote.lua ------------------------------------------------------------------------------


class VoteCode(StrEnum):
    """What vote.lua answered."""

    COUNTED = "ok"
    AGAIN = "again"  # this viewer had already voted
    MISSING = "missing"
    HIDDEN = "hidden"  # held or dismissed: not open for votes
    RATE_LIMITED = "rl"  # the viewer's vote rate
    ADDRESS_CAP = "ip"  # this address has voted enough for this card


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    code: VoteCode
    votes: int
    retry_after_ms: int  # rate limited: the viewer's window's PTTL


@dataclass(frozen=True, slots=True)
class VoteCall:
    """vote.lua's input, by name."""

    room_id: str
    seq: int
    viewer_id: str
    address: str  # the client address ('' unknown)
    rate: Rate
    per_address: int

    def keys_argv(self) -> KeysArgv:
        room_id, seq = self.room_id, self.seq
        return (
            [
                keys.question(room_id, seq),
                keys.question_voters(room_id, seq),
                keys.question_rate(room_id, "vote", self.viewer_id),
                keys.question_vote_addresses(room_id, seq),
            ],
            [
                self.viewer_id,
                self.address or "-",
                self.rate.count,
                int(self.rate.window_s * 1000),
                self.per_address,
            ],
        )

    @staticmethod
    def read(reply: list[Any]) -> VoteOutcome:
        """vote.lua's reply as a :class:`VoteOutcome`."""
        return VoteOutcome(VoteCode(as_text(reply[0])), int(reply[1]), int(reply[2]))


# --- split.lua -----------------------------------------------------------------------------


class SplitCode(StrEnum):
    """What split.lua answered."""

    OK = "ok"
    MISSING = "missing"
    REFUSED = "refused"  # the card was merged into another: it has no askers of its own
    WHOLE = "whole"  # nothing would stay: one asker only, or every asker named
    ABSENT = "absent"  # a named asker is not on the card (split off meanwhile?)
    TAKEN = "taken"  # the new card's id exists: reserve another


@dataclass(frozen=True, slots=True)
class SplitOutcome:
    code: SplitCode
    new_id: str = ""  # ok
    moved: int = 0  # ok: askers moved
    detail: str = ""  # refused: the card's status; absent: the asker


@dataclass(frozen=True, slots=True)
class SplitCall:
    """split.lua's input, by name."""

    room_id: str
    seq: int
    new_seq: int
    askers: Sequence[str]  # empty: the most recent asker to join the card
    now_ms: int

    def keys_argv(self) -> KeysArgv:
        room_id, seq, new = self.room_id, self.seq, self.new_seq
        return (
            [
                keys.question(room_id, seq),
                keys.question_askers(room_id, seq),
                keys.question_groups(room_id, seq),
                keys.question_stores(room_id, seq),
                keys.question_asked(room_id, seq),
                keys.question(room_id, new),
                keys.question_askers(room_id, new),
                keys.question_groups(room_id, new),
                keys.question_stores(room_id, new),
                keys.question_asked(room_id, new),
                keys.question_index(room_id),
                keys.question_timeline(room_id),
                keys.room_stats(room_id),
                keys.question_split_mark(room_id),
            ],
            [
                question_id(room_id, seq),
                question_id(room_id, new),
                self.now_ms,
                orjson.dumps(list(self.askers)) if self.askers else "",
            ],
        )

    @staticmethod
    def read(reply: list[Any]) -> SplitOutcome:
        """split.lua's reply as a :class:`SplitOutcome`."""
        code = SplitCode(as_text(reply[0]))
        if code is SplitCode.OK:
            return SplitOutcome(code, new_id=as_text(reply[1]), moved=int(reply[2]))
        if code in (SplitCode.REFUSED, SplitCode.ABSENT):
            return SplitOutcome(code, detail=as_text(reply[1]))
        return SplitOutcome(code)


# --- merge.lua -----------------------------------------------------------------------------


class MergeCode(StrEnum):
    """What merge.lua answered."""

    OK = "ok"
    NOOP = "noop"  # already merged into that target
    MISSING = "missing"  # which: "card" or "target"
    REFUSED = "refused"  # which card, and its status (only new or pinned cards merge)
    MOVED = "moved"  # the target was merged into another card (into): merge there


@dataclass(frozen=True, slots=True)
class MergeOutcome:
    code: MergeCode
    which: str = ""  # missing, refused: "card" or "target"
    status: str = ""  # refused: that card's status; ok: the card's status before
    into: str = ""  # moved: the card the target was merged into
    pin_passed: bool = False  # ok: the card was pinned, the target is now


@dataclass(frozen=True, slots=True)
class MergeCall:
    """merge.lua's input, by name."""

    room_id: str
    seq: int
    target_seq: int
    now_ms: int

    def keys_argv(self) -> KeysArgv:
        room_id, seq, target = self.room_id, self.seq, self.target_seq
        return (
            [
                keys.question(room_id, seq),
                keys.question_askers(room_id, seq),
                keys.question_groups(room_id, seq),
                keys.question_stores(room_id, seq),
                keys.question_voters(room_id, seq),
                keys.question_vote_addresses(room_id, seq),
                keys.question_asked(room_id, seq),
                keys.question(room_id, target),
                keys.question_askers(room_id, target),
                keys.question_groups(room_id, target),
                keys.question_stores(room_id, target),
                keys.question_voters(room_id, target),
                keys.question_vote_addresses(room_id, target),
                keys.question_asked(room_id, target),
                keys.room(room_id),
                keys.room_stats(room_id),
            ],
            [question_id(room_id, seq), question_id(room_id, target), self.now_ms],
        )

    @staticmethod
    def read(reply: list[Any]) -> MergeOutcome:
        """merge.lua's reply as a :class:`MergeOutcome`."""
        code = MergeCode(as_text(reply[0]))
        if code is MergeCode.OK:
            return MergeOutcome(code, status=as_text(reply[1]), pin_passed=int(reply[2]) == 1)
        if code is MergeCode.MISSING:
            return MergeOutcome(code, which=as_text(reply[1]))
        if code is MergeCode.REFUSED:
            return MergeOutcome(code, which=as_text(reply[1]), status=as_text(reply[2]))
        if code is MergeCode.MOVED:
            return MergeOutcome(code, into=as_text(reply[1]))
        return MergeOutcome(code)


@dataclass(frozen=True, slots=True)
class AskerRecord:
    """One asker of a card and what they asked (``keys.question_asked``); an asker of a
    card older than those records has ``order`` 0 and no text, group or store."""

    asker: str
    order: int
    asked_ms: int
    group_id: str
    store_id: str
    text: str


# --- the store -----------------------------------------------------------------------------


class QuestionStore:
    """Reads and writes of the questions domain (no HTTP, no events)."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._groups: dict[str, tuple[float, Group | None]] = {}
        self._seq_blocks: dict[str, list[int]] = {}
        self._ingest = INGEST.bind(redis)
        self._transition = TRANSITION.bind(redis)
        self._vote = VOTE.bind(redis)
        self._split = SPLIT.bind(redis)
        self._merge = MERGE.bind(redis)

    # --- groups ----------------------------------------------------------------------
    async def group(self, group_id: str) -> Group | None:
        """The group record, cached GROUP_CACHE_S in this process (one HGET per message
        saved; a changed secret or callback_url applies everywhere within that time)."""
        now = time.monotonic()
        cached = self._groups.get(group_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        raw = await self.redis.hget(keys.GROUPS, group_id)
        group = Group.from_record(msgpack.unpackb(raw)) if raw else None
        if len(self._groups) > 10_000:
            self._groups.clear()
        self._groups[group_id] = (now + GROUP_CACHE_S, group)
        return group

    async def lexicon(self, brand: str) -> bytes | None:
        """The brand's lexicon as stored (JSON), or None."""
        value = await self.redis.hget(keys.BRAND_LEXICONS, brand)
        return None if value is None else raw(value)

    async def put_lexicon(self, brand: str, document: bytes) -> None:
        await self.redis.hset(keys.BRAND_LEXICONS, brand, document)

    async def all_groups(self) -> list[Group]:
        """Every group of the registry (a small global hash: one HGETALL)."""
        found = await self.redis.hgetall(keys.GROUPS)
        return [Group.from_record(msgpack.unpackb(v)) for v in found.values()]

    async def put_group(self, group: Group) -> None:
        await self.redis.hset(keys.GROUPS, group.id, msgpack.packb(group.record()))
        self._groups.pop(group.id, None)

    # --- dedup index -------------------------------------------------------------------
    async def sync_index(self, room_id: str, index: DedupIndex) -> None:
        """Apply the room's index entries this process has not seen yet."""
        start = index.length
        entries = await self.redis.lrange(keys.question_index(room_id), start, -1)
        index.apply(start, (msgpack.unpackb(raw) for raw in entries))

    async def next_seq(self, room_id: str) -> int:
        """A question number unique in the room. Numbers are reserved SEQ_BLOCK at a time
        per process (one INCRBY per block), so ids are unique but not dense or ordered
        across workers; the timeline orders cards by creation time."""
        block = self._seq_blocks.get(room_id)
        if block is None or block[0] > block[1]:
            last = int(await self.redis.incrby(keys.question_seq(room_id), SEQ_BLOCK))
            block = [last - SEQ_BLOCK + 1, last]
            self._seq_blocks[room_id] = block
        seq = block[0]
        block[0] += 1
        return seq

    # --- intake ------------------------------------------------------------------------
    async def ingest(self, call: IngestCall) -> IngestOutcome:
        return call.read(await self._ingest(*call.keys_argv()))

    # --- cards -------------------------------------------------------------------------
    async def cards(
        self, room_id: str, seqs: list[int], now_ms: int, half_life_s: float
    ) -> list[QuestionCard]:
        """The cards (in the order asked; missing ones skipped), with their score at ``now_ms``."""
        if not seqs:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for seq in seqs:
                pipe.hgetall(keys.question(room_id, seq))
                pipe.smembers(keys.question_groups(room_id, seq))
                pipe.smembers(keys.question_stores(room_id, seq))
            raw = await pipe.execute()
        out = []
        for i in range(len(seqs)):
            card, groups, stores = raw[3 * i : 3 * i + 3]
            if card:
                out.append(_card(room_id, card, groups, stores, now_ms, half_life_s))
        return out

    async def card(
        self, room_id: str, seq: int, now_ms: int, half_life_s: float
    ) -> QuestionCard | None:
        found = await self.cards(room_id, [seq], now_ms, half_life_s)
        return found[0] if found else None

    async def timeline(self, room_id: str) -> list[int]:
        """Every card's sequence number, newest first."""
        ids = members(await self.redis.zrevrange(keys.question_timeline(room_id), 0, -1))
        return [int(as_text(i).rsplit(".", 1)[1]) for i in ids]

    async def pinned(self, room_id: str) -> str:
        return as_text(await self.redis.hget(keys.room(room_id), "pinned"))

    async def transition(self, call: TransitionCall) -> TransitionOutcome:
        return call.read(await self._transition(*call.keys_argv()))

    async def vote(self, call: VoteCall) -> VoteOutcome:
        return call.read(await self._vote(*call.keys_argv()))

    # --- corrections by the host -------------------------------------------------------
    async def split(self, call: SplitCall) -> SplitOutcome:
        return call.read(await self._split(*call.keys_argv()))

    async def merge(self, call: MergeCall) -> MergeOutcome:
        return call.read(await self._merge(*call.keys_argv()))

    async def askers(self, room_id: str, seq: int) -> list[AskerRecord]:
        """The card's askers in arrival order (those without a record first)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(keys.question_askers(room_id, seq))
            pipe.hgetall(keys.question_asked(room_id, seq))
            askers, asked = await pipe.execute()
        records = {as_text(k): orjson.loads(v) for k, v in asked.items()}
        out = []
        for asker in (as_text(a) for a in askers):
            rec = records.get(asker)
            if rec is None:
                out.append(AskerRecord(asker, 0, 0, "", "", ""))
            else:
                n, ms, group, store, text = rec
                out.append(AskerRecord(asker, int(n), int(ms), str(group), str(store), str(text)))
        out.sort(key=lambda r: (r.order, r.asker))
        return out


def _card(
    room_id: str, raw: dict[bytes, bytes], groups: set[bytes], stores: set[bytes], now_ms: int,
    half_life_s: float,
) -> QuestionCard:  # fmt: skip
    def num(name: str) -> int:
        return int(raw.get(name.encode(), b"0") or 0)

    askers, votes = num("askers"), num("votes")
    group_ids = sorted(as_text(g) for g in groups)
    return QuestionCard(
        id=as_text(raw[b"id"]),
        room_id=room_id,
        text=as_text(raw[b"text"]),
        askers=askers,
        groups=len(group_ids),
        votes=votes,
        status=QuestionStatus(as_text(raw[b"status"])),
        store_ids=sorted(as_text(s) for s in stores),
        group_ids=group_ids,
        created_at=iso_ms(num("created_ms")),
        updated_at=iso_ms(num("updated_ms")),
        score=rank_score(askers, votes, len(group_ids), num("asked_ms"), now_ms, half_life_s),
        held_reason=as_text(raw.get(b"held_reason")) or None,
        merged_into=as_text(raw.get(b"merged_into")) or None,
        similar_to=as_text(raw.get(b"similar_to")) or None,
        sources=_sources(raw),
    )


def _sources(raw: dict[bytes, bytes]) -> list[QuestionSource]:
    """The card's ``src:<source>[:<platform>]`` counters (askers per source)."""
    out = []
    for name, value in raw.items():
        if name.startswith(b"src:"):
            source, _, platform = as_text(name[4:]).partition(":")
            out.append(QuestionSource(source=source, platform=platform or None, askers=int(value)))
    out.sort(key=lambda s: (s.source, s.platform or ""))
    return out
