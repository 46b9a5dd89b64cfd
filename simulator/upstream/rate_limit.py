"""The upstream's per-client rate limit: sliding windows, 429 + Retry-After, a penalty box.

Sans-I/O: :meth:`UpstreamRateLimit.check` takes the arrival instant and mutates only its own
state. Semantics:

- Each rule ``(limit, window)`` admits a request arriving at ``now`` only if fewer than
  ``limit`` of the client's *admitted* requests arrived in ``(now - window, now]``. A request
  is admitted when every rule admits it. Rejected requests do not count toward any window (so a
  client that backs off as told is served as soon as the window frees).
- A rejection carries ``retry_after``: the exact time until every violated rule would admit the
  request, assuming nothing else is admitted meanwhile. A request at ``now + retry_after`` is
  admitted by those rules.
- Penalty box (optional): a rejected request that arrives before the client's previous
  Retry-After elapsed is a strike; ``strikes`` strikes in a row (an admitted request resets the
  count) block the client for ``block`` seconds, during which every request is rejected with the
  remaining block time. Requests during a block do not extend it.
"""

from __future__ import annotations

from collections import deque

import msgspec

from engine.config import Config, NonNegative, Positive, PositiveInt

__all__ = [
    "Allowed",
    "PenaltyBox",
    "RateLimitConfig",
    "RateLimitRule",
    "Rejected",
    "UpstreamRateLimit",
]


class RateLimitRule(Config):
    """At most ``limit`` admitted requests per client in any ``window`` seconds."""

    limit: PositiveInt
    window: Positive


class PenaltyBox(Config):
    """Block a client for ``block`` seconds after ``strikes`` requests sent during its
    Retry-After."""

    strikes: PositiveInt = 10
    block: Positive = 60.0


class RateLimitConfig(Config):
    """The rules (all must admit), the optional penalty box, and how long a 429 takes to send.

    Defaults: 100 per 60 s and 5 per 1 s. An evenly spaced client at 80/min (one request every
    0.75 s) stays under both with room for network jitter; the old 120/min setting exceeds
    100/min and draws 429s within its first minute; a fan-out of more than 5 simultaneous
    requests draws 429s from the burst rule.
    """

    rules: tuple[RateLimitRule, ...] = (
        RateLimitRule(limit=100, window=60.0),
        RateLimitRule(limit=5, window=1.0),
    )
    penalty_box: PenaltyBox | None = msgspec.field(default_factory=PenaltyBox)
    rejection_latency: NonNegative = 0.005
    """Seconds a 429 takes to send."""


class Allowed(msgspec.Struct, frozen=True):
    pass


class Rejected(msgspec.Struct, frozen=True):
    """``retry_after``: exact seconds until a request would be admitted; ``blocked``: the
    client is in the penalty box."""

    retry_after: float
    blocked: bool = False


ALLOWED = Allowed()


class _Client:
    __slots__ = ("admitted", "blocked_until", "retry_at", "strikes")

    def __init__(self, rules: int) -> None:
        self.admitted: list[deque[float]] = [deque() for _ in range(rules)]
        self.retry_at = float("-inf")
        self.blocked_until = float("-inf")
        self.strikes = 0


class UpstreamRateLimit:
    """Per-client decisions for requests in order of arrival (``now`` must not decrease)."""

    def __init__(self, config: RateLimitConfig | None = None) -> None:
        self.config = config or RateLimitConfig()
        self._rules = [(r.limit, r.window) for r in self.config.rules]
        self._clients: dict[str, _Client] = {}

    def check(self, client: str, now: float) -> Allowed | Rejected:
        state = self._clients.get(client)
        if state is None:
            state = self._clients[client] = _Client(len(self._rules))
        if now < state.blocked_until:
            return Rejected(state.blocked_until - now, blocked=True)
        retry_after = 0.0
        for (limit, window), admitted in zip(self._rules, state.admitted, strict=True):
            while admitted and admitted[0] + window <= now:
                admitted.popleft()
            if len(admitted) >= limit:
                retry_after = max(retry_after, admitted[len(admitted) - limit] + window - now)
        if retry_after <= 0.0:
            for admitted in state.admitted:
                admitted.append(now)
            state.strikes = 0
            return ALLOWED
        box = self.config.penalty_box
        if box is not None and now < state.retry_at:
            state.strikes += 1
            if state.strikes >= box.strikes:
                state.strikes = 0
                state.blocked_until = now + box.block
                return Rejected(box.block, blocked=True)
        state.retry_at = now + retry_after
        return Rejected(retry_after)
