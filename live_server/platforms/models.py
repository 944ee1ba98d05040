"""Live-platform domain: bindings, Douyin's data-push shapes and signature, the generic
bridge's events, and the rule that tells a question from chatter. Pure, no I/O.

Douyin's live-room data push (open platform, "直播间数据开放 / 数据推送"): each push is an
HTTP POST whose body is a JSON list of messages of one type (``x-msg-type``), signed with
``x-signature`` = base64(md5(``k=v&k=v`` of the other ``x-`` headers sorted by name, then
the raw body, then the secret)). The platform may repeat a message (same ``msg_id``) and
may lose some; we count each ``msg_id`` once and never ask for a retry of a good push.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from live_server.core import keys
from live_server.core.errors import BadRequest, Conflict, NotFound, Unauthorized
from live_server.core.util import parse_time_ms

MAX_COUNT = 1_000_000_000
"""The largest like, gift or viewer count one message carries (a room's counters stay far
from Redis's 64-bit limit; more is a forged or broken message: 400)."""
SIGNATURE_WINDOW_S = 300
"""A push or bridge call whose timestamp is further than this from our clock: 401."""


class Platform(StrEnum):
    DOUYIN = "douyin"
    GENERIC = "generic"


# --- errors ----------------------------------------------------------------------------------


class PlatformSignatureInvalid(Unauthorized):
    title, slug = "Platform signature invalid", "platform-signature-invalid"


class PlatformRoomNotFound(NotFound):
    title, slug = "Platform room not bound", "platform-room-not-found"


class PlatformNotBound(NotFound):
    title, slug = "Platform not bound to this room", "platform-not-bound"


class PlatformRoomTaken(Conflict):
    title, slug = "Platform room bound to another brand", "platform-room-taken"


class PushMalformed(BadRequest):
    title, slug = "Platform push malformed", "platform-push-malformed"


# --- bindings --------------------------------------------------------------------------------


class BindPlatform(BaseModel):
    """``PUT /api/v1/rooms/{room}/platforms/{platform}``."""

    model_config = ConfigDict(extra="forbid")
    platform_room_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    app_id: str | None = Field(default=None, max_length=128)
    secret: str = Field(
        min_length=16, max_length=256,
        description="the push secret (Douyin: the app's data-push secret; generic: the "
        "bridge's HMAC secret). Stored, never returned.",
    )  # fmt: skip


class PlatformBinding(BaseModel):
    """A binding as the API shows it: never the secret."""

    room_id: str
    platform: Platform
    platform_room_id: str
    app_id: str | None = None
    bound_at: str


class PlatformBindings(BaseModel):
    room_id: str
    platforms: list[PlatformBinding]


@dataclass(frozen=True, slots=True)
class Binding:
    """A binding with its secret (the store's record)."""

    room_id: str
    platform: Platform
    platform_room_id: str
    app_id: str | None
    secret: str
    bound_at: str

    def public(self) -> PlatformBinding:
        return PlatformBinding(
            room_id=self.room_id, platform=self.platform, platform_room_id=self.platform_room_id,
            app_id=self.app_id, bound_at=self.bound_at,
        )  # fmt: skip

    def record(self) -> dict[str, str | None]:
        return {
            "room_id": self.room_id, "platform": self.platform.value,
            "platform_room_id": self.platform_room_id, "app_id": self.app_id,
            "secret": self.secret, "bound_at": self.bound_at,
        }  # fmt: skip

    @classmethod
    def from_record(cls, raw: Mapping[str, str | None]) -> Binding:
        return cls(
            room_id=str(raw["room_id"]), platform=Platform(str(raw["platform"])),
            platform_room_id=str(raw["platform_room_id"]), app_id=raw.get("app_id"),
            secret=str(raw["secret"]), bound_at=str(raw["bound_at"]),
        )  # fmt: skip


# --- Douyin's data push -------------------------------------------------------------------


class DouyinMsgType(StrEnum):
    COMMENT = "live_comment"
    LIKE = "live_like"
    GIFT = "live_gift"
    FANSCLUB = "live_fansclub"


class DouyinMessage(BaseModel):
    """One message of a push (every type's fields; unknown ones ignored)."""

    model_config = ConfigDict(extra="ignore")
    msg_id: str = Field(min_length=1, max_length=128)
    sec_openid: str = Field(default="", max_length=256)
    nickname: str = Field(default="", max_length=200)
    avatar_url: str = Field(default="", max_length=1000)
    timestamp: int = 0
    content: str = Field(default="", max_length=4000)  # live_comment
    like_num: int = Field(default=0, ge=0, le=MAX_COUNT)  # live_like
    sec_gift_id: str = Field(default="", max_length=256)  # live_gift
    gift_num: int = Field(default=0, ge=0, le=MAX_COUNT)
    gift_value: int = Field(
        default=0, ge=0, le=MAX_COUNT, description="in the platform's units (分)"
    )


class CardRef(BaseModel):
    """The question card a comment joined, and its askers after it."""

    question_id: str
    askers: int


class DouyinPushResult(BaseModel):
    """The answer to a push (Douyin only looks at the 2xx)."""

    room_id: str
    accepted: int = Field(description="new messages counted")
    duplicates: int = Field(description="messages already counted (same msg_id)")
    questions: int = Field(description="comments sent to the question pipeline")
    cards: list[CardRef] = Field(default_factory=list, description="the cards they joined")


def douyin_signature(headers: Mapping[str, str], body: bytes, secret: str) -> str:
    """Douyin's ``x-signature``: base64(md5(sorted ``k=v&...`` of the given ``x-`` headers
    (not x-signature) + raw body + secret)), UTF-8 throughout."""
    signed = sorted(
        (k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-")
        and k.lower() != "x-signature"
    )  # fmt: skip
    text = "&".join(f"{k}={v}" for k, v in signed).encode() + body + secret.encode()
    return base64.b64encode(hashlib.md5(text, usedforsecurity=False).digest()).decode()


DOUYIN_SIGNED_HEADERS = ("x-nonce-str", "x-timestamp", "x-roomid", "x-msg-type")


def check_douyin_push(
    headers: Mapping[str, str], body: bytes, secret: str, now_s: float
) -> DouyinMsgType:
    """The push's message type, after its signature and timestamp (ms) check out; 401
    otherwise (nothing is read before this)."""
    given = headers.get("x-signature") or ""
    signed = {h: headers.get(h) or "" for h in DOUYIN_SIGNED_HEADERS}
    want = douyin_signature(signed, body, secret)
    if not given or not hmac.compare_digest(want.encode(), given.encode("utf-8", "replace")):
        raise PlatformSignatureInvalid("x-signature does not match the bound secret")
    try:
        sent_s = int(signed["x-timestamp"]) / 1000
    except ValueError:
        raise PlatformSignatureInvalid("x-timestamp must be unix milliseconds") from None
    if abs(now_s - sent_s) > SIGNATURE_WINDOW_S:
        raise PlatformSignatureInvalid("x-timestamp is more than 5 minutes off")
    try:
        return DouyinMsgType(signed["x-msg-type"])
    except ValueError:
        raise PushMalformed(f"unknown x-msg-type {signed['x-msg-type']!r}") from None


# --- the generic bridge ----------------------------------------------------------------------


def sign_bridge(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`` (as the group webhook)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_bridge_signature(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now_s: float
) -> None:
    """401 unless X-Signature is the bound secret's HMAC of X-Timestamp (unix seconds,
    within 5 minutes) and the raw body."""
    if not timestamp or not signature:
        raise PlatformSignatureInvalid("send X-Timestamp and X-Signature headers")
    try:
        ts = int(timestamp)
    except ValueError:
        raise PlatformSignatureInvalid("X-Timestamp must be unix seconds") from None
    if abs(now_s - ts) > SIGNATURE_WINDOW_S:
        raise PlatformSignatureInvalid("X-Timestamp is more than 5 minutes off")
    want = sign_bridge(secret, timestamp, body)
    if not hmac.compare_digest(want.encode(), signature.strip().lower().encode("utf-8", "replace")):
        raise PlatformSignatureInvalid("X-Signature does not match the body and timestamp")


BridgeEventType = Literal[
    "comment",
    "like",
    "gift",
    "viewer_join",
    "viewer_count",
    "product_shown",
    "live_start",
    "live_end",
]


class BridgeEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)
    type: BridgeEventType
    at: int | float | str = Field(description="when it happened on the platform (ms or ISO)")
    user_id: str | None = Field(default=None, max_length=256)
    nickname: str | None = Field(default=None, max_length=200)
    text: str | None = Field(default=None, max_length=4000)
    count: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    product_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("at")
    @classmethod
    def _moment(cls, value: int | float | str) -> int | float | str:
        """Unix ms or ISO-8601 between 1970 and 2100 ("yesterday" is neither: 400)."""
        parse_time_ms(value, number_ms=1)
        return value


class BridgeEvents(BaseModel):
    """``POST /api/v1/rooms/{room}/platform-events`` (signed like the group webhook)."""

    model_config = ConfigDict(extra="forbid")
    events: list[BridgeEvent] = Field(min_length=1, max_length=500)


class BridgeResult(BaseModel):
    room_id: str
    accepted: int
    duplicates: int
    questions: int
    cards: list[CardRef] = Field(default_factory=list)


# --- one platform message, as the service handles it ---------------------------------------


class Effect(StrEnum):
    COMMENT = "comment"
    LIKE = "like"
    GIFT = "gift"
    FANSCLUB = "fansclub"
    VIEWER_JOIN = "viewer_join"
    VIEWER_COUNT = "viewer_count"
    PRODUCT_SHOWN = "product_shown"
    LIVE_START = "live_start"
    LIVE_END = "live_end"


@dataclass(frozen=True, slots=True)
class PlatformMessage:
    """A platform message in our words: what happened, by whom, how much."""

    platform: str
    message_id: str
    effect: Effect
    user_id: str = ""
    nickname: str = ""
    text: str = ""
    count: int = 1
    value: int = 0
    product_id: str = ""

    @property
    def dedup_id(self) -> str:
        return f"{self.platform}:{self.message_id}"

    def counters(self, is_question: bool) -> dict[str, int]:
        """Room counters this message adds (``=name``: set, not add)."""
        e = self.effect
        if e is Effect.COMMENT:
            return {keys.STAT_LIVE_COMMENTS if is_question else keys.STAT_LIVE_CHATTER: 1}
        if e is Effect.LIKE:
            return {keys.STAT_LIKES: self.count}
        if e is Effect.GIFT:
            return {keys.STAT_GIFTS: self.count, keys.STAT_GIFT_VALUE: self.value}
        if e is Effect.FANSCLUB:
            return {keys.STAT_FANSCLUB_JOINS: 1}
        if e is Effect.VIEWER_JOIN:
            return {keys.STAT_VIEWER_JOINS: self.count}
        if e is Effect.VIEWER_COUNT:
            return {"=" + keys.STAT_PLATFORM_VIEWERS: self.count}
        return {}


def from_douyin(msg_type: DouyinMsgType, m: DouyinMessage) -> PlatformMessage:
    def message(effect: Effect, **fields: Any) -> PlatformMessage:
        return PlatformMessage(
            platform=Platform.DOUYIN.value, message_id=m.msg_id, effect=effect,
            user_id=m.sec_openid, nickname=m.nickname, **fields,
        )  # fmt: skip

    if msg_type is DouyinMsgType.COMMENT:
        return message(Effect.COMMENT, text=m.content)
    if msg_type is DouyinMsgType.LIKE:
        return message(Effect.LIKE, count=m.like_num)
    if msg_type is DouyinMsgType.GIFT:
        return message(Effect.GIFT, count=m.gift_num, value=m.gift_value)
    return message(Effect.FANSCLUB)


_DEFAULT_COUNT = {"like": 1, "gift": 1, "viewer_join": 1}


def from_bridge(e: BridgeEvent) -> PlatformMessage:
    count = e.count if e.count is not None else _DEFAULT_COUNT.get(e.type, 0)
    return PlatformMessage(
        platform=Platform.GENERIC.value, message_id=e.id, effect=Effect(e.type),
        user_id=e.user_id or "", nickname=e.nickname or "", text=e.text or "", count=count,
        product_id=e.product_id or "",
    )  # fmt: skip


def check_bridge_fields(events: list[BridgeEvent]) -> None:
    """Fields each type needs (400, nothing changed, when one is missing)."""
    for i, e in enumerate(events):
        need = {"comment": ("text", "user_id"), "product_shown": ("product_id",),
                "viewer_count": ("count",)}.get(e.type, ())  # fmt: skip
        for name in need:
            if getattr(e, name) in (None, ""):
                raise PushMalformed(f"events.{i}.{name}: a {e.type} event needs {name}")


# --- question or chatter ---------------------------------------------------------------------

_CHATTER = frozenset({
    "来了", "来啦", "我来了", "主播好", "大家好", "你好", "哈哈", "哈哈哈", "好", "好的", "赞",
    "点赞", "支持", "加油", "打卡", "签到", "666", "6666", "66666", "牛", "厉害", "好看", "漂亮",
    "想要", "买买买", "冲", "冲冲冲", "可以", "嗯", "hi", "hello", "lol", "nice", "wow",
})  # fmt: skip
_QUESTION_MARKERS = (
    "?", "？", "吗", "嘛", "么", "呢", "多少", "几", "怎么", "怎样", "如何", "什么", "哪",
    "能不能", "可不可以", "有没有", "是不是", "会不会", "要不要", "为什么", "为啥", "咋",
)  # fmt: skip
_ENGLISH_QUESTION = re.compile(
    r"^(how|what|when|where|which|who|why|can|could|do|does|is|are|will|should)\b", re.I
)
_ONLY_SYMBOLS = re.compile(r"^[\W\d_]+$", re.UNICODE)


def reads_as_question(text: str) -> bool:
    """A comment the host should see as a card: it asks something. Chatter ("666",
    "来了", emoji, "哈哈哈") is counted, not shown."""
    t = unicodedata.normalize("NFKC", text).strip().lower()
    if len(t) < 3 or _ONLY_SYMBOLS.match(t):
        return False
    core = t.rstrip("!！~～。.")
    if core in _CHATTER or len(set(core)) <= 1:
        return False
    return any(m in t for m in _QUESTION_MARKERS) or bool(_ENGLISH_QUESTION.match(t))
