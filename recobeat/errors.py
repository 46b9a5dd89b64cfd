"""What can go wrong talking to RecoBeat, as exception types a caller can tell apart.

Retryable ones (:class:`engine.Retryable`) are retried by the engine; the last one reaches every
deduplicated caller. None of them is ever cached.
"""

from __future__ import annotations

from engine import RateLimited, Retryable
from engine.errors import EngineError

__all__ = [
    "BadRequest",
    "MalformedResponse",
    "RateLimited",
    "RecoBeatError",
    "UpstreamConnectionError",
    "UpstreamServerError",
]


#: The root of every error this package raises: the same class as :class:`engine.EngineError`,
#: under the name a RecoBeat user looks for (``except RecoBeatError`` also catches
#: :class:`RateLimited`, :class:`engine.UpstreamTimeout`, :class:`engine.SingleFlightClosed`...).
#: The tree is drawn in :mod:`engine.errors`.
RecoBeatError = EngineError


class BadRequest(RecoBeatError):
    """A 400 (or another 4xx): the request was wrong; retrying will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class UpstreamServerError(Retryable):
    """A 5xx answer."""


class UpstreamConnectionError(Retryable):
    """The connection failed or was reset before an answer came."""


class MalformedResponse(Retryable):
    """A 200 whose body is not the documented shape (truncated, invalid JSON, out of range).

    Retried, because a truncated body is a transport failure far more often than a changed API.
    """
