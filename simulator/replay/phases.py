"""How much of the upstream's true limit a replay used, phase by phase, and how often it was told
429: the measure of a client that does not know the limit (the adaptive rate).

A *phase* is a stretch of the run with one true limit: the whole run, or each of the upstream's
``rate_limit.phases``. Its true limit is the first rule's (``limit`` per ``window``). A phase is
judged from ``settle`` seconds after its start (learning time, stated in the scenario) to its
end (the next phase's start, or the end of the arrivals):

- **used**: requests the upstream admitted there (every answer but a 429) over the most its
  true limit admits in that time, ``limit * judged seconds / window``. It reads as the share of
  the limit used only while work was waiting for the budget (the scenarios that bound it keep
  demand above every phase's limit), so idle time does not count against it;
- **refused**: the share of the requests arriving there that were answered 429.

Requests count at their arrival at the upstream; every client's requests count together (the
scenarios that judge phases have one client).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from simulator.upstream.rate_limit import RateLimitConfig
from simulator.upstream.request_log import RequestRecord

__all__ = ["PhaseFigures", "phase_figures"]


class PhaseFigures(msgspec.Struct, frozen=True):
    start: float
    """Seconds since the run's origin."""
    end: float
    limit: int
    """The true limit: requests admitted per ``window``."""
    window: float
    judged_from: float
    admitted: int
    refused: int
    used: float
    """``admitted / (limit * (end - judged_from) / window)``."""
    refused_share: float


def phase_figures(
    records: Iterable[RequestRecord], config: RateLimitConfig, *, end: float, settle: float
) -> list[PhaseFigures]:
    """The figures of each phase of ``config`` over ``records`` (see the module docstring)."""
    if not config.rules:
        return []
    window = config.rules[0].window
    bounds = [(0.0, config.rules[0].limit)]
    bounds += [(phase.start, phase.limits[0]) for phase in config.phases]
    spans = [
        (start, stop, limit)
        for (start, limit), stop in zip(bounds, [b[0] for b in bounds[1:]] + [end], strict=True)
        if stop > start
    ]
    counts = [[0, 0] for _ in spans]
    for record in records:
        at = record.arrival
        for i, (start, stop, _) in enumerate(spans):
            if start + settle <= at < stop:
                counts[i][record.outcome == "rate_limited"] += 1
                break
    figures = []
    for (start, stop, limit), (admitted, refused) in zip(spans, counts, strict=True):
        judged = max(0.0, stop - start - settle)
        allowed = limit * judged / window
        total = admitted + refused
        figures.append(
            PhaseFigures(
                start=start,
                end=stop,
                limit=limit,
                window=window,
                judged_from=min(stop, start + settle),
                admitted=admitted,
                refused=refused,
                used=round(admitted / allowed, 6) if allowed else 0.0,
                refused_share=round(refused / total, 6) if total else 0.0,
            )
        )
    return figures
