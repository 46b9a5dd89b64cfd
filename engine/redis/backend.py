"""The shared backend on a real Redis, through coredis (anyio: asyncio and trio).

Guarantees of :class:`CoredisBackend`:

- One round trip per call: ``MGET``, ``SET ... PX``, ``SET ... NX PX``, ``DEL``, and
  ``EVALSHA`` for the compare-and-delete and the limiter scripts (coredis reloads a script the
  server forgot, on ``NOSCRIPT``); none for an empty list of keys (Redis refuses a bare
  ``MGET`` or ``DEL``; the answer is the twin's).
- Whatever a key holds, no call fails because of it: ``MGET`` answers ``None`` for a key of
  another type, the compare scripts find it unequal, the limiter's script reads it as an empty
  state, and ``SET`` replaces it.
- Each call is bounded by ``command_timeout`` (``anyio.fail_after``, retries included), and
  raises on failure (``TimeoutError``, coredis's ``ConnectionError``...): callers degrade.
- The pool lives for the ``async with`` block (coredis 6 runs its pool in a task group).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

import anyio
import coredis
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.retry import ConstantRetryPolicy
from coredis.tokens import PureToken

from engine.exception_groups import exit_owned
from engine.redis.config import RedisConfig
from engine.redis.script import (
    ADAPT_SCRIPT,
    DELETE_IF_EQUAL,
    DELETE_SCANNED,
    EXTEND_IF_EQUAL,
    RATE_SCRIPT,
    adapt_args,
    adapt_reply,
    glob_escaped,
    rate_args,
    rate_reply,
    scanned_reply,
)
from engine.shared.backend import RateDecision

__all__ = ["CoredisBackend"]


class CoredisBackend:
    """A :class:`~engine.shared.backend.SharedBackend` on Redis; use it in ``async with``."""

    def __init__(self, config: RedisConfig | None = None) -> None:
        self.config = config if config is not None else RedisConfig()
        self.client: coredis.Redis[bytes] = coredis.Redis.from_url(
            self.config.resolved_url(),
            max_connections=self.config.max_connections,
            socket_keepalive=self.config.keepalive,
            max_idle_time=self.config.max_idle_time,
            connect_timeout=self.config.connect_timeout,
            stream_timeout=self.config.command_timeout,
            retry_policy=ConstantRetryPolicy(
                (RedisConnectionError, TimeoutError), retries=self.config.retries, delay=0.01
            ),
        )
        self._timeout = self.config.command_timeout
        self._rate = self.client.register_script(RATE_SCRIPT)
        self._adapt = self.client.register_script(ADAPT_SCRIPT)
        self._delete_if_equal = self.client.register_script(DELETE_IF_EQUAL)
        self._extend_if_equal = self.client.register_script(EXTEND_IF_EQUAL)
        self._delete_scanned = self.client.register_script(DELETE_SCANNED)

    async def __aenter__(self) -> Self:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await exit_owned(self.client.__aexit__(exc_type, exc, tb), exc)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:  # no call: Redis refuses a bare MGET
            return []
        with anyio.fail_after(self._timeout):
            return list(await self.client.mget(keys))

    async def set(self, key: str, value: bytes, *, ttl_ms: int) -> None:
        with anyio.fail_after(self._timeout):
            await self.client.set(key, value, px=ttl_ms)

    async def set_if_absent(self, key: str, value: bytes, *, ttl_ms: int) -> bool:
        with anyio.fail_after(self._timeout):
            return bool(await self.client.set(key, value, condition=PureToken.NX, px=ttl_ms))

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:  # no call: Redis refuses a bare DEL
            return
        with anyio.fail_after(self._timeout):
            await self.client.delete(keys)

    async def delete_prefix(self, prefix: str, *, batch: int = 500) -> int:
        """``SCAN`` ``MATCH <prefix>*`` and ``DEL`` in a script: one round trip per batch (about
        ``batch`` keys scanned, each call under ``command_timeout``), until the cursor is 0."""
        pattern = glob_escaped(prefix) + "*"
        cursor = "0"
        dropped = 0
        while True:
            with anyio.fail_after(self._timeout):
                reply = await self._delete_scanned(keys=[], args=[cursor, pattern, batch])
            cursor, count = scanned_reply(reply)
            dropped += count
            if cursor == "0":
                return dropped

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        with anyio.fail_after(self._timeout):
            return bool(await self._delete_if_equal(keys=[key], args=[value]))

    async def extend_if_equal(self, key: str, value: bytes, *, ttl_ms: int) -> bool:
        with anyio.fail_after(self._timeout):
            return bool(await self._extend_if_equal(keys=[key], args=[value, ttl_ms]))

    async def rate_adapt(
        self,
        key: str,
        *,
        now_ms: int | None,
        increase: float,
        decrease_to: float | None,
        floor: float,
        ceiling: float,
        hold_ms: int,
        ttl_ms: int,
    ) -> float:
        """The adapted rate's script (:data:`~engine.redis.script.ADAPT_SCRIPT`)."""
        args = adapt_args(
            now_ms=now_ms,
            increase=increase,
            decrease_to=decrease_to,
            floor=floor,
            ceiling=ceiling,
            hold_ms=hold_ms,
            ttl_ms=ttl_ms,
        )
        with anyio.fail_after(self._timeout):
            return adapt_reply(await self._adapt(keys=[key], args=args))

    async def rate_decide(
        self,
        key: str,
        *,
        now_ms: int | None,
        min_interval_ms: int,
        pause_ms: int,
        rules: Sequence[tuple[int, int]],
        known_ms: Sequence[int] = (),
        ages_ms: Sequence[int] = (),
    ) -> RateDecision:
        """The limiter's script (:data:`~engine.redis.script.RATE_SCRIPT`); ``known_ms`` and
        ``ages_ms`` are the caller's grants the state may not hold
        (:func:`engine.shared.rate_decision.decide`)."""
        args = rate_args(
            now_ms=now_ms,
            min_interval_ms=min_interval_ms,
            pause_ms=pause_ms,
            rules=rules,
            known_ms=known_ms,
            ages_ms=ages_ms,
        )
        with anyio.fail_after(self._timeout):
            return rate_reply(await self._rate(keys=[key], args=args))

    def __repr__(self) -> str:
        return f"CoredisBackend({self.client.connection_pool.location})"
