"""Answer notices: signed webhooks to each originating group through the Redis outbox,
retried with backoff, dead-lettered after N failures, counted in /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import redis as sync_redis
from aiohttp import web
from aiohttp.test_utils import TestServer

from live_server.core import keys
from live_server.questions.models import verify_signature
from tests.conftest import Api

from .conftest import group_message, post_signed


@dataclass
class Receiver:
    """A group's webhook endpoint: fails ``fail_first`` times (or always), records the rest."""

    fail_first: int
    always_fail: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    secret: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.calls.append({"at": time.monotonic(), "headers": dict(request.headers), "raw": raw})
        if self.always_fail or len(self.calls) <= self.fail_first:
            return web.Response(status=503)
        self.accepted.append(orjson.loads(raw))
        return web.Response(status=204)


@pytest.fixture
async def receivers() -> AsyncIterator[Any]:
    servers: list[TestServer] = []

    async def start(receiver: Receiver) -> str:
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        srv = TestServer(app, host="127.0.0.1")
        await srv.start_server()
        servers.append(srv)
        return str(srv.make_url("/hook"))

    yield start
    for srv in servers:
        await srv.close()


UNTIL_S = 10.0


async def until(predicate: Any) -> None:
    """Poll ``predicate`` (it reads a receiver or sync Redis) until true, within UNTIL_S."""
    deadline = time.monotonic() + UNTIL_S
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def test_answer_notice_retried_then_delivered_and_dead_lettered(
    api: Api, live_room: dict[str, Any], make_group: Any, receivers: Any,
    clean_redis: sync_redis.Redis,
) -> None:  # fmt: skip
    flaky, broken = Receiver(fail_first=2), Receiver(fail_first=0, always_fail=True)
    g_flaky = await make_group("g-flaky", "sh-jingan", callback_url=await receivers(flaky))
    g_broken = await make_group("g-broken", "hz-wulin", callback_url=await receivers(broken))
    g_silent = await make_group("g-silent", "sz-guanqian")  # no callback_url: skipped
    _, q = await post_signed(api, g_flaky, group_message("中秋节营业吗", author="a"))
    for group, author in ((g_broken, "b"), (g_silent, "c")):
        _, merged = await post_signed(api, group, group_message("中秋开门吗", author=author))
        assert merged["question_id"] == q["question_id"]

    status, card = await api.post(
        f"/api/v1/questions/{q['question_id']}/answer", live_room["host_token"]
    )
    assert status == 200 and card["groups"] == 3
    await until(lambda: len(flaky.accepted) == 1 and len(broken.calls) == 3)

    notice = flaky.accepted[0]
    assert notice["type"] == "question.answered" and notice["question_id"] == q["question_id"]
    assert notice["group_id"] == "g-flaky" and notice["askers"] == 3 and notice["groups"] == 3
    assert notice["text"] == "中秋节营业吗" and notice["room_id"] == live_room["room_id"]
    for call in flaky.calls:  # every attempt is signed with the group's secret, same delivery id
        verify_signature(g_flaky["secret"], call["headers"]["X-Timestamp"],
                         call["headers"]["X-Signature"], call["raw"], time.time())  # fmt: skip
    assert len({c["headers"]["X-Delivery-Id"] for c in flaky.calls}) == 1
    gaps = [b["at"] - a["at"] for a, b in zip(flaky.calls, flaky.calls[1:], strict=False)]
    assert gaps[1] >= gaps[0] * 1.3 and gaps[0] >= 0.04  # exponential backoff (base 0.05 s)

    dead_key = keys.question_outbox_dead(live_room["room_id"])
    await until(lambda: clean_redis.xlen(dead_key) == 1)
    ((_, dead),) = clean_redis.xrange(dead_key)
    assert dead[b"group_id"] == b"g-broken" and dead[b"attempts"] == b"3"
    assert dead[b"last_error"] == b"HTTP 503"
    outbox = keys.question_outbox(live_room["room_id"])
    await until(lambda: clean_redis.xpending(outbox, keys.QUESTION_OUTBOX_GROUP)["pending"] == 0)

    wanted = [
        'live_question_webhooks_total{outcome="delivered"} 1.0',
        'live_question_webhooks_total{outcome="retried"} 4.0',  # 2 flaky + 2 broken
        'live_question_webhooks_total{outcome="dead"} 1.0',
        'live_question_webhooks_total{outcome="skipped"} 1.0',
    ]
    text = ""
    deadline = time.monotonic() + 10
    while not all(w in text for w in wanted) and time.monotonic() < deadline:
        status, metrics = await api.get("/metrics")
        text = metrics.decode() if isinstance(metrics, bytes) else str(metrics)
    assert 'live_question_webhooks_total{outcome="delivered"} 1.0' in text
    assert 'live_question_webhooks_total{outcome="retried"} 4.0' in text  # 2 flaky + 2 broken
    assert 'live_question_webhooks_total{outcome="dead"} 1.0' in text
    assert 'live_question_webhooks_total{outcome="skipped"} 1.0' in text

    # answering again is a no-op: no second notice
    status, _ = await api.post(
        f"/api/v1/questions/{q['question_id']}/answer", live_room["host_token"]
    )
    assert status == 200 and clean_redis.xlen(outbox) == 3


async def test_two_workers_deliver_each_notice_once(
    api: Api,
    live_room: dict[str, Any],
    make_group: Any,
    receivers: Any,
    settings: Any,
) -> None:
    """A second delivery worker (as in a second process) shares the consumer group."""
    from live_server.core.metrics import Metrics
    from live_server.core.redis_conn import connect_redis
    from live_server.questions.models import QuestionConfig
    from live_server.questions.outbox import AnswerOutbox
    from live_server.questions.store import QuestionStore

    ok = Receiver(fail_first=0)
    url = await receivers(ok)
    redis = connect_redis(settings)
    second = AnswerOutbox(
        redis, QuestionStore(redis), QuestionConfig.from_settings(settings.extra), Metrics()
    )
    await second.start()
    try:
        ids = []
        for i in range(6):
            group = await make_group(f"g{i}", "sh-jingan", callback_url=url)
            _, q = await post_signed(api, group, group_message(f"第{i}号能预约吗", author=f"a{i}"))
            ids.append(q["question_id"])
        for qid in ids:
            status, _ = await api.post(f"/api/v1/questions/{qid}/answer", live_room["host_token"])
            assert status == 200
        await until(lambda: len(ok.accepted) == 6)
        await asyncio.sleep(0.3)  # a grace period to catch a late duplicate (not used to sync)
        assert sorted(n["question_id"] for n in ok.accepted) == sorted(ids)
    finally:
        await second.stop()
        await redis.aclose()


async def test_ended_room_leaves_the_work_list_once_delivered(
    api: Api,
    live_room: dict[str, Any],
    make_group: Any,
    receivers: Any,
    clean_redis: sync_redis.Redis,
) -> None:
    ok = Receiver(fail_first=0)
    group = await make_group("g-jingan", "sh-jingan", callback_url=await receivers(ok))
    _, q = await post_signed(api, group, group_message("可以开发票吗"))
    await api.post(f"/api/v1/questions/{q['question_id']}/answer", live_room["host_token"])
    await until(lambda: len(ok.accepted) == 1)
    assert clean_redis.sismember(keys.QUESTION_OUTBOX_ROOMS, live_room["room_id"])
    await api.post(f"/api/v1/rooms/{live_room['room_id']}/end", live_room["host_token"])
    await until(lambda: not clean_redis.sismember(keys.QUESTION_OUTBOX_ROOMS, live_room["room_id"]))
    # answering after the end still notifies the group
    viewer_q = q["question_id"]
    await api.post(f"/api/v1/questions/{viewer_q}/restore", live_room["host_token"])
    await api.post(f"/api/v1/questions/{viewer_q}/answer", live_room["host_token"])
    await until(lambda: len(ok.accepted) == 2)
