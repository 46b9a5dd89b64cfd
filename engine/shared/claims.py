"""Cross-instance deduplication of batched lookups: which instance fetches which key.

:class:`DistributedFlight` deduplicates one cache key at a time; lookups by ID go out in batches
of up to 40 keys, formed differently by each instance. :class:`KeyClaims` gives each key its
own claim (``SET <prefix>:claim:<name>:<key> <token> NX PX lock_ttl``) and
:meth:`KeyClaims.fetch` coordinates a batch:

- the keys this instance claims are fetched by it (in as few requests as its own batching
  makes), the claims renewed every third of ``lock_ttl`` meanwhile and released afterwards;
- the keys others hold are awaited: every ``poll_interval`` their answers are looked for (the
  holder stores them in the shared store); a key whose claim is gone without an answer (its
  holder failed, died, or the upstream does not know it) is claimed and fetched here.
- A backend error never fails a lookup: the keys are then fetched here (counted).

Guarantee: while the holders are alive, every key is fetched by one instance at a time; a dead
holder delays the others by at most ``lock_ttl``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import anyio

from engine.clock import Clock
from engine.exception_groups import single_error
from engine.shared.backend import SharedBackend
from engine.shared.config import SharedTierConfig

__all__ = ["KeyClaims"]

K = TypeVar("K", bound=Hashable)


class KeyClaims:
    """Per-key claims in a shared backend for the lookups named ``name``; see the module."""

    def __init__(
        self,
        backend: SharedBackend,
        name: str,
        *,
        clock: Clock,
        settings: SharedTierConfig | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings if settings is not None else SharedTierConfig()
        self._clock = clock
        self._prefix = f"{self.settings.prefix}:claim:{name}:"
        self._ttl_ms = math.ceil(self.settings.lock_ttl * 1000)
        self._token = os.urandom(16).hex().encode()
        self.claimed = 0
        """Keys this instance fetched holding their claim."""
        self.answered_remotely = 0
        """Keys answered by another instance's fetch."""
        self.errors = 0

    async def fetch(
        self,
        keys: Sequence[K],
        fetch: Callable[[list[K]], Awaitable[Mapping[K, Any]]],
        answered: Callable[[list[K]], Awaitable[Mapping[K, Any]]],
    ) -> dict[K, Any]:
        """Values for ``keys``: fetched here (``fetch``) for the keys this instance claims,
        read (``answered``: the values another instance stored, or a "known missing" marker
        the caller filters) for the keys others fetch."""
        result: dict[K, Any] = {}
        pending = list(dict.fromkeys(keys))
        while pending:
            mine = await self._claim(pending)
            if mine:
                self.claimed += len(mine)
                result.update(await self._holding(mine, fetch))
            pending = [key for key in pending if key not in mine]
            if pending:
                pending = await self._await_others(pending, answered, result)
        return result

    async def _claim(self, keys: list[K]) -> set[K]:
        mine: set[K] = set()
        for key in keys:
            try:
                if await self.backend.set_if_absent(
                    self._key(key), self._token, ttl_ms=self._ttl_ms
                ):
                    mine.add(key)
            except Exception:
                self.errors += 1
                mine.add(key)  # no shared state to coordinate through: fetch it here
        return mine

    async def _holding(
        self, keys: set[K], fetch: Callable[[list[K]], Awaitable[Mapping[K, Any]]]
    ) -> Mapping[K, Any]:
        try:
            with single_error():
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._keep_alive, keys)
                    try:
                        return await fetch(sorted(keys, key=str))
                    finally:
                        tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                for key in keys:
                    try:
                        await self.backend.delete_if_equal(self._key(key), self._token)
                    except Exception:
                        self.errors += 1  # the claim expires by itself

    async def _keep_alive(self, keys: set[K]) -> None:
        while True:
            await anyio.sleep(self.settings.lock_ttl / 3)
            for key in keys:
                try:
                    await self.backend.extend_if_equal(
                        self._key(key), self._token, ttl_ms=self._ttl_ms
                    )
                except Exception:
                    self.errors += 1

    async def _await_others(
        self,
        keys: list[K],
        answered: Callable[[list[K]], Awaitable[Mapping[K, Any]]],
        result: dict[K, Any],
    ) -> list[K]:
        """Poll until every key is answered or its claim is gone; the unanswered keys whose
        claims are gone are returned to be claimed again."""
        while True:
            await anyio.sleep(self.settings.poll_interval)
            found = await answered(keys)
            self.answered_remotely += len(found)
            result.update(found)
            keys = [key for key in keys if key not in found]
            if not keys:
                return []
            try:
                held = await self.backend.get_many([self._key(key) for key in keys])
            except Exception:
                self.errors += 1
                return keys
            free = [key for key, token in zip(keys, held, strict=True) if token is None]
            if free:
                return keys

    def _key(self, key: Hashable) -> str:
        return self._prefix + str(key)
