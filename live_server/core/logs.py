"""Logging setup: JSON lines for log shippers, readable text on a terminal.

``LIVE_LOG_FORMAT=json`` writes one JSON object per line (python-json-logger) with
``time`` (ISO-8601, UTC, ms), ``level``, ``logger``, ``message``, ``pid`` and whatever
context the record carries: the access log adds ``request_id``, ``method``, ``route``,
``path``, ``status`` and ``duration_ms``; any record logged while a request is handled gets
its ``request_id`` and ``route`` (:data:`REQUEST_CONTEXT`). ``text`` writes the same fields
as ``k=v`` after the message; ``auto`` (the default) is text on a terminal, JSON otherwise.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from pythonjsonlogger.orjson import OrjsonFormatter

REQUEST_CONTEXT: ContextVar[tuple[str, str] | None] = ContextVar("request_context", default=None)
"""``(request id, route)`` of the HTTP request being handled (set by the web middleware)."""

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
}


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` and ``route`` of the request in progress to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = REQUEST_CONTEXT.get()
        if context is not None and not hasattr(record, "request_id"):
            record.request_id, record.route = context
        return True


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class JsonLineFormatter(OrjsonFormatter):
    """One JSON object per record: time, level, logger, message, pid, then the context."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={
                "asctime": "time", "levelname": "level", "name": "logger", "process": "pid",
            },
        )  # fmt: skip

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso(record.created)


class TextFormatter(logging.Formatter):
    """One line per record: time, level, logger, pid, message, then ``k=v`` context (values
    with spaces or quotes are quoted)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _iso(record.created)

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        if extra:
            base += " " + " ".join(f"{k}={_text_value(v)}" for k, v in extra.items())
        return base


def _text_value(value: Any) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def resolve_format(log_format: str, stream: TextIO) -> str:
    """``json`` or ``text`` for a LIVE_LOG_FORMAT value (``auto``: text on a terminal)."""
    if log_format in ("json", "text"):
        return log_format
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def setup_logging(level: str, log_format: str = "auto", stream: TextIO | None = None) -> None:
    """Configure the root logger for this process (server workers, the supervisor)."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    chosen = resolve_format(log_format, stream)
    handler.setFormatter(JsonLineFormatter() if chosen == "json" else TextFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("engineio").setLevel(logging.WARNING)
    logging.getLogger("socketio").setLevel(logging.WARNING)
