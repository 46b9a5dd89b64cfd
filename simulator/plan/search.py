"""Bisection over one axis: the largest (or smallest) value at which a monotone predicate holds.

:class:`Bisection` is driven from outside (``next_value``, then ``record``), so a plan can run
the searches of every seed in lockstep, one batch of replays in parallel per step; :func:`bisect`
drives one with a plain function.

For ``direction = "largest"`` the predicate must hold at ``low`` and, once it fails, fail at
every larger value (``"smallest"``: the mirror image). The search evaluates ``low``, then
``high``, then halves the interval between the last passing and the first failing value until
they are ``tolerance`` apart (for integers: adjacent); the answer is the last passing value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

__all__ = ["Bisection", "SearchOutcome", "bisect"]

Direction = Literal["largest", "smallest"]


class SearchOutcome(msgspec.Struct, frozen=True):
    answer: float | None
    """The last passing value (``None``: the predicate fails at the near end already)."""
    status: Literal["found", "none", "whole-range"]
    """``found``: between a passing and a failing value; ``none``: it fails at ``low``
    (``high`` when searching the smallest); ``whole-range``: it holds at the far end too."""
    failing: float | None
    """The nearest failing value beyond the answer (``None`` unless ``found``)."""
    evaluations: list[tuple[float, bool]]


class Bisection:
    def __init__(
        self,
        low: float,
        high: float,
        *,
        direction: Direction = "largest",
        tolerance: float | None = None,
        integer: bool = False,
    ) -> None:
        if low > high:
            raise ValueError(f"low {low} is above high {high}")
        if integer:
            low, high = int(low), int(high)
        self.integer = integer
        self.tolerance = (
            tolerance if tolerance is not None else (1 if integer else (high - low) / 64)
        )
        self.near, self.far = (low, high) if direction == "largest" else (high, low)
        self.good: float | None = None
        self.bad: float | None = None
        self.evaluations: list[tuple[float, bool]] = []
        self.outcome: SearchOutcome | None = None

    def next_value(self) -> float | None:
        """The value to evaluate next; ``None`` when the search is over (see :attr:`outcome`)."""
        if self.outcome is not None:
            return None
        if self.good is None:
            return self.near
        if self.bad is None:
            return self.far
        if self.integer:
            return (int(self.good) + int(self.bad)) // 2
        return (self.good + self.bad) / 2

    def record(self, value: float, ok: bool) -> None:
        self.evaluations.append((value, ok))
        if self.good is None:
            if not ok:
                return self._finish(None, "none")
            self.good = value
            if self.near == self.far:
                return self._finish(value, "whole-range")
            return None
        if self.bad is None:
            if ok:
                return self._finish(value, "whole-range")
            self.bad = value
        elif ok:
            self.good = value
        else:
            self.bad = value
        gap = abs(self.bad - self.good)
        if gap <= self.tolerance or (self.integer and gap <= 1):
            self._finish(self.good, "found")
        return None

    def _finish(self, answer: float | None, status: str) -> None:
        self.outcome = SearchOutcome(
            answer=answer,
            status=status,  # type: ignore[arg-type]
            failing=self.bad if status == "found" else None,
            evaluations=list(self.evaluations),
        )


def bisect(
    holds: Callable[[float], bool],
    low: float,
    high: float,
    *,
    direction: Direction = "largest",
    tolerance: float | None = None,
    integer: bool = False,
) -> SearchOutcome:
    """Run a :class:`Bisection` with ``holds`` as the predicate."""
    search = Bisection(low, high, direction=direction, tolerance=tolerance, integer=integer)
    while (value := search.next_value()) is not None:
        search.record(value, holds(value))
    assert search.outcome is not None
    return search.outcome
