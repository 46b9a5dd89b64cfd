"""The one source of time for the engine.

Engine code never calls ``time.time()``, ``time.monotonic()`` or ``datetime.now()`` (ruff bans
them outside this module). It asks a :class:`Clock`:

- :meth:`Clock.monotonic` is the event loop's clock (``anyio.current_time()``, read through
  :func:`engine.virtual.loop_time`, which skips anyio's backend detection). Limiters and
  singleflight use it. Under a virtual-time run it is the virtual clock, so sleeps cost nothing.
- :meth:`Clock.wall` is epoch seconds. Cache expiries use it, because entries outlive the process
  (Redis) and are shared between processes, where one process's monotonic reading means nothing.

In production use :class:`SystemClock`; inside :func:`engine.virtual.run_virtual` use
:class:`VirtualClock`, whose wall time is an epoch anchor plus the elapsed virtual time, so a
60-day TTL expires after 60 virtual days.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from engine.virtual import loop_time

__all__ = ["DEFAULT_EPOCH", "Clock", "SystemClock", "VirtualClock"]

#: 2026-01-01T00:00:00Z: the wall time at which virtual runs start unless told otherwise.
DEFAULT_EPOCH = 1_767_225_600.0


@runtime_checkable
class Clock(Protocol):
    """Where engine code reads the time. Both methods must be cheap and never block."""

    def monotonic(self) -> float:
        """Seconds on the event loop's clock; only differences are meaningful."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """Real time: the event loop's clock and the system's wall clock."""

    __slots__ = ()

    def monotonic(self) -> float:
        return loop_time()

    def wall(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """Virtual time: the event loop's (virtual) clock, and an epoch anchored to it.

    ``wall()`` is ``epoch + anyio.current_time()``: both virtual loops that
    :func:`engine.virtual.run_virtual` provides start their clock at 0, so wall time starts at
    ``epoch`` and advances exactly as virtual sleeps do.
    """

    __slots__ = ("epoch",)

    def __init__(self, epoch: float = DEFAULT_EPOCH) -> None:
        self.epoch = float(epoch)

    def monotonic(self) -> float:
        return loop_time()

    def wall(self) -> float:
        return self.epoch + loop_time()

    def __repr__(self) -> str:
        return f"VirtualClock(epoch={self.epoch!r})"
