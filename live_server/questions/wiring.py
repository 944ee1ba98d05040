"""Composition of the questions domain: ``questions_ctx`` (an aiohttp cleanup context
appended in ``live_server.app``) builds the :class:`QuestionService` and runs the
answer-notice outbox worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from live_server import appkeys

from .models import QuestionConfig
from .outbox import AnswerOutbox
from .service import QuestionService
from .store import QuestionStore


async def questions_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the service under ``appkeys.QUESTIONS`` and the outbox under ``QUESTION_OUTBOX``."""
    settings = app[appkeys.SETTINGS]
    config = QuestionConfig.from_settings(settings.extra)
    store = QuestionStore(app[appkeys.REDIS])
    outbox = AnswerOutbox(app[appkeys.REDIS], store, config, app[appkeys.METRICS])
    service = QuestionService(
        store, app[appkeys.ROOMS], app[appkeys.REALTIME], config, app[appkeys.METRICS],
        on_answer=outbox.enqueued,
    )  # fmt: skip
    app[appkeys.QUESTIONS] = service
    if appkeys.LIVE_ROOMS in app:  # room.state shows the pinned question to joining viewers
        app[appkeys.LIVE_ROOMS].state_contributors.append(service.pinned_state)
    app[appkeys.QUESTION_OUTBOX] = outbox
    await outbox.start()
    yield
    await service.close()
    await outbox.stop()
