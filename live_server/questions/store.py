"""Redis access for questions: groups, the dedup index, cards, votes. Lua for every write
that must be atomic; each script touches one hash tag ({room:R}) only."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from live_server.core import keys
from live_server.core.redis_conn import RedisClient
from live_server.core.redis_types import members
from live_server.core.util import as_text
from live_server.questions.dedup import DedupIndex
from live_server.questions.models import (
    Group,
    QuestionCard,
    QuestionStatus,
    iso_ms,
    question_id,
    rank_score,
)

_HERE = Path(__file__).parent
REPLAY_TTL_S = 900
GROUP_CACHE_S = 5.0
SEQ_BLOCK = 16  # > the 5 min signature window: a replayed message_id is refused for good


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What ingest.lua said: ``code`` is created|merged|dup|stale|gone|noroom|notlive|rl."""

    code: str
    question_id: str = ""
    askers: int = 0
    new_asker: bool = False
    detail: str = ""
    retry_after_ms: int = 0
    entries: list[Any] = field(default_factory=list)  # stale: index entries created meanwhile
    card: tuple[dict[bytes, bytes], set[bytes], set[bytes]] | None = None  # created|merged

    def card_at(self, room_id: str, now_ms: int, half_life_s: float) -> QuestionCard | None:
        """The card as ingest.lua returned it (created or merged outcomes)."""
        if self.card is None:
            return None
        return _card(room_id, *self.card, now_ms, half_life_s)


@dataclass(frozen=True, slots=True)
class TransitionOutcome:
    code: str  # ok | noop | refused | missing | stale
    previous: str
    unpinned: str


class QuestionStore:
    """Reads and writes of the questions domain (no HTTP, no events)."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._groups: dict[str, tuple[float, Group | None]] = {}
        self._seq_blocks: dict[str, list[int]] = {}
        self._ingest = redis.register_script((_HERE / "ingest.lua").read_text())
        self._transition = redis.register_script((_HERE / "transition.lua").read_text())
        self._vote = redis.register_script((_HERE / "vote.lua").read_text())

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
    async def ingest(
        self, *, room_id: str, seq: int, mode: str, expected_length: int, text: str, lane: str,
        held_reason: str, asker: str, group_id: str, store_id: str, message_id: str,
        now_ms: int, author_limit: tuple[int, float], group_limit: tuple[int, float],
    ) -> IngestOutcome:  # fmt: skip
        qid = question_id(room_id, seq)
        author_key = asker
        result = await self._ingest(
            keys=[
                keys.room(room_id),
                keys.question_replay(room_id, group_id or "-", message_id or "-"),
                keys.question_rate(room_id, "author", author_key),
                keys.question_rate(room_id, "group", group_id or "-"),
                keys.question_index(room_id),
                keys.question(room_id, seq),
                keys.question_askers(room_id, seq),
                keys.question_groups(room_id, seq),
                keys.question_stores(room_id, seq),
                keys.question_timeline(room_id),
                keys.room_stats(room_id),
            ],
            args=[
                mode,
                expected_length,
                qid,
                text,
                lane,
                held_reason,
                asker,
                group_id,
                store_id,
                now_ms,
                "1" if message_id else "0",
                REPLAY_TTL_S,
                author_limit[0],
                int(author_limit[1] * 1000),
                group_limit[0] if group_id else 0,
                int(group_limit[1] * 1000),
                msgpack.packb([qid, lane, text]),
            ],
        )
        code = as_text(result[0])
        if code in ("created", "merged"):
            flat = result[4]
            raw = dict(zip(flat[::2], flat[1::2], strict=True))
            return IngestOutcome(
                code, as_text(result[1]), int(result[2]), new_asker=int(result[3]) == 1,
                card=(raw, set(result[5]), set(result[6])),
            )  # fmt: skip
        if code == "stale":
            return IngestOutcome(code, entries=[msgpack.unpackb(raw) for raw in result[1]])
        if code == "dup":
            return IngestOutcome(code, as_text(result[1]))
        if code == "notlive":
            return IngestOutcome(code, detail=as_text(result[1]))
        if code == "rl":
            return IngestOutcome(
                code, detail=as_text(result[1]), retry_after_ms=max(0, int(result[2]))
            )
        return IngestOutcome(code)

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

    async def transition(
        self, *, room_id: str, seq: int, action: str, allowed: str, target: str, now_ms: int,
        expected_pinned: str, pinned_seq: int | None,
    ) -> TransitionOutcome:  # fmt: skip
        card_key = keys.question(room_id, seq)
        result = await self._transition(
            keys=[
                card_key,
                keys.room(room_id),
                keys.question(room_id, pinned_seq) if pinned_seq is not None else card_key,
                keys.question_outbox(room_id),
                keys.question_groups(room_id, seq),
            ],
            args=[
                action,
                allowed,
                target,
                now_ms,
                expected_pinned,
                question_id(room_id, seq),
                room_id,
            ],
        )
        return TransitionOutcome(as_text(result[0]), as_text(result[1]), as_text(result[2]))

    async def vote(
        self,
        *,
        room_id: str,
        seq: int,
        viewer_id: str,
        address: str,
        rate: tuple[int, float],
        per_address: int,
    ) -> tuple[str, int, int]:
        result = await self._vote(
            keys=[
                keys.question(room_id, seq),
                keys.question_voters(room_id, seq),
                keys.question_rate(room_id, "vote", viewer_id),
                keys.question_vote_addresses(room_id, seq),
            ],
            args=[viewer_id, address, rate[0], int(rate[1] * 1000), per_address],
        )
        return as_text(result[0]), int(result[1]), int(result[2])


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
    )


def card_event(card: QuestionCard) -> dict[str, Any]:
    """The /host event payload: the card itself (flat) — what GET .../questions lists."""
    return card.model_dump(mode="json")


def public_event(card: QuestionCard) -> dict[str, Any]:
    """The /live (viewers) payload: no group or store ids."""
    return {
        "id": card.id, "room_id": card.room_id, "text": card.text, "askers": card.askers,
        "groups": card.groups, "votes": card.votes, "status": card.status.value,
    }  # fmt: skip
