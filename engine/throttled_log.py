"""A warning that repeats at most once per interval: failures of a dependency that is down
happen on every call, and the log should say so once, not thousands of times."""

from __future__ import annotations

import logging
from typing import Any

from engine.clock import Clock

__all__ = ["ThrottledWarning"]


class ThrottledWarning:
    """Logs at WARNING at most once per ``interval`` seconds of ``clock.monotonic()``; the
    occurrences in between go to DEBUG, so nothing is lost for who wants it."""

    __slots__ = ("_clock", "_interval", "_last", "_log")

    def __init__(self, log: logging.Logger, *, clock: Clock, interval: float) -> None:
        self._log = log
        self._clock = clock
        self._interval = interval
        self._last: float | None = None

    def __call__(self, message: str, *args: Any) -> None:
        now = self._clock.monotonic()
        if self._last is None or now - self._last >= self._interval:
            self._last = now
            self._log.warning(message, *args)
        else:
            self._log.debug(message, *args)
