"""The questions use cases: intake (group bots, viewers), moderation, dedup, ranking,
host actions, votes, and the events each one publishes."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from live_server.core.metrics import Metrics
from live_server.core.tokens import Claims, Role
from live_server.core.util import now_ms
from live_server.questions.dedup import DedupIndex, default_matcher, retail_lexicon
from live_server.questions.matching import Lexicon, Matcher
from live_server.questions.models import (
    TRANSITIONS,
    Asker,
    AskerList,
    BrandLexicon,
    CorrectionRefused,
    Group,
    GroupMessage,
    GroupNotFound,
    GroupOut,
    GroupSpec,
    HostAction,
    IntakeResult,
    JoinGift,
    MergeQuestion,
    MergeResult,
    NoLiveRoom,
    NotYourRoom,
    QuestionCard,
    QuestionConfig,
    QuestionList,
    QuestionNotFound,
    QuestionQuery,
    QuestionRateLimited,
    QuestionStatus,
    SplitQuestion,
    SplitResult,
    TransitionRefused,
    VoteRateLimited,
    VoteRefused,
    VoteResult,
    iso_ms,
    moderate,
    parse_question_id,
    question_id,
    verify_signature,
)
from live_server.questions.store import (
    IngestCall,
    IngestCode,
    IngestMode,
    IngestOutcome,
    MergeCall,
    MergeCode,
    QuestionStore,
    RateScope,
    SplitCall,
    SplitCode,
    TransitionCall,
    TransitionCode,
    VoteCall,
    VoteCode,
)
from live_server.realtime.server import Realtime
from live_server.rooms.models import RoomNotFound, RoomStatus, require_live
from live_server.rooms.service import RoomService

log = logging.getLogger(__name__)

MAX_MATCH_RETRIES = 20
LIVE_ROOM_CACHE_S = 1.0
LEXICON_CACHE_S = 5.0
"""A brand's lexicon is read again this often: a change reaches every worker within it."""
_RETRY_MATCH = frozenset({IngestCode.STALE, IngestCode.GONE})
"""ingest.lua answers after which the match is redone (a card created, or gone, meanwhile)."""


class QuestionService:
    """One per process. Keeps a mirror of each room's dedup index (see keys.question_index)."""

    VOTE_FLUSH_S = 0.25  # vote bursts become at most 4 question.updated per card per second

    def __init__(
        self, store: QuestionStore, rooms: RoomService, realtime: Realtime, config: QuestionConfig,
        metrics: Metrics, on_answer: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.rooms = rooms
        self.rt = realtime
        self.config = config
        self.on_answer = on_answer
        self.group_saved: list[
            Callable[[Group, JoinGift | None], Awaitable[dict[str, Any] | None]]
        ] = []
        """Run after a group is saved (with the join gift asked for, if any); answers the
        group's join gift as it now is (the groups domain, linked in live_server.app)."""
        self.group_asked: list[Callable[[Group, str], Awaitable[None]]] = []
        """Run after a group member's question is accepted (group, author id): the groups
        domain counts it (best effort)."""
        self._indexes: dict[str, DedupIndex] = {}
        self._room_brands: dict[str, str] = {}
        self._matchers: dict[str, tuple[float, bytes | None, Matcher]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._live_rooms: dict[str, tuple[float, str | None]] = {}
        self._dirty: dict[str, set[int]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._merged: dict[str, dict[str, str]] = {}  # room -> card id -> card merged into
        self.intake_total = metrics.counter(
            "live_questions_total", "Questions received, by source and outcome",
            ("source", "outcome"),
        )  # fmt: skip
        self.intake_latency = metrics.histogram(
            "live_question_intake_seconds", "Question intake: request in to card published",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
        )  # fmt: skip
        self.corrections_total = metrics.counter(
            "live_question_corrections_total",
            "Cards a host split or merged by hand (the matcher's misses, live)", ("action",),
        )  # fmt: skip
        self.suggestions_total = metrics.counter(
            "live_question_suggestions_total",
            "Merge suggestions: made (a new card came close to another), accepted (the host "
            "merged it as suggested)", ("outcome",),
        )  # fmt: skip

    # --- intake --------------------------------------------------------------------------
    async def signed_group(
        self, group_id: str, raw_body: bytes, timestamp: str | None, signature: str | None
    ) -> Group:
        """The group whose secret signed this body (404 unknown group, 401 bad or stale
        signature), checked before the body is read as a message."""
        group = await self.store.group(group_id)
        if group is None:
            raise GroupNotFound(f"no group {group_id!r}")
        verify_signature(group.secret, timestamp, signature, raw_body, time.time())
        return group

    async def intake_group(self, group: Group, message: GroupMessage) -> IntakeResult:
        """A message from a community-group bot whose signature was checked."""
        room_id = await self._live_room(group.brand, group.store_id)
        if room_id is None:
            self.intake_total.labels("group", "no_live_room").inc()
            raise NoLiveRoom(
                f"no room is live for brand {group.brand!r}; the question was not stored, "
                "send it again once the broadcast has started"
            )
        self._room_brands.setdefault(room_id, group.brand)
        result = await self._accept(
            room_id, message.text, asker=f"g:{group.id}:{message.author_id}", group_id=group.id,
            store_id=group.store_id, message_id=message.message_id, source="group",
        )  # fmt: skip
        if not result.duplicate:
            for hook in self.group_asked:
                try:
                    await hook(group, message.author_id)
                except Exception:  # a counter must not fail an accepted question
                    log.exception("group question hook failed", extra={"group": group.id})
        return result

    async def _live_room(self, brand: str, store_id: str) -> str | None:
        """The live room of the group's store, else the brand's main room; cached
        LIVE_ROOM_CACHE_S (ingest.lua re-checks the room is live; a "not live" answer
        drops the cache)."""
        now = time.monotonic()
        cache_key = f"{brand}\x00{store_id}"
        cached = self._live_rooms.get(cache_key)
        if cached is not None and cached[0] > now:
            return cached[1]
        room_id = await self.rooms.live_room_for_brand(brand, store_id or None)
        self._live_rooms[cache_key] = (now + LIVE_ROOM_CACHE_S, room_id)
        return room_id

    async def ask_live_comment(
        self, room_id: str, platform: str, user_id: str, text: str, message_id: str
    ) -> IntakeResult:
        """A comment from the live platform's room that reads as a question: the same
        pipeline (moderation, merging, ranking) with ``source: live_comment`` and the
        platform on the card's sources."""
        return await self._accept(
            room_id, text, asker=f"p:{platform}:{user_id}", group_id="", store_id="",
            message_id=f"{platform}:{message_id}", source="live_comment", platform=platform,
        )  # fmt: skip

    async def ask_viewer(self, room_id: str, viewer_id: str, text: str) -> IntakeResult:
        """A question typed in the widget by a viewer of the room."""
        return await self._accept(
            room_id, text, asker=f"v:{viewer_id}", group_id="", store_id="", message_id="",
            source="viewer",
        )  # fmt: skip

    def _create_lock(self, room_id: str) -> asyncio.Lock:
        lock = self._locks.get(room_id)
        if lock is None:
            lock = self._locks[room_id] = asyncio.Lock()
        return lock

    async def _index(self, room_id: str) -> DedupIndex:
        """The room's index, read by the matcher of the room's brand (its lexicon)."""
        brand = self._room_brands.get(room_id)
        if brand is None:
            brand = self._room_brands[room_id] = (await self.rooms.get(room_id)).brand
        matcher = await self.matcher(brand)
        index = self._indexes.get(room_id)
        if index is None:
            index = self._indexes[room_id] = DedupIndex(matcher)
        elif index.matcher is not matcher:  # the lexicon changed: read the cards again
            index = self._indexes[room_id] = index.rebuilt(matcher)
        return index

    async def matcher(self, brand: str) -> Matcher:
        """The brand's matcher: the generic retail vocabulary plus the brand's lexicon."""
        now = time.monotonic()
        cached = self._matchers.get(brand)
        if cached is not None and cached[0] > now:
            return cached[2]
        document = await self.store.lexicon(brand)
        if cached is not None and cached[1] == document:
            matcher = cached[2]
        elif document is None:
            matcher = default_matcher()
        else:
            own = Lexicon.from_json(orjson.loads(document))
            matcher = Matcher(retail_lexicon().merged(own))
        self._matchers[brand] = (now + LEXICON_CACHE_S, document, matcher)
        return matcher

    async def put_lexicon(self, brand: str, lexicon: BrandLexicon) -> BrandLexicon:
        """Replace the brand's vocabulary; cards are read again with it (this worker at
        once, the others within LEXICON_CACHE_S)."""
        document = lexicon.model_dump_json().encode()
        await self.store.put_lexicon(brand, document)
        self._matchers.pop(brand, None)
        return lexicon

    async def get_lexicon(self, brand: str) -> BrandLexicon:
        document = await self.store.lexicon(brand)
        if document is None:
            return BrandLexicon()
        return BrandLexicon.model_validate_json(document)

    async def _accept(
        self, room_id: str, text: str, *, asker: str, group_id: str, store_id: str,
        message_id: str, source: str, platform: str = "",
    ) -> IntakeResult:  # fmt: skip
        started = time.perf_counter()
        try:
            verdict = moderate(text, self.config)
        except Exception:
            self.intake_total.labels(source, "rejected").inc()
            raise
        index = await self._index(room_id)
        fp = index.read(verdict.text)

        def ingest(
            mode: IngestMode, target: int, expected: int, similar_to: str = ""
        ) -> Awaitable[IngestOutcome]:
            return self.store.ingest(IngestCall(
                room_id=room_id, seq=target, mode=mode, expected_length=expected,
                text=verdict.text, lane=verdict.lane, held_reason=verdict.reason or "",
                asker=asker, group_id=group_id, store_id=store_id, message_id=message_id,
                now_ms=now_ms(), author_rate=self.config.author_rate,
                group_rate=self.config.group_rate,
                source=f"{source}:{platform}" if platform else source,
                similar_to=similar_to,
            ))  # fmt: skip

        # Merges run concurrently. Creating a card is serialised per room in this process,
        # against the in-memory index (no round trip but the create itself); a card created
        # meanwhile by another worker makes ingest.lua answer "stale" with the new entries,
        # and the match is redone.
        if index.length == 0:
            await self.store.sync_index(room_id, index)  # first question here: load the room
        # No sync per message: cards other workers created meanwhile come back with the
        # "stale" answer to a create, which is the only step that needs them.
        match = index.best_match(fp, verdict.lane)
        outcome: IngestOutcome | None = None
        if match is not None:
            outcome = await self._merge_into(room_id, index, match, ingest)
        if outcome is None or outcome.code in _RETRY_MATCH:
            seq = await self.store.next_seq(room_id)
            async with self._create_lock(room_id):
                for _attempt in range(MAX_MATCH_RETRIES):
                    match, close = index.match_or_suggestion(fp, verdict.lane)
                    if match is not None:
                        outcome = await self._merge_into(room_id, index, match, ingest)
                    else:
                        expected = index.length
                        # close but not the same: the host is offered the merge
                        similar = close or ""
                        outcome = await ingest(IngestMode.NEW, seq, expected, similar)
                        if similar and outcome.code is IngestCode.CREATED:
                            self.suggestions_total.labels("made").inc()
                        if outcome.code is IngestCode.STALE:
                            index.apply(expected, outcome.entries)
                        elif outcome.code is IngestCode.CREATED:
                            index.apply(
                                expected, [(outcome.question_id, verdict.lane, verdict.text)], fp
                            )
                    if outcome.code not in _RETRY_MATCH:
                        break
                else:
                    raise RuntimeError(f"question intake kept racing in room {room_id}")
        assert outcome is not None
        if outcome.code is IngestCode.NO_ROOM:
            raise RoomNotFound(f"no room {room_id!r}")
        if outcome.code is IngestCode.NOT_LIVE:
            self.intake_total.labels(source, "not_live").inc()
            if source == "group":
                self._live_rooms.clear()
                raise NoLiveRoom(
                    f"room {room_id} is {outcome.room_status}; the question was not stored"
                )
            require_live(RoomStatus(outcome.room_status))
        if outcome.code is IngestCode.RATE_LIMITED:
            self.intake_total.labels(source, "rate_limited").inc()
            who = "this member" if outcome.limited_by is RateScope.AUTHOR else "this group"
            raise QuestionRateLimited(
                f"{who} has sent too many questions; try again shortly",
                retry_after=max(1.0, outcome.retry_after_ms / 1000),
            )
        if outcome.code is IngestCode.DUPLICATE:
            self.intake_total.labels(source, "duplicate").inc()
            qseq = parse_question_id(outcome.question_id)[1]
            first = await self.store.card(room_id, qseq, now_ms(), self.config.half_life_s)
            if first is None:  # pragma: no cover - cards are never deleted
                raise QuestionNotFound(f"no question {outcome.question_id!r}")
            return _result(first, merged=False, duplicate=True)
        card = outcome.card_at(room_id, now_ms(), self.config.half_life_s)
        assert card is not None, outcome.code
        if outcome.code is IngestCode.CREATED:
            await self.rt.to_host(room_id, "question.new", card_event(card))
        elif outcome.new_asker or group_id:
            await self.rt.to_host(room_id, "question.updated", card_event(card))
        held = card.status is QuestionStatus.HELD
        self.intake_total.labels(source, "held" if held else outcome.code.value).inc()
        self.intake_latency.observe(time.perf_counter() - started)
        return _result(card, merged=outcome.code is IngestCode.MERGED, duplicate=False)

    async def _merge_into(
        self, room_id: str, index: DedupIndex, match: str,
        ingest: Callable[[IngestMode, int, int], Awaitable[IngestOutcome]],
    ) -> IngestOutcome:  # fmt: skip
        """Merge into the matched card or, when a host merged that card into another, into
        that one (ingest.lua answers "moved"; remembered in this process, merged is final).
        A card split off since this index copy makes ingest.lua answer "stale" with the
        entries, applied here; the caller then matches again."""
        aliases = self._merged.setdefault(room_id, {})
        target = aliases.get(match, match)
        for _attempt in range(MAX_MATCH_RETRIES):
            expected = index.length
            outcome = await ingest(IngestMode.MERGE, parse_question_id(target)[1], expected)
            if outcome.code is IngestCode.STALE:
                index.apply(expected, outcome.entries)
            if outcome.code is not IngestCode.MOVED:
                return outcome
            aliases[match] = target = outcome.question_id
        raise RuntimeError(f"question {match} was merged in a chain longer than expected")

    # --- reading -------------------------------------------------------------------------
    async def list(self, room_id: str, query: QuestionQuery) -> QuestionList:
        """The room's cards filtered by status/store/group, newest first or top first."""
        await self.rooms.get(room_id)  # 404 for an unknown room
        seqs = await self.store.timeline(room_id)
        cards = await self.store.cards(room_id, seqs, now_ms(), self.config.half_life_s)
        statuses = query.statuses()
        if statuses:
            cards = [c for c in cards if c.status in statuses]
        else:  # merged cards only when asked for: their askers are on another card
            cards = [c for c in cards if c.status is not QuestionStatus.MERGED]
        if query.store:
            cards = [c for c in cards if query.store in c.store_ids]
        if query.group:
            cards = [c for c in cards if query.group in c.group_ids]
        if query.sort == "top":
            cards.sort(key=lambda c: (-c.score, -c.askers, c.created_at))
        return QuestionList(room_id=room_id, sort=query.sort, questions=cards[: query.limit])

    async def get(self, claims: Claims, qid: str) -> QuestionCard:
        room_id, seq = self._owned(claims, qid)
        card = await self.store.card(room_id, seq, now_ms(), self.config.half_life_s)
        if card is None:
            raise QuestionNotFound(f"no question {qid!r}")
        return card

    @staticmethod
    def _owned(claims: Claims, qid: str) -> tuple[str, int]:
        room_id, seq = parse_question_id(qid)
        if claims.role is not Role.OPS and claims.scope != room_id:
            raise NotYourRoom("this question belongs to another room than your token")
        return room_id, seq

    async def pinned_state(self, room_id: str, claims: Claims) -> dict[str, Any]:
        """The ``pinned`` part of room.state: the pinned question (viewer shape) or None."""
        pinned = await self.store.pinned(room_id)
        if not pinned:
            return {"pinned": None}
        card = await self.store.card(
            room_id, parse_question_id(pinned)[1], now_ms(), self.config.half_life_s
        )
        return {"pinned": public_event(card) if card is not None else None}

    # --- host actions --------------------------------------------------------------------
    async def act(self, claims: Claims, qid: str, action: HostAction) -> QuestionCard:
        """Pin, answer, dismiss, restore or approve a card, and tell everyone concerned."""
        room_id, seq = self._owned(claims, qid)
        allowed, target = TRANSITIONS[action]
        if action is HostAction.ANSWER and self.on_answer is not None:
            # List the room's outbox before the notices exist: a crash between the answer
            # and a later follow-up can then never strand them (an extra listing is harmless).
            await self.on_answer(room_id)
        for _attempt in range(MAX_MATCH_RETRIES):
            pinned = await self.store.pinned(room_id)
            outcome = await self.store.transition(TransitionCall(
                room_id=room_id, seq=seq, action=action, allowed=allowed, target=target,
                now_ms=now_ms(), pinned=pinned,
            ))  # fmt: skip
            if outcome.code is not TransitionCode.STALE:
                break
        else:
            raise RuntimeError(f"pinning kept racing in room {room_id}")
        if outcome.code is TransitionCode.MISSING:
            raise QuestionNotFound(f"no question {qid!r}")
        if outcome.code is TransitionCode.REFUSED:
            raise TransitionRefused(f"cannot {action.value} a question that is {outcome.previous}")
        card = await self.store.card(room_id, seq, now_ms(), self.config.half_life_s)
        assert card is not None
        if outcome.code is TransitionCode.NOOP:
            return card
        await self.rt.to_host(room_id, "question.updated", card_event(card))
        if outcome.unpinned:
            other_seq = parse_question_id(outcome.unpinned)[1]
            other = await self.store.card(room_id, other_seq, now_ms(), self.config.half_life_s)
            if other is not None:
                await self.rt.to_host(room_id, "question.updated", card_event(other))
        if action is HostAction.PIN:
            await self.rt.to_viewers(room_id, "question.pinned", public_event(card))
        elif action is HostAction.ANSWER:
            await self.rt.to_viewers(room_id, "question.answered", public_event(card))
            if card.group_ids and self.on_answer is not None:
                await self.on_answer(room_id)  # wake the delivery worker now
        elif outcome.previous == QuestionStatus.PINNED.value:
            # Dismissed or restored while pinned: viewers drop the banner.
            await self.rt.to_viewers(
                room_id, "question.unpinned", {"id": card.id, "room_id": room_id}
            )
        return card

    # --- corrections by the host ---------------------------------------------------------
    async def askers(self, claims: Claims, qid: str) -> AskerList:
        """Who asked the card, and what each of them asked (split by these ids)."""
        room_id, seq = self._owned(claims, qid)
        if await self.store.card(room_id, seq, now_ms(), self.config.half_life_s) is None:
            raise QuestionNotFound(f"no question {qid!r}")
        return AskerList(question_id=qid, askers=[
            Asker(
                id=r.asker, text=r.text if r.order else None, group_id=r.group_id or None,
                store_id=r.store_id or None, asked_at=iso_ms(r.asked_ms) if r.order else None,
            )
            for r in await self.store.askers(room_id, seq)
        ])  # fmt: skip

    async def split(self, claims: Claims, qid: str, body: SplitQuestion) -> SplitResult:
        """Move askers off a card into a new open card (the matcher merged different
        questions). Atomic (split.lua); the new card joins the room's index on every worker."""
        room_id, seq = self._owned(claims, qid)
        if await self.store.card(room_id, seq, now_ms(), self.config.half_life_s) is None:
            raise QuestionNotFound(f"no question {qid!r}")  # before reserving an id for it
        askers = list(dict.fromkeys(body.askers or ()))
        for _attempt in range(MAX_MATCH_RETRIES):
            new_seq = await self.store.next_seq(room_id)
            outcome = await self.store.split(
                SplitCall(room_id=room_id, seq=seq, new_seq=new_seq, askers=askers, now_ms=now_ms())
            )
            if outcome.code is not SplitCode.TAKEN:
                break
        else:  # pragma: no cover - ids are reserved with INCRBY
            raise RuntimeError(f"no free question id in room {room_id}")
        if outcome.code is SplitCode.MISSING:
            raise QuestionNotFound(f"no question {qid!r}")
        if outcome.code is SplitCode.REFUSED:
            raise CorrectionRefused(f"cannot split a question that is {outcome.detail}")
        if outcome.code is SplitCode.WHOLE:
            raise CorrectionRefused(
                "nothing would stay on the question: it has one asker, or every asker was named"
            )
        if outcome.code is SplitCode.ABSENT:
            raise CorrectionRefused(f"{outcome.detail!r} is not an asker of this question")
        self.corrections_total.labels("split").inc()
        index = self._indexes.get(room_id)
        if index is not None:  # this worker learns the new card now, others at their next merge
            await self.store.sync_index(room_id, index)
        original, new = await self._cards(room_id, seq, new_seq)
        await self.rt.to_host(room_id, "question.updated", card_event(original))
        await self.rt.to_host(room_id, "question.new", card_event(new))
        return SplitResult(question=original, new_question=new)

    async def merge(self, claims: Claims, qid: str, body: MergeQuestion) -> MergeResult:
        """Merge a card into another of its room (the matcher missed a duplicate). Atomic
        (merge.lua) and idempotent; questions that would have joined the card join the
        target from then on."""
        room_id, seq = self._owned(claims, qid)
        target_room, target_seq = self._owned(claims, body.into)
        if target_room != room_id:
            raise CorrectionRefused("both questions must be of the same room")
        for _attempt in range(MAX_MATCH_RETRIES):
            if target_seq == seq:
                raise CorrectionRefused("a question cannot be merged into itself")
            outcome = await self.store.merge(
                MergeCall(room_id=room_id, seq=seq, target_seq=target_seq, now_ms=now_ms())
            )
            if outcome.code is not MergeCode.MOVED:
                break
            target_seq = parse_question_id(outcome.into)[1]  # merged meanwhile: follow it
        else:  # pragma: no cover - a chain of merges as long as the retries
            raise RuntimeError(f"merging kept racing in room {room_id}")
        target = question_id(room_id, target_seq)
        if outcome.code is MergeCode.MISSING:
            raise QuestionNotFound(f"no question {qid if outcome.which == 'card' else target!r}")
        if outcome.code is MergeCode.REFUSED:
            which = "the question" if outcome.which == "card" else f"the target {target}"
            raise CorrectionRefused(
                f"cannot merge: {which} is {outcome.status} (only new or pinned questions merge)"
            )
        card, into = await self._cards(room_id, seq, target_seq)
        if outcome.code is MergeCode.NOOP:
            return MergeResult(question=card, into=into)
        self.corrections_total.labels("merge").inc()
        if card.similar_to is not None and card.similar_to in (body.into, target):
            self.suggestions_total.labels("accepted").inc()
        self._merged.setdefault(room_id, {})[qid] = target
        await self.rt.to_host(room_id, "question.updated", card_event(into))
        await self.rt.to_host(room_id, "question.updated", card_event(card))
        if outcome.pin_passed:
            await self.rt.to_viewers(room_id, "question.pinned", public_event(into))
        return MergeResult(question=card, into=into)

    async def _cards(self, room_id: str, *seqs: int) -> tuple[QuestionCard, ...]:
        """These cards, all of which exist (cards are never deleted)."""
        cards = await self.store.cards(room_id, [*seqs], now_ms(), self.config.half_life_s)
        if len(cards) != len(seqs):  # pragma: no cover - cards are never deleted
            raise QuestionNotFound(f"a question of room {room_id} is missing")
        return tuple(cards)

    # --- community groups ----------------------------------------------------------------
    async def put_group(self, group_id: str, spec: GroupSpec) -> GroupOut:
        """Create or update a group; without a secret, a new group gets a generated one
        (an existing group keeps its own)."""
        existing = await self.store.group(group_id)
        secret = spec.secret or (existing.secret if existing else secrets.token_urlsafe(30))
        group = Group(
            id=group_id, store_id=spec.store_id, name=spec.name, brand=spec.brand,
            secret=secret, callback_url=spec.callback_url, guide_id=spec.guide_id,
        )  # fmt: skip
        await self.store.put_group(group)
        gift = None
        for hook in self.group_saved:  # the groups domain: the join gift (live_server.app)
            gift = await hook(group, spec.join_gift) or gift
        return GroupOut(**group.record(), join_gift=gift)

    # --- votes ---------------------------------------------------------------------------
    async def vote(self, claims: Claims, qid: str, address: str) -> VoteResult:
        """One upvote per viewer; per-viewer rate and per-address cap against stuffing."""
        room_id, seq = self._owned(claims, qid)
        outcome = await self.store.vote(VoteCall(
            room_id=room_id, seq=seq, viewer_id=claims.subject, address=address,
            rate=self.config.vote_rate, per_address=self.config.votes_per_ip,
        ))  # fmt: skip
        code = outcome.code
        if code is VoteCode.MISSING:
            raise QuestionNotFound(f"no question {qid!r}")
        if code is VoteCode.HIDDEN:
            raise VoteRefused("this question is not open for votes")
        if code is VoteCode.RATE_LIMITED:
            raise VoteRateLimited(
                "too many votes; try again shortly",
                retry_after=max(1.0, outcome.retry_after_ms / 1000),
            )
        if code is VoteCode.ADDRESS_CAP:
            raise VoteRateLimited("this network has already voted for this question many times")
        if code is VoteCode.COUNTED:
            self._mark_dirty(room_id, seq)
        return VoteResult(question_id=qid, votes=outcome.votes, counted=code is VoteCode.COUNTED)

    def _mark_dirty(self, room_id: str, seq: int) -> None:
        self._dirty.setdefault(room_id, set()).add(seq)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_votes())

    async def _flush_votes(self) -> None:
        await asyncio.sleep(self.VOTE_FLUSH_S)
        dirty, self._dirty = self._dirty, {}
        for room_id, seqs in dirty.items():
            try:
                for card in await self.store.cards(
                    room_id, sorted(seqs), now_ms(), self.config.half_life_s
                ):
                    await self.rt.to_host(room_id, "question.updated", card_event(card))
            except Exception:  # a failed flush must not stop later ones
                log.exception("vote flush failed for room %s", room_id)

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()


def _result(card: QuestionCard, *, merged: bool, duplicate: bool) -> IntakeResult:
    return IntakeResult(
        question_id=card.id, room_id=card.room_id, status=card.status, merged=merged,
        duplicate=duplicate, askers=card.askers,
    )  # fmt: skip


def card_event(card: QuestionCard) -> dict[str, Any]:
    """The /host event payload: the card itself (flat) — what GET .../questions lists."""
    return card.model_dump(mode="json")


def public_event(card: QuestionCard) -> dict[str, Any]:
    """The /live (viewers) payload: no group or store ids."""
    return {
        "id": card.id, "room_id": card.room_id, "text": card.text, "askers": card.askers,
        "groups": card.groups, "votes": card.votes, "status": card.status.value,
    }  # fmt: skip
