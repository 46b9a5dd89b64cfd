"""The upstream's per-client rate limit: sliding windows, 429 + Retry-After, a penalty box.

Sans-I/O: :meth:`UpstreamRateLimit.check` takes the arrival instant and mutates only its own
state. Semantics:

- Each rule ``(limit, window_s)`` admits a request arriving at ``now`` only if fewer than
  ``limit`` of the client's *admitted* requests arrived in ``(now - window_s, now]``. A request
  is admitted when every rule admits it. Rejected requests do not count toward any window (so a
  client that backs off as told is served as soon as the window frees).
- A rejection carries ``retry_after``: the exact time until every violated rule would admit the
  request, assuming nothing else is admitted meanwhile. A request at ``now + retry_after`` is
  admitted by those rules.
- Penalty box (optional): a rejected request that arrives before the client's previous
  Retry-After elapsed is a strike; ``strikes`` strikes in a row (an admitted request resets the
  count) block the client for ``block_s``, during which every request is rejected with the
  remaining block time. Requests during a block do not extend it.
"""

from __future__ import annotations

from collections import deque

import msgspec

__all__ = [
    "Allowed",
    "PenaltyBox",
    "RateLimitConfig",
    "RateLimitRule",
    "Rejected",
    "UpstreamRateLimit",
]


class RateLimitRule(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """At most ``limit`` admitted requests per client in any ``window_s`` seconds."""

    limit: int
    window_s: float

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"rate_limit.rules.limit must be at least 1, not {self.limit}")
        if not self.window_s > 0:
            raise ValueError(f"rate_limit.rules.window_s must be positive, not {self.window_s}")


class PenaltyBox(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Block a client for ``block_s`` after ``strikes`` requests sent during its Retry-After."""

    strikes: int = 10
    block_s: float = 60.0

    def __post_init__(self) -> None:
        if self.strikes < 1:
            raise ValueError(f"penalty_box.strikes must be at least 1, not {self.strikes}")
        if not self.block_s > 0:
            raise ValueError(f"penalty_box.block_s must be positive, not {self.block_s}")


def _default_rules() -> list[RateLimitRule]:
    return [RateLimitRule(100, 60.0), RateLimitRule(5, 1.0)]


class RateLimitConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The rules (all must admit), the optional penalty box, and how long a 429 takes to send.

    Defaults: 100 per 60 s and 5 per 1 s. An evenly spaced client at 80/min (one request every
    0.75 s) stays under both with room for network jitter; the old 120/min setting exceeds
    100/min and draws 429s within its first minute; a fan-out of more than 5 simultaneous
    requests draws 429s from the burst rule.
    """

    rules: list[RateLimitRule] = msgspec.field(default_factory=_default_rules)
    penalty_box: PenaltyBox | None = msgspec.field(default_factory=PenaltyBox)
    rejection_latency_s: float = 0.005

    def __post_init__(self) -> None:
        if not self.rejection_latency_s >= 0:
            raise ValueError(
                f"rate_limit.rejection_latency_s must be >= 0, not {self.rejection_latency_s}"
            )


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
        self._rules = [(r.limit, r.window_s) for r in self.config.rules]
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
                state.blocked_until = now + box.block_s
                return Rejected(box.block_s, blocked=True)
        state.retry_at = now + retry_after
        return Rejected(retry_after)
