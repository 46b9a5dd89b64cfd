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
from engine.redis.scripted import ScriptedBackend

__all__ = ["CoredisBackend"]


class CoredisBackend(ScriptedBackend):
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
        super().__init__(self.client.register_script, timeout=self.config.command_timeout)

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

    def __repr__(self) -> str:
        return f"CoredisBackend({self.client.connection_pool.location})"
