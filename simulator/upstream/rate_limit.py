"""The upstream's per-client rate limit: sliding windows, 429 + Retry-After, a penalty box.

Sans-I/O: :meth:`UpstreamRateLimit.check` takes the arrival instant (and the send instant,
when known) and mutates only its own state. Semantics:

- Each rule ``(limit, window)`` admits a request arriving at ``now`` only if fewer than
  ``limit`` of the client's *admitted* requests arrived in ``(now - window, now]``. A request
  is admitted when every rule admits it. Rejected requests do not count toward any window (so a
  client that backs off as told is served as soon as the window frees).
- A rejection carries ``retry_after``: the exact time until every violated rule would admit the
  request, assuming nothing else is admitted meanwhile. A request at ``now + retry_after`` is
  admitted by those rules.
- Penalty box (optional): a rejection that arrives while no wait is in force starts one: the
  client is *told* to wait when that 429 leaves (its arrival plus ``rejection_latency``), and the
  wait lasts until its Retry-After elapses. A rejected request that arrives during the wait is a
  strike only if it was *sent* at or after the telling plus ``grace``: requests already on their
  way when the 429 went out (an obedient client's other requests in flight) are not strikes.
  The send instant is the request's ``sent`` (in-process: when the client sent it; over HTTP:
  when the server read it, before the simulated network delay); unknown, it is the arrival.
  ``strikes`` strikes in a row (an admitted request resets the count) block the client for
  ``block`` seconds, during which every request is rejected with the remaining block time.
  Requests during a block do not extend it.
- Phases (optional): from each phase's ``start`` (seconds since the simulator's origin) its
  limits replace the rules' limits, window for window: an upstream whose true limit changes
  during a run, unknown to the client (as when a provider retunes its limits).
"""

from __future__ import annotations

from collections import deque

import msgspec

from engine.config import Config, ConfigError, NonNegative, Positive, PositiveInt

__all__ = [
    "Allowed",
    "PenaltyBox",
    "RateLimitConfig",
    "RateLimitPhase",
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
    Retry-After, counting only those sent at least ``grace`` seconds after the 429 that
    announced the wait left the server.

    ``grace`` (an assumption, like the rest of the box) absorbs what the simulator cannot see
    over real sockets: the transit of a request the client had already written when the 429
    reached it. In-process, ``sent`` is exact and the grace only delays the box of a client
    that ignores Retry-After by that long."""

    strikes: PositiveInt = 10
    block: Positive = 60.0
    grace: NonNegative = 0.1


class RateLimitPhase(Config):
    """From ``start`` seconds after the simulator's origin on, ``limits`` (one per rule, in the
    rules' order) replace the rules' limits; the windows stay."""

    start: NonNegative
    limits: tuple[PositiveInt, ...]


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
    phases: tuple[RateLimitPhase, ...] = ()
    """Limits that change during the run, in order of ``start`` (none: the rules hold)."""

    def validate(self) -> None:
        starts = [phase.start for phase in self.phases]
        if starts != sorted(starts):
            raise ConfigError(f"RateLimitConfig.phases: starts must not decrease, not {starts}")
        for i, phase in enumerate(self.phases):
            if len(phase.limits) != len(self.rules):
                raise ConfigError(
                    f"RateLimitConfig.phases[{i}].limits: one per rule ({len(self.rules)}), "
                    f"not {len(phase.limits)}"
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
    __slots__ = ("admitted", "blocked_until", "retry_at", "strikes", "told")

    def __init__(self, rules: int) -> None:
        self.admitted: list[deque[float]] = [deque() for _ in range(rules)]
        self.retry_at = float("-inf")
        self.told = float("-inf")
        self.blocked_until = float("-inf")
        self.strikes = 0


class UpstreamRateLimit:
    """Per-client decisions for requests in order of arrival (``now`` must not decrease)."""

    def __init__(self, config: RateLimitConfig | None = None, *, origin: float = 0.0) -> None:
        self.config = config or RateLimitConfig()
        self._rules = [(r.limit, r.window) for r in self.config.rules]
        self._clients: dict[str, _Client] = {}
        # Phases still to come, as (instant, rules), the next first.
        self._phases = [
            (
                origin + phase.start,
                [
                    (limit, r.window)
                    for limit, r in zip(phase.limits, self.config.rules, strict=True)
                ],
            )
            for phase in self.config.phases
        ][::-1]

    def rules_at(self, now: float) -> list[tuple[int, float]]:
        """The ``(limit, window)`` rules in force at ``now`` (``now`` must not decrease)."""
        phases = self._phases
        while phases and phases[-1][0] <= now:
            self._rules = phases.pop()[1]
        return self._rules

    def check(self, client: str, now: float, sent: float | None = None) -> Allowed | Rejected:
        """The verdict on ``client``'s request arriving at ``now``; ``sent``: when it was sent,
        if known (only the penalty box reads it)."""
        state = self._clients.get(client)
        if state is None:
            state = self._clients[client] = _Client(len(self._rules))
        if now < state.blocked_until:
            return Rejected(state.blocked_until - now, blocked=True)
        retry_after = 0.0
        rules = self.rules_at(now) if self._phases else self._rules
        for (limit, window), admitted in zip(rules, state.admitted, strict=True):
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
        if now >= state.retry_at:  # no wait in force: this 429 announces one
            state.told = now + self.config.rejection_latency
        elif box is not None and (now if sent is None else sent) >= state.told + box.grace:
            state.strikes += 1
            if state.strikes >= box.strikes:
                state.strikes = 0
                state.blocked_until = now + box.block
                return Rejected(box.block, blocked=True)
        state.retry_at = now + retry_after
        return Rejected(retry_after)
