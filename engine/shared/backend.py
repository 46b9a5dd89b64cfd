"""What the shared tier must offer: a few Redis operations and the limiter's script.

Three implementations keep the same semantics: :class:`engine.redis.CoredisBackend` (a real
Redis through coredis), :class:`engine.redis.RedisPyBackend` (a real Redis through an
application's redis-py pool, asyncio only; the same scripts) and
:class:`engine.shared.InProcessRedis` (a twin for virtual time and tests). Values are opaque
bytes here; key TTLs are garbage-collection bounds only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from engine.errors import EngineError

__all__ = ["RateDecision", "SharedBackend", "SharedTierUnavailable"]


class SharedTierUnavailable(EngineError, ConnectionError):
    """The shared tier cannot be reached (the in-process twin raises it when switched off)."""


class RateDecision(msgspec.Struct, frozen=True):
    """What the limiter's script answered for one grant attempt (integer milliseconds)."""

    granted: bool
    wait_ms: int
    """0 when granted; else milliseconds until the next grant could be made."""
    now_ms: int
    """The instant the decision was made at, in epoch milliseconds on the script's clock."""


@runtime_checkable
class SharedBackend(Protocol):
    """One round trip per call. Any method may raise (a connection error, a timeout)."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        """The values of ``keys``, in order (``None`` where absent): one ``MGET``."""
        ...

    async def set(self, key: str, value: bytes, *, ttl_ms: int) -> None:
        """``SET key value PX ttl_ms``."""
        ...

    async def set_if_absent(self, key: str, value: bytes, *, ttl_ms: int) -> bool:
        """``SET key value NX PX ttl_ms``; whether it was set."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """``DEL keys``."""
        ...

    async def delete_prefix(self, prefix: str, *, batch: int = 500) -> int:
        """Delete every key starting with ``prefix``; how many. On Redis: ``SCAN`` with
        ``MATCH`` and ``DEL``, one round trip (a script) per batch of about ``batch`` keys
        scanned, each bounded by the command timeout. Not atomic: a key written meanwhile may
        survive."""
        ...

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only if it holds ``value`` (atomically); whether it did."""
        ...

    async def extend_if_equal(self, key: str, value: bytes, *, ttl_ms: int) -> bool:
        """Reset ``key``'s TTL to ``ttl_ms`` only if it holds ``value`` (atomically); whether
        it did (a lock holder keeping its lock alive)."""
        ...

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
        """Apply one instance's changes to the shared adapted rate, atomically; the shared
        scale after them (see :mod:`engine.shared.rate_adapt`). ``now_ms`` as for
        :meth:`rate_decide`; ``ttl_ms`` bounds an idle state's life."""
        ...

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
        """Grant now if every rule allows it, atomically (see :mod:`engine.shared.rate_decision`).

        ``now_ms`` is the client's epoch milliseconds, or ``None`` for the server's clock;
        ``rules`` are ``(limit, window_ms)`` pairs; ``pause_ms > 0`` first forbids grants until
        ``now + pause_ms``. ``known_ms`` (grants the caller got from the shared state, at the
        milliseconds it recorded) and ``ages_ms`` (grants it made locally while the tier was
        down, as ages) are merged into the state first, so a state that was lost or never saw
        them still counts them (how the budget holds through a failover).
        """
        ...
