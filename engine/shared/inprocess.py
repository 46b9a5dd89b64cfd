"""An in-process twin of the shared tier: Redis semantics without I/O, for virtual time.

Replays cannot use a real Redis (real I/O lets virtual time jump), so several engines in one
replay share an :class:`InProcessRedis` instead. It keeps the semantics that matter:

- values are bytes (the store encodes them exactly as for Redis, so corrupt values and unknown
  type tags behave the same);
- key TTLs run on ``clock.monotonic()`` (virtual time in a replay) and only collect garbage;
- the limiter uses :func:`engine.shared.rate_decision.decide`, the Lua script's twin; its
  "server" time is ``clock.wall()``. Its state shares the key space with values, as in Redis:
  writing or deleting the key resets it, and a key holding a value (which the script would read
  as no state) starts an empty one;
- every call is atomic (no await inside), like a Redis command or script;
- ``available = False`` makes every call raise :class:`SharedTierUnavailable`: an outage;
  :meth:`~InProcessRedis.flush` loses every key and limiter state, as a restarted Redis that
  does not persist.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from engine.clock import Clock
from engine.shared.backend import RateDecision, SharedTierUnavailable
from engine.shared.rate_adapt import AdaptState, adapt
from engine.shared.rate_decision import RateState, decide

T = TypeVar("T")

__all__ = ["InProcessRedis"]


class InProcessRedis:
    """A :class:`~engine.shared.backend.SharedBackend` held in a dict; see the module docstring."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._values: dict[str, tuple[bytes, float]] = {}  # key -> (value, expires on monotonic)
        self._rates: dict[str, RateState] = {}
        self._adapts: dict[str, AdaptState] = {}
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise SharedTierUnavailable("the in-process shared tier is switched off")

    def _live(self, key: str) -> bytes | None:
        held = self._values.get(key)
        if held is None:
            return None
        if held[1] <= self._clock.monotonic():
            del self._values[key]
            return None
        return held[0]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        self._check()
        return [self._live(key) for key in keys]

    async def set(self, key: str, value: bytes, *, ttl_ms: int) -> None:
        self._check()
        self._rates.pop(key, None)
        self._adapts.pop(key, None)
        self._values[key] = (bytes(value), self._clock.monotonic() + ttl_ms / 1000)

    async def set_if_absent(self, key: str, value: bytes, *, ttl_ms: int) -> bool:
        self._check()
        if self._live(key) is not None:
            return False
        self._values[key] = (bytes(value), self._clock.monotonic() + ttl_ms / 1000)
        return True

    async def delete(self, keys: Sequence[str]) -> None:
        self._check()
        for key in keys:
            self._values.pop(key, None)
            self._rates.pop(key, None)
            self._adapts.pop(key, None)

    async def delete_prefix(self, prefix: str, *, batch: int = 500) -> int:
        self._check()
        dropped = 0
        for key in [key for key in self._values if key.startswith(prefix)]:
            dropped += self._live(key) is not None
            self._values.pop(key, None)
        for states in (self._rates, self._adapts):
            for key in [key for key in states if key.startswith(prefix)]:
                del states[key]
                dropped += 1
        return dropped

    async def delete_if_equal(self, key: str, value: bytes) -> bool:
        self._check()
        if self._live(key) != value:
            return False
        del self._values[key]
        return True

    async def extend_if_equal(self, key: str, value: bytes, *, ttl_ms: int) -> bool:
        self._check()
        if self._live(key) != value:
            return False
        self._values[key] = (value, self._clock.monotonic() + ttl_ms / 1000)
        return True

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
        self._check()
        return adapt(
            self._script_state(self._adapts, key, AdaptState),
            now_ms=self._now_ms(now_ms),
            increase=increase,
            decrease_to=decrease_to,
            floor=floor,
            ceiling=ceiling,
            hold_ms=hold_ms,
        )

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
        self._check()
        return decide(
            self._script_state(self._rates, key, RateState),
            now_ms=self._now_ms(now_ms),
            min_interval_ms=min_interval_ms,
            pause_ms=pause_ms,
            rules=rules,
            known_ms=known_ms,
            ages_ms=ages_ms,
        )

    def _script_state(self, table: dict[str, T], key: str, new: Callable[[], T]) -> T:
        """A script's state at ``key``: a value held there is no state (the script replaces it)."""
        state = table.get(key)
        if state is None:
            self._values.pop(key, None)
            state = table[key] = new()
        return state

    def _now_ms(self, now_ms: int | None) -> int:
        """The caller's epoch milliseconds, or the twin's clock (a Redis server's ``TIME``)."""
        return math.floor(self._clock.wall() * 1000) if now_ms is None else now_ms

    def flush(self) -> None:
        """Forget every key and limiter state, as ``FLUSHALL`` or a restart of a Redis that does
        not persist would (tests restart the twin with it)."""
        self._values.clear()
        self._rates.clear()
        self._adapts.clear()

    def raw_set(self, key: str, value: bytes, *, ttl_ms: int = 60_000) -> None:
        """Write ``value`` as is (tests write garbage with it, as with a raw Redis client)."""
        self._rates.pop(key, None)
        self._adapts.pop(key, None)
        self._values[key] = (bytes(value), self._clock.monotonic() + ttl_ms / 1000)

    def __repr__(self) -> str:
        return f"InProcessRedis(keys={len(self._values)}, available={self.available})"
