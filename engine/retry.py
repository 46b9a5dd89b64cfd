"""Retries: which failures to retry, how long to wait, and honouring ``Retry-After``.

The decision is pure (:class:`RetryPolicy` takes the attempt number and a random draw); the
async loop :func:`retrying` only sleeps. Random draws come from :func:`jitter`, a hash of
``(seed, key, attempt)`` where ``seed`` is a random seed, never from a shared RNG: concurrent
tasks would otherwise draw in scheduling order and a replay would not repeat itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import anyio
import msgspec

from engine.config import Config, ConfigError, Positive, PositiveInt
from engine.errors import EngineError

__all__ = [
    "RateLimited",
    "RetryConfig",
    "RetryPolicy",
    "Retryable",
    "jitter",
    "retrying",
]

T = TypeVar("T")


class Retryable(EngineError):
    """A failure worth another attempt: a 5xx, a timeout, a connection error."""


class RateLimited(Retryable):
    """The upstream said 429: wait ``retry_after`` seconds (everyone, not only this caller)."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryConfig(Config):
    """Capped exponential backoff with jitter; a bounded number of attempts."""

    attempts: PositiveInt = 4
    """Attempts in all, the first included (1 = never retry)."""
    base_delay: Positive = 0.5
    """Delay before the second attempt, doubled for each one after."""
    max_delay: Positive = 30.0
    """Cap on a backoff delay."""
    jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0
    """Share of each delay that is random: 1.0 is "full jitter", 0.0 none."""
    max_retry_after: Positive = 300.0
    """A Retry-After longer than this is not waited for: the error goes to the caller. It also
    bounds the pause a 429 imposes on every other caller (see :meth:`RetryPolicy.pause`)."""

    def validate(self) -> None:
        if self.max_delay < self.base_delay:
            raise ConfigError(
                f"RetryConfig.max_delay: {self.max_delay} is below base_delay {self.base_delay}"
            )


class RetryPolicy:
    """Decides whether and when to try again; no I/O, no clock, no RNG of its own."""

    __slots__ = ("config",)

    def __init__(self, config: RetryConfig | None = None) -> None:
        self.config = config if config is not None else RetryConfig()

    def delay(self, attempt: int, error: BaseException, draw: float) -> float | None:
        """Seconds to wait after failed ``attempt`` (1-based), or ``None`` to give up.

        ``draw`` is uniform in ``[0, 1)``. A :class:`RateLimited` error waits exactly its
        ``retry_after`` (no jitter: the upstream named the instant; a negative one is 0), unless
        that is longer than ``max_retry_after`` (or infinite, or NaN): then the error goes to the
        caller at once. Other :class:`Retryable` errors back off exponentially; anything else is
        not retried.
        """
        config = self.config
        if attempt >= config.attempts or not isinstance(error, Retryable):
            return None
        if isinstance(error, RateLimited):
            wait = error.retry_after
            # Not `wait > max`: NaN compares false both ways, and is no delay to wait for.
            if not wait <= config.max_retry_after:
                return None
            return max(0.0, wait)
        backoff = min(config.max_delay, config.base_delay * 2 ** (attempt - 1))
        return backoff * (1 - config.jitter * draw)

    def pause(self, error: RateLimited) -> float:
        """Seconds ``error`` pauses every caller of the shared rate limiter: its ``retry_after``
        bounded to ``[0, max_retry_after]``.

        Whatever the upstream said, one 429 never stops everyone for longer than
        ``max_retry_after``: a longer (or infinite) Retry-After pauses everyone for
        ``max_retry_after``, while the caller that got it fails at once (:meth:`delay`). A
        negative or NaN one pauses nobody.
        """
        wait = error.retry_after
        if not wait > 0:  # negative, zero or NaN
            return 0.0
        return min(wait, self.config.max_retry_after)


def jitter(seed: int, key: str, attempt: int) -> float:
    """A uniform draw in ``[0, 1)`` fixed by ``(seed, key, attempt)``."""
    digest = hashlib.blake2b(f"{seed}:{key}:{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    key: str,
    seed: int,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    wait: Callable[[float, BaseException], Awaitable[None]] | None = None,
) -> T:
    """``await attempt()`` until it succeeds or ``policy`` gives up; the last error propagates.

    ``on_retry(attempt_number, error, delay)`` is called before each wait (statistics).
    ``wait(delay, error)`` waits before the next attempt; by default ``anyio.sleep(delay)``
    (the engine waits out a 429 in the rate limiter's line instead). Cancellation is never
    retried.
    """
    number = 1
    while True:
        try:
            return await attempt()
        except Exception as error:
            delay = policy.delay(number, error, jitter(seed, key, number))
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(number, error, delay)
            failed = error
        try:
            await (anyio.sleep(delay) if wait is None else wait(delay, failed))
        finally:
            del failed  # as `except ... as` would: no frame <-> traceback cycle while waiting
        number += 1
