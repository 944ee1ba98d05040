"""Question fixtures: fast outbox backoff, community groups, signed group messages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest

from live_server.questions.models import sign
from live_server.settings import Settings
from tests.conftest import Api

BRAND = "maixiang"
QUESTION_SETTINGS = {
    "questions.webhook_backoff_s": "0.05",
    "questions.webhook_backoff_max_s": "0.2",
    "questions.webhook_max_attempts": "3",
    "questions.webhook_timeout_s": "2",
    "questions.outbox_poll_s": "0.05",
    "questions.author_rate": "5/60",
    "questions.group_rate": "1000/60",
    "blocklist": "badword, 傻瓜",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with fast webhook retries and a small blocklist."""
    return settings.with_changes(extra={**settings.extra, **QUESTION_SETTINGS})


@pytest.fixture
async def live_room(make_room: Callable[..., Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """A live room of the test brand: group questions are routed to it."""
    return await make_room(title="Weekend baking live", brand=BRAND)


GroupFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_group(api: Api, ops_token: str) -> GroupFactory:
    async def make(group_id: str, store_id: str = "sh-jingan", callback_url: str | None = None,
                   brand: str = BRAND) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {"store_id": store_id, "name": f"{group_id} members", "brand": brand}
        if callback_url:
            body["callback_url"] = callback_url
        status, group = await api.put(f"/api/v1/groups/{group_id}", ops_token, json=body)
        assert status == 200, group
        return dict(group)

    return make


def group_message(text: str, author: str = "u1", message_id: str | None = None) -> dict[str, Any]:
    return {
        "message_id": message_id or uuid.uuid4().hex, "author_id": author,
        "author_name": f"member {author}", "text": text, "sent_at": int(time.time()),
    }  # fmt: skip


async def post_signed(
    api: Api, group: dict[str, Any], message: dict[str, Any], *, secret: str | None = None,
    timestamp: int | None = None,
) -> tuple[int, Any]:  # fmt: skip
    """POST a group message signed exactly as a bot does (DESIGN.md)."""
    body = orjson.dumps(message)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json", "X-Timestamp": ts,
        "X-Signature": sign(secret or group["secret"], ts, body),
    }  # fmt: skip
    return await api.post(f"/api/v1/groups/{group['id']}/messages", data=body, headers=headers)
