"""Questions domain: shapes, errors, moderation, ranking, configuration. Pure, no I/O.

A *card* is one question as the host sees it: the first wording, plus every member who
asked the same thing (in any group, or from the widget), merged by :mod:`.dedup`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from live_server.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from live_server.questions.matching import normalise

# --- statuses and transitions -------------------------------------------------------------


class QuestionStatus(StrEnum):
    NEW = "new"
    HELD = "held"
    PINNED = "pinned"
    ANSWERED = "answered"
    DISMISSED = "dismissed"
    MERGED = "merged"  # a host merged it into another card (``merged_into``); final


class HostAction(StrEnum):
    PIN = "pin"
    ANSWER = "answer"
    DISMISS = "dismiss"
    RESTORE = "restore"
    APPROVE = "approve"


S = QuestionStatus
# action -> (statuses it applies to, resulting status). Repeating an action on a card
# already in the resulting status is a no-op (200, no event, no second webhook).
TRANSITIONS: dict[HostAction, tuple[frozenset[QuestionStatus], QuestionStatus]] = {
    HostAction.PIN: (frozenset({S.NEW}), S.PINNED),
    HostAction.ANSWER: (frozenset({S.NEW, S.PINNED}), S.ANSWERED),
    HostAction.DISMISS: (frozenset({S.NEW, S.HELD, S.PINNED}), S.DISMISSED),
    HostAction.RESTORE: (frozenset({S.ANSWERED, S.DISMISSED, S.PINNED}), S.NEW),
    HostAction.APPROVE: (frozenset({S.HELD}), S.NEW),
}

LANE_OPEN, LANE_HELD = "open", "held"

# --- ids ------------------------------------------------------------------------------------


def question_id(room_id: str, seq: int) -> str:
    """``q.<room>.<n>``: the id names its room, so ``/questions/{id}`` finds the
    ``{room:R}`` hash tag without a lookup."""
    return f"q.{room_id}.{seq}"


def parse_question_id(qid: str) -> tuple[str, int]:
    """(room id, sequence number) of a question id; :class:`QuestionNotFound` if malformed."""
    prefix, _, rest = qid.partition(".")
    room_id, _, seq = rest.rpartition(".")
    if prefix != "q" or not room_id or not seq.isdigit() or len(qid) > 200:
        raise QuestionNotFound(f"no question {qid!r}")
    return room_id, int(seq)


# --- errors ------------------------------------------------------------------------------


class QuestionNotFound(NotFound):
    title, slug = "Question not found", "question-not-found"


class GroupNotFound(NotFound):
    title, slug = "Group not found", "group-not-found"


class SignatureInvalid(Unauthorized):
    title, slug = "Webhook signature invalid", "signature-invalid"


class NoLiveRoom(Conflict):
    title, slug = "No room is live for this group", "no-live-room"


class QuestionRejected(Unprocessable):
    title, slug = "Question rejected", "question-rejected"


class QuestionRateLimited(TooManyRequests):
    title, slug = "Too many questions", "question-rate-limited"


class VoteRateLimited(TooManyRequests):
    title, slug = "Too many votes", "vote-rate-limited"


class TransitionRefused(Conflict):
    title, slug = "Question cannot do that now", "question-transition"


class NotYourRoom(Forbidden):
    title, slug = "Question of another room", "question-other-room"


class VoteRefused(Conflict):
    title, slug = "Cannot vote for this question", "vote-refused"


class CorrectionRefused(Conflict):
    title, slug = "Cannot split or merge this question now", "question-correction"


# --- request and response shapes ---------------------------------------------------------


class GroupMessage(BaseModel):
    """What a community-group bot posts (signed, see docs/QUESTIONS.md)."""

    model_config = ConfigDict(extra="ignore")
    message_id: str = Field(min_length=1, max_length=128)
    author_id: str = Field(min_length=1, max_length=128)
    author_name: str = Field(default="", max_length=100)
    text: str = Field(min_length=1, max_length=4000)
    sent_at: str | float = Field(description="ISO-8601 or unix seconds")

    @field_validator("sent_at")
    @classmethod
    def _time(cls, value: str | float) -> str | float:
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                try:
                    float(value)
                except ValueError as exc:
                    raise ValueError("sent_at must be ISO-8601 or unix seconds") from exc
        return value


class AskQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class QuestionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: list[QuestionStatus] | None = Field(
        default=None, description="one status, or several (repeat the parameter or comma-separate)"
    )
    sort: Literal["new", "top"] = "new"
    store: str | None = Field(default=None, max_length=100)
    group: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=100, ge=1, le=500)

    @field_validator("status", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """``open,held``, ``status=open&status=held`` and ``status=`` (no filter) alike:
        always a list, so a wrong value is named with the allowed ones."""
        parts = [value] if isinstance(value, str) else value
        if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
            return value
        found = [v.strip() for p in parts for v in p.split(",") if v.strip()]
        return found or None

    def statuses(self) -> frozenset[QuestionStatus]:
        return frozenset(self.status or ())


class QuestionSource(BaseModel):
    """Where a card's askers came from: ``group``, ``viewer`` (the widget) or
    ``live_comment`` (a comment in the live platform's room, with its ``platform``)."""

    source: str
    platform: str | None = None
    askers: int


class QuestionCard(BaseModel):
    """One merged question: ``askers`` members in ``groups`` groups asked it."""

    id: str
    room_id: str
    text: str
    askers: int
    groups: int
    votes: int
    status: QuestionStatus
    store_ids: list[str]
    group_ids: list[str]
    created_at: str
    updated_at: str
    score: float
    held_reason: str | None = None
    merged_into: str | None = Field(
        default=None, description="status merged: the card its askers now belong to"
    )
    sources: list[QuestionSource] = Field(
        default_factory=list, description="askers per source (group, viewer, live_comment)"
    )
    similar_to: str | None = Field(
        default=None,
        description=(
            "a card of the room this question came close to when it was created, not close "
            "enough to merge by itself: a merge suggestion for the host (POST "
            "/api/v1/questions/{id}/merge with into = this id); null when none"
        ),
    )


class QuestionList(BaseModel):
    room_id: str
    sort: str
    questions: list[QuestionCard]


class IntakeResult(BaseModel):
    """Answer to a group bot or a viewer: where the message went."""

    question_id: str
    room_id: str
    status: QuestionStatus
    merged: bool = Field(description="joined an existing card (a near-duplicate)")
    duplicate: bool = Field(description="this message_id was already accepted; nothing changed")
    askers: int


class SplitQuestion(BaseModel):
    """``POST /questions/{id}/split``: which askers leave the card (the ``id`` of
    ``GET /questions/{id}/askers``); without them (or with an empty body), the most recent
    asker to join the card."""

    model_config = ConfigDict(extra="forbid")
    askers: list[Annotated[str, Field(min_length=1, max_length=300)]] | None = Field(
        default=None, min_length=1, max_length=500
    )


class MergeQuestion(BaseModel):
    """``POST /questions/{id}/merge``: the card of the same room it joins."""

    model_config = ConfigDict(extra="forbid")
    into: str = Field(min_length=1, max_length=200)


class SplitResult(BaseModel):
    question: QuestionCard = Field(description="the card split (fewer askers, same status)")
    new_question: QuestionCard = Field(description="the new card of the askers split off")


class MergeResult(BaseModel):
    question: QuestionCard = Field(description="the card merged away (status merged)")
    into: QuestionCard = Field(description="the card it joined, recounted")


class Asker(BaseModel):
    """One asker of a card: ``g:<group>:<member>`` or ``v:<viewer>``."""

    id: str
    text: str | None = Field(description="what they asked; null for cards older than records")
    group_id: str | None
    store_id: str | None
    asked_at: str | None


class AskerList(BaseModel):
    question_id: str
    askers: list[Asker] = Field(description="in the order they joined the card")


class VoteResult(BaseModel):
    question_id: str
    votes: int
    counted: bool = Field(description="false when this viewer had already voted")


class JoinGift(BaseModel):
    """What a member gets on first joining the group: one code, redeemable in the group's
    store (or ``store_ids``) for ``valid_days`` (the groups domain issues and sends it)."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=120)
    value: float = Field(gt=0, le=1_000_000, description="amount off")
    valid_days: int = Field(ge=1, le=366)
    store_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None, max_length=500, description="default: the group's store"
    )


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    brand: str = Field(default="default", min_length=1, max_length=100)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    callback_url: str | None = Field(
        default=None, max_length=500, pattern=r"^https?://",
        description="signed notices go here: answers, posts, join gifts, previews, follow-ups",
    )  # fmt: skip
    join_gift: JoinGift | None = Field(
        default=None, description="absent: the group keeps its join gift (if any)"
    )
    guide_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="the store guide who owns the group: its members' bookings at the store "
        "go to that guide first (unless another guide served them since)",
    )  # fmt: skip


Term = Annotated[str, Field(min_length=1, max_length=60)]


def _check_terms(terms: list[str], where: str) -> None:
    """A term the matcher cannot read (only spaces or punctuation) and a term listed twice
    in one group are mistakes worth a 400, not silent no-ops."""
    seen: set[str] = set()
    for term in terms:
        key = normalise(term)
        if not key:
            raise ValueError(f"{where}: {term!r} has no letter, digit or Chinese character")
        if key in seen:
            raise ValueError(f"{where}: {term!r} is listed twice")
        seen.add(key)


class BrandLexicon(BaseModel):
    """A brand's vocabulary for merging questions: data, not code.

    ``synonyms``: groups of words or phrases (Chinese or English) that mean the same thing
    to a customer ("粉底", "粉底液", "foundation"); ``products``: product names worth
    keeping whole (a different product is a different question); ``antonyms``: pairs that
    look alike but ask opposite things ("偏大", "偏小"). All on top of the generic retail
    vocabulary every brand has.
    """

    model_config = ConfigDict(extra="forbid", strict=True)
    synonyms: list[Annotated[list[Term], Field(min_length=2, max_length=50)]] = Field(
        default_factory=list, max_length=5000
    )
    products: list[Term] = Field(default_factory=list, max_length=5000)
    antonyms: list[Annotated[list[Term], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, max_length=1000
    )

    @model_validator(mode="after")
    def _readable(self) -> BrandLexicon:
        for i, group in enumerate(self.synonyms):
            _check_terms(group, f"synonyms.{i}")
        _check_terms(self.products, "products")
        for i, pair in enumerate(self.antonyms):
            _check_terms(pair, f"antonyms.{i}")
        return self


class GroupOut(BaseModel):
    id: str
    store_id: str
    name: str
    brand: str
    secret: str
    callback_url: str | None = None
    guide_id: str | None = None
    join_gift: dict[str, Any] | None = Field(
        default=None, description="the join gift (with its coupon campaign_id), if any"
    )


@dataclass(frozen=True, slots=True)
class Group:
    """A community chat group (record in ``keys.GROUPS``, msgpack)."""

    id: str
    store_id: str
    name: str
    brand: str
    secret: str
    callback_url: str | None = None
    guide_id: str | None = None  # the store guide who owns the group

    @classmethod
    def from_record(cls, raw: Mapping[str, Any]) -> Group:
        return cls(
            id=str(raw["id"]), store_id=str(raw.get("store_id", "")), name=str(raw.get("name", "")),
            brand=str(raw.get("brand", "default")), secret=str(raw["secret"]),
            callback_url=raw.get("callback_url") or None, guide_id=raw.get("guide_id") or None,
        )  # fmt: skip

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id, "store_id": self.store_id, "name": self.name, "brand": self.brand,
            "secret": self.secret, "callback_url": self.callback_url, "guide_id": self.guide_id,
        }  # fmt: skip


# --- signatures (inbound and outbound use the same scheme) -------------------------------

SIGNATURE_WINDOW_S = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """Raise :class:`SignatureInvalid` unless the signature is right and fresh."""
    if not timestamp or not signature:
        raise SignatureInvalid("send X-Timestamp and X-Signature headers (see docs/QUESTIONS.md)")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureInvalid("X-Timestamp must be unix seconds") from None
    if abs(now - ts) > SIGNATURE_WINDOW_S:
        raise SignatureInvalid(f"X-Timestamp is more than {SIGNATURE_WINDOW_S} s from server time")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise SignatureInvalid("X-Signature does not match the body and timestamp")


# --- configuration -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` events per ``window_s`` seconds (fixed window)."""

    count: int
    window_s: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        count, _, window = text.partition("/")
        return cls(int(count), float(window or 60))


@dataclass(frozen=True, slots=True)
class QuestionConfig:
    """Tunables, from ``Settings.extra`` (``questions.*`` keys) or ``LIVE_Q_*`` env vars."""

    min_chars: int = 2
    max_chars: int = 300
    blocklist: tuple[str, ...] = ()
    author_rate: Rate = Rate(5, 60)
    group_rate: Rate = Rate(120, 60)
    vote_rate: Rate = Rate(30, 60)
    votes_per_ip: int = 20  # votes for one card from one address: cheap viewer ids don't help
    webhook_max_attempts: int = 6
    webhook_backoff_s: float = 2.0
    webhook_backoff_max_s: float = 300.0
    webhook_timeout_s: float = 5.0
    outbox_poll_s: float = 1.0
    half_life_s: float = 600.0

    @classmethod
    def from_settings(
        cls, extra: Mapping[str, str], env: Mapping[str, str] | None = None
    ) -> QuestionConfig:
        env = os.environ if env is None else env

        def get(name: str, env_name: str) -> str | None:
            return extra.get(f"questions.{name}") or env.get(env_name)

        values: dict[str, Any] = {}
        blocklist = extra.get("blocklist") or get("blocklist", "LIVE_BLOCKLIST")
        if blocklist:
            values["blocklist"] = tuple(
                _compact(w) for w in re.split(r"[,\n]", blocklist) if _compact(w)
            )
        for name, conv in (
            ("min_chars", int), ("max_chars", int), ("votes_per_ip", int),
            ("webhook_max_attempts", int), ("webhook_backoff_s", float),
            ("webhook_backoff_max_s", float), ("webhook_timeout_s", float),
            ("outbox_poll_s", float), ("half_life_s", float),
        ):  # fmt: skip
            raw = get(name, f"LIVE_Q_{name.upper()}")
            if raw:
                values[name] = conv(raw)
        for name in ("author_rate", "group_rate", "vote_rate"):
            raw = get(name, f"LIVE_Q_{name.upper()}")
            if raw:
                values[name] = Rate.parse(raw)
        return cls(**values)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): base * 2^(n-1), capped."""
        doubling: float = 2 ** (attempt - 1)  # int ** int is typed Any (negative powers)
        return min(self.webhook_backoff_max_s, self.webhook_backoff_s * doubling)


# --- moderation --------------------------------------------------------------------------

_LINK = re.compile(
    r"https?://|www\.|\b[a-z0-9-]+\.(?:com|cn|net|org|top|xyz|vip|cc|io|me)\b|t\.cn/|"
    r"加微信|加v|加我|微信号|vx[:：]?|wx[:：]|qq群|扫码|私聊|代购|兼职|刷单",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_REPEAT = re.compile(r"(.{1,4}?)\1{5,}", re.DOTALL)


def _compact(text: str) -> str:
    """Lower-case, NFKC, no spaces or punctuation: "F.u c-k" and "fuck" look the same."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum())


@dataclass(frozen=True, slots=True)
class Verdict:
    """Moderation outcome: ``lane`` is "open" or "held" (spam, awaiting the host)."""

    text: str
    lane: str
    reason: str | None = None


def moderate(text: str, config: QuestionConfig) -> Verdict:
    """Clean and check a question. Raises :class:`QuestionRejected` (nothing stored) for
    empty, too long or blocklisted text; returns a held verdict for likely spam."""
    # Control and format characters (zero-width, bidi overrides) go; newlines become spaces.
    visible = "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf") else (" " if ch in "\n\r\t" else "")
        for ch in unicodedata.normalize("NFC", text)
    )
    cleaned = " ".join(visible.split())
    if len(cleaned) < config.min_chars:
        raise QuestionRejected(f"a question needs at least {config.min_chars} characters")
    if len(cleaned) > config.max_chars:
        raise QuestionRejected(f"a question can be at most {config.max_chars} characters")
    compact = _compact(cleaned)
    for word in config.blocklist:
        if word and word in compact:
            raise QuestionRejected("the question contains a blocked word")
    if _LINK.search(cleaned) or _PHONE.search(compact):
        return Verdict(cleaned, LANE_HELD, "link or contact details")
    if _REPEAT.search(compact) or (len(compact) >= 16 and len(set(compact)) / len(compact) < 0.2):
        return Verdict(cleaned, LANE_HELD, "repeated text")
    return Verdict(cleaned, LANE_OPEN)


# --- ranking -----------------------------------------------------------------------------

W_ASKERS, W_VOTES, W_GROUPS = 1.0, 0.4, 0.8


def rank_score(
    askers: int, votes: int, groups: int, last_asked_ms: int, now_ms: int, half_life_s: float
) -> float:
    """Top-sort score: log-scaled askers, upvotes and group diversity (so 50 upvotes from
    fresh accounts cannot outrank a question many members asked in many groups), halved
    every ``half_life_s`` since the question was last asked."""
    base = (
        W_ASKERS * math.log2(1 + askers)
        + W_VOTES * math.log2(1 + votes)
        + W_GROUPS * math.log2(1 + groups)
    )
    age_s = max(0.0, (now_ms - last_asked_ms) / 1000)
    decay: float = 0.5 ** (age_s / half_life_s)  # float ** float is typed Any
    return round(base * decay, 4)


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
