"""The shared backend on a redis-py pool the application already holds (asyncio only).

For asyncio services that already keep a ``redis.asyncio.Redis`` (the ``redispy`` extra):
:class:`RedisPyBackend` runs the shared tier on that pool instead of opening a second one.
:class:`engine.redis.CoredisBackend` stays the default, and the one that runs on trio:
``redis.asyncio`` is built on asyncio, so this adapter refuses to run on anything else.

Guarantees of :class:`RedisPyBackend`, the same as :class:`~engine.redis.CoredisBackend`'s:

- One round trip per call: ``MGET``, ``SET ... PX``, ``SET ... NX PX``, ``DEL``, and
  ``EVALSHA`` of the same Lua scripts (:mod:`engine.redis.script`; redis-py's ``Script``
  reloads a script the server forgot, on ``NOSCRIPT``); none for an empty list of keys.
- Whatever a key holds, no call fails because of it (the scripts are the coredis adapter's).
- Each call is bounded by ``command_timeout`` (``anyio.fail_after``, the client's own retries
  included), and raises on failure (``TimeoutError``, redis-py's ``ConnectionError``...):
  callers degrade. Retries, socket timeouts and health checks are the client's own settings.
- It never closes the pool: the client is the caller's, who closes it (``await
  client.aclose()``) when the application is done with it. ``async with`` is accepted for
  symmetry with :class:`~engine.redis.CoredisBackend` and only checks the event loop.
- A client that decodes responses (``decode_responses=True``) is refused at construction: the
  values are binary MessagePack, which such a client would fail to decode or hand back as text.
- On trio (or any loop but asyncio) it raises :class:`RuntimeError` in one line: at
  construction when a loop is already running, and on every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import sniffio

from engine.redis.config import RedisConfig
from engine.redis.scripted import ScriptedBackend

try:
    import redis.asyncio as redis_asyncio
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the plain-install check
    if exc.name != "redis":
        raise
    raise ModuleNotFoundError(
        "RedisPyBackend needs redis-py: pip install 'recobeat-engine[redispy]'", name="redis"
    ) from None

__all__ = ["RedisPyBackend"]


def _running_library() -> str | None:
    """The async library running this code, or ``None`` outside any."""
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None


class RedisPyBackend(ScriptedBackend):
    """A :class:`~engine.shared.backend.SharedBackend` on a borrowed ``redis.asyncio.Redis``.

    ``client`` is the application's own pool, left open (see the module's guarantees);
    ``config`` gives ``command_timeout`` only (the pool's settings are the client's).
    """

    def __init__(self, client: redis_asyncio.Redis, config: RedisConfig | None = None) -> None:
        if not isinstance(client, redis_asyncio.Redis):
            raise TypeError(
                f"RedisPyBackend takes a redis.asyncio.Redis, not {type(client).__name__}"
            )
        if client.get_encoder().decode_responses:
            raise ValueError(
                "RedisPyBackend needs a client with decode_responses=False "
                "(the shared tier stores binary values)"
            )
        self.config = config if config is not None else RedisConfig()
        self.client = client
        if _running_library() is not None:
            self._before_call()
        super().__init__(client.register_script, timeout=self.config.command_timeout)

    def _before_call(self) -> None:
        """Refuse any loop but asyncio (``redis.asyncio`` fails confusingly elsewhere); on every
        call, since one backend may outlive an event loop (a sniffio lookup, ~1 µs)."""
        library = _running_library()
        if library != "asyncio":
            raise RuntimeError(
                f"RedisPyBackend runs on asyncio only (redis.asyncio), not {library}: "
                "on trio use engine.redis.CoredisBackend"
            )

    async def __aenter__(self) -> Self:
        self._before_call()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return None  # the pool is the caller's: nothing to close

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        self._before_call()
        if not keys:  # no call: Redis refuses a bare MGET
            return []
        with anyio.fail_after(self._timeout):
            return list(await self.client.mget(keys))

    async def set(self, key: str, value: bytes, *, ttl_ms: int) -> None:
        self._before_call()
        with anyio.fail_after(self._timeout):
            await self.client.set(key, value, px=ttl_ms)

    async def set_if_absent(self, key: str, value: bytes, *, ttl_ms: int) -> bool:
        self._before_call()
        with anyio.fail_after(self._timeout):
            return bool(await self.client.set(key, value, nx=True, px=ttl_ms))

    async def delete(self, keys: Sequence[str]) -> None:
        self._before_call()
        if not keys:  # no call: Redis refuses a bare DEL
            return
        with anyio.fail_after(self._timeout):
            await self.client.delete(*keys)

    def __repr__(self) -> str:
        kwargs: dict[str, Any] = self.client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return (
            f"RedisPyBackend({where}/{kwargs.get('db', 0)}, borrowed pool, "
            f"command_timeout={self._timeout}s)"
        )
