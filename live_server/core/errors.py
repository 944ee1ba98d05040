"""The error hierarchy every domain raises, and its problem+json form (RFC 9457).

Handlers never build error responses: they raise a :class:`Problem` subclass and the
middleware in :mod:`live_server.web.http` renders it. Domain packages subclass these with the
business's words (``SlotFull(Conflict)``, ``SoldOut(Gone)``, ...).
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://live-companion.dev/problems/"


class Problem(Exception):
    """An error a client can act on. ``slug`` names the problem type."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal server error"
    slug: ClassVar[str] = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: float | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.retry_after = retry_after
        self.extra = extra

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status, title, slug = 400, "Bad request", "bad-request"


class ValidationFailed(BadRequest):
    title, slug = "Invalid input", "validation"


class Unauthorized(Problem):
    status, title, slug = 401, "Authentication required", "unauthorized"


class Forbidden(Problem):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(Problem):
    status, title, slug = 404, "Not found", "not-found"


class MethodNotAllowed(Problem):
    status, title, slug = 405, "Method not allowed", "method-not-allowed"


class Conflict(Problem):
    status, title, slug = 409, "Conflict", "conflict"


class Gone(Problem):
    status, title, slug = 410, "Gone", "gone"


class PayloadTooLarge(Problem):
    status, title, slug = 413, "Request body too large", "payload-too-large"


class UnsupportedMediaType(Problem):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


class Unprocessable(Problem):
    status, title, slug = 422, "Unprocessable request", "unprocessable"


class TooManyRequests(Problem):
    status, title, slug = 429, "Too many requests", "rate-limited"


class ServiceUnavailable(Problem):
    status, title, slug = 503, "Service unavailable", "unavailable"


# Shared domain errors used by several packages.


class RoomNotLive(Conflict):
    title, slug = "Room is not live", "room-not-live"


class RoomEnded(Gone):
    title, slug = "Room has ended", "room-ended"
