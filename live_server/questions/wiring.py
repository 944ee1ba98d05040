"""Composition of the questions domain: ``questions_ctx`` (an aiohttp cleanup context
appended in ``live_server.app``) builds the :class:`QuestionService` and runs the
answer-notice outbox worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server.core.appkeys import METRICS, REDIS, SETTINGS
from live_server.questions.models import QuestionConfig
from live_server.questions.outbox import AnswerOutbox
from live_server.questions.service import QuestionService
from live_server.questions.store import QuestionStore
from live_server.realtime.server import REALTIME
from live_server.rooms.wiring import LIVE_ROOMS, ROOMS

QUESTIONS: web.AppKey[QuestionService] = web.AppKey("questions")
QUESTION_OUTBOX: web.AppKey[AnswerOutbox] = web.AppKey("question_outbox")


async def questions_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the service under ``QUESTIONS`` and the outbox under ``QUESTION_OUTBOX``."""
    settings = app[SETTINGS]
    config = QuestionConfig.from_settings(settings.extra)
    store = QuestionStore(app[REDIS])
    outbox = AnswerOutbox(app[REDIS], store, config, app[METRICS])
    service = QuestionService(
        store, app[ROOMS], app[REALTIME], config, app[METRICS],
        on_answer=outbox.enqueued,
    )  # fmt: skip
    app[QUESTIONS] = service
    if LIVE_ROOMS in app:  # room.state shows the pinned question to joining viewers
        app[LIVE_ROOMS].state_contributors.append(service.pinned_state)
    app[QUESTION_OUTBOX] = outbox
    await outbox.start()
    yield
    await service.close()
    await outbox.stop()
