"""What can go wrong talking to RecoBeat, as exception types a caller can tell apart.

Retryable ones (:class:`engine.Retryable`) are retried by the engine; the last one reaches every
deduplicated caller. None of them is ever cached.
"""

from __future__ import annotations

from engine import RateLimited, Retryable

__all__ = [
    "BadRequest",
    "MalformedResponse",
    "RateLimited",
    "RecoBeatError",
    "UpstreamConnectionError",
    "UpstreamServerError",
]


class RecoBeatError(Exception):
    """Base of the errors the upstream's answers turn into (besides engine errors)."""


class BadRequest(RecoBeatError):
    """A 400 (or another 4xx): the request was wrong; retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class UpstreamServerError(RecoBeatError, Retryable):
    """A 5xx answer."""


class UpstreamConnectionError(RecoBeatError, Retryable):
    """The connection failed or was reset before an answer came."""


class MalformedResponse(RecoBeatError, Retryable):
    """A 200 whose body is not the documented shape (truncated, invalid JSON, out of range).

    Retried, because a truncated body is a transport failure far more often than a changed API.
    """
