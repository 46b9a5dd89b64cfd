"""Two classes of requests sharing one budget: which class the next grant goes to, free of I/O.

A person waiting for a playlist should not wait behind work nobody waits for (a refresh ahead,
pre-warming). So every request has a class, ``"interactive"`` (the default) or
``"background"``, and the rate limiter's line is ordered by it: interactive requests go before
background ones, first come first served within a class. Strict priority would starve
background work under sustained interactive load (a refresh that never runs lets its key
expire), so background gets a bounded share: while both classes wait, one grant in every
``every`` goes to background (``every = round(1 / background_share)``).

:class:`PriorityShare` decides; the limiter that owns it (:class:`engine.limits.RateLimiter`,
and the local line of :class:`engine.shared.RedisRateLimiter`) tells it who waits and what it
granted. Guarantees (property-tested), over the grants it decides (a retry after a 429, which
goes ``first``, is granted outside the classes and does not count):

- **Interactive first, within the share.** While interactive requests wait, a grant goes to
  background only when at least ``every - 1`` interactive grants were made since the last
  background grant while background waited: in any run of grants made while both classes
  waited, background has at most one in every ``every``.
- **No starvation.** While background requests wait, at most ``every - 1`` grants in a row go
  to interactive ones; a background request waits for at most ``every - 1`` interactive grants
  per background request ahead of it.
- **Work-conserving.** A class that waits alone gets the grant.
- **Deterministic.** The decision depends on the waiting flags and the counts alone: no clock,
  no randomness, the same on every event loop.

The class of a request travels in the :data:`FETCH_PRIORITY` context
variable (the cache sets it to ``"background"`` around a refresh; ``Engine.upstream(...,
priority=...)`` and ``UpstreamGate.request(..., priority=...)`` set it explicitly), so the
limiter reads it where it is acquired without any new argument in the
:class:`~engine.limits.protocol.RateLimiting` protocol.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Literal

__all__ = [
    "BACKGROUND",
    "FETCH_PRIORITY",
    "INTERACTIVE",
    "Priority",
    "PriorityShare",
    "fetch_priority",
    "share_every",
]

Priority = Literal["interactive", "background"]
"""A request's class: someone waits for it (``interactive``), or nobody does (``background``)."""

INTERACTIVE: Priority = "interactive"
BACKGROUND: Priority = "background"

#: The class of the fetch running in this task: ``"background"`` inside a refresh that no
#: caller waits for (the cache sets it around the fetch it runs, inside the flight's own task),
#: ``"interactive"`` otherwise; ``Engine.upstream(..., priority=)`` and ``UpstreamGate.request``
#: set it explicitly. The rate limiter reads it with :func:`fetch_priority`. A miss that joins
#: a refresh already running waits for it at that refresh's (background) class.
FETCH_PRIORITY: ContextVar[Priority] = ContextVar("engine_fetch_priority", default=INTERACTIVE)


def fetch_priority() -> Priority:
    """The class of the fetch running in the current task (see :data:`FETCH_PRIORITY`)."""
    return FETCH_PRIORITY.get()


def share_every(share: float) -> int:
    """``share`` of the grants as "one in every N": ``N = round(1 / share)``, at least 2 (a
    share above one half would put background before interactive)."""
    if not 0 < share <= 0.5:
        raise ValueError(f"background share must be in (0, 0.5], not {share!r}")
    return max(2, round(1 / share))


class PriorityShare:
    """Which class the next grant goes to (see the module docstring)."""

    __slots__ = ("_passed", "background_ahead", "contended", "every", "granted")

    def __init__(self, share: float) -> None:
        self.every = share_every(share)
        self._passed = 0  # interactive grants made while background waited, since its last
        self.granted: dict[Priority, int] = {INTERACTIVE: 0, BACKGROUND: 0}
        """Grants decided, per class."""
        self.contended = 0
        """Grants decided while both classes waited."""
        self.background_ahead = 0
        """Of those, the grants that went to background (its share in use)."""

    def choose(self, *, interactive: bool, background: bool) -> Priority | None:
        """The class of the next grant when interactive and/or background requests wait;
        ``None`` when neither does."""
        if interactive and background:
            return BACKGROUND if self._passed >= self.every - 1 else INTERACTIVE
        if interactive:
            return INTERACTIVE
        if background:
            return BACKGROUND
        return None

    def granted_to(self, priority: Priority, *, interactive: bool, background: bool) -> None:
        """A grant went to ``priority``; ``interactive`` and ``background``: who waited at that
        moment, the one granted included."""
        self.granted[priority] += 1
        if interactive and background:
            self.contended += 1
        if priority == BACKGROUND:
            self._passed = 0
            if interactive:
                self.background_ahead += 1
        elif background:
            self._passed += 1

    def __repr__(self) -> str:
        return (
            f"<PriorityShare [background 1 in {self.every} while both wait | granted: "
            f"{self.granted[INTERACTIVE]} interactive, {self.granted[BACKGROUND]} background "
            f"({self.background_ahead} of {self.contended} contended)]>"
        )
