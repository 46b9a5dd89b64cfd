"""The half of a shared backend on Redis that is Lua scripts, whatever the client.

Both adapters (:class:`~engine.redis.CoredisBackend`, :class:`~engine.redis.RedisPyBackend`)
register the same scripts (:mod:`engine.redis.script`) and call them alike: a registered
script is called as ``script(keys=[...], args=[...])`` by coredis and redis-py both, and
reloads itself when the server forgot it (``NOSCRIPT``). So the script-backed operations live
here once; an adapter adds the plain commands (``MGET``, ``SET``, ``DEL``) in its client's
dialect, and may check something before each call (:meth:`ScriptedBackend._before_call`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio

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

__all__ = ["ScriptedBackend"]


class ScriptedBackend:
    """The script-backed :class:`~engine.shared.backend.SharedBackend` operations; each call
    is one round trip, bounded by ``timeout`` seconds (``anyio.fail_after``)."""

    def __init__(self, register: Callable[[str], Any], *, timeout: float) -> None:
        self._timeout = timeout
        self._rate = register(RATE_SCRIPT)
        self._adapt = register(ADAPT_SCRIPT)
        self._delete_if_equal = register(DELETE_IF_EQUAL)
        self._extend_if_equal = register(EXTEND_IF_EQUAL)
        self._delete_scanned = register(DELETE_SCANNED)

    def _before_call(self) -> None:
        """Called before every operation (an adapter that can only run on some event loop
        checks it here)."""

    async def delete_prefix(self, prefix: str, *, batch: int = 500) -> int:
        """``SCAN`` ``MATCH <prefix>*`` and ``DEL`` in a script: one round trip per batch (about
        ``batch`` keys scanned, each call under the timeout), until the cursor is 0."""
        self._before_call()
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
        self._before_call()
        with anyio.fail_after(self._timeout):
            return bool(await self._delete_if_equal(keys=[key], args=[value]))

    async def extend_if_equal(self, key: str, value: bytes, *, ttl_ms: int) -> bool:
        self._before_call()
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
        self._before_call()
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
        self._before_call()
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
