"""Cross-instance deduplication of batched lookups: which instance fetches which key.

:class:`DistributedFlight` deduplicates one cache key at a time; lookups by ID go out in batches
of up to 40 keys, formed differently by each instance. :class:`KeyClaims` gives each key its
own claim (``SET <prefix>:claim:<name>:<key> <token> NX PX lock_ttl``) and
:meth:`KeyClaims.fetch` coordinates a batch:

- the keys this instance claims are fetched by it (in as few requests as its own batching
  makes), the claims held by one :class:`~engine.shared.lease.Lease`: renewed every third of
  ``lock_ttl`` meanwhile and released afterwards (each only if it is still this batch's);
- the keys others hold are awaited: every ``poll_interval`` their answers are looked for (the
  holder stores them in the shared store); a key whose claim is gone without an answer (its
  holder failed, died, or the upstream does not know it) is claimed and fetched here.
- A backend error never fails a lookup: the keys are then fetched here (counted).

Guarantee: while the holders are alive, every key is fetched by one instance at a time; a dead
holder delays the others by at most ``lock_ttl``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import anyio

from engine.clock import Clock
from engine.shared.backend import SharedBackend
from engine.shared.config import SharedTierConfig
from engine.shared.lease import Lease

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
        self._leases: set[Lease] = set()  # one per batch this instance is fetching now
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
            mine = await self._claim_and_fetch(pending, fetch, result)
            pending = [key for key in pending if key not in mine]
            if pending:
                pending = await self._await_others(pending, answered, result)
        return result

    async def _claim_and_fetch(
        self,
        keys: list[K],
        fetch: Callable[[list[K]], Awaitable[Mapping[K, Any]]],
        result: dict[K, Any],
    ) -> set[K]:
        """Claim what can be claimed of ``keys`` and fetch it, the claims renewed meanwhile and
        released afterwards; the keys fetched here."""
        lease = Lease.for_tier(self.backend, self.settings, on_error=self._count_error)
        self._leases.add(lease)
        try:
            async with lease:
                mine: set[K] = set()
                for key in keys:
                    try:
                        if await lease.take(self._key(key)):
                            mine.add(key)
                    except Exception:
                        self.errors += 1
                        mine.add(key)  # no shared state to coordinate through: fetch it here
                if mine:
                    self.claimed += len(mine)
                    result.update(await lease.run(lambda: fetch(sorted(mine, key=str))))
                return mine
        finally:
            self._leases.discard(lease)

    def _count_error(self) -> None:
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

    def __repr__(self) -> str:
        held = sum(len(lease.held) for lease in self._leases)
        return (
            f"<KeyClaims [{self._prefix[:-1]} | fetching: {len(self._leases)} batches, "
            f"claims held: {held} | claimed: {self.claimed}, "
            f"answered remotely: {self.answered_remotely}, errors: {self.errors}]>"
        )
