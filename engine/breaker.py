"""Circuit breakers: stop calling an upstream endpoint that keeps failing, then probe it.

Each endpoint has its own circuit. :class:`Circuit` is the decision core, free of I/O: every
method takes ``now`` (the engine clock's ``monotonic()``) and nothing else happens in it. The
engine asks it before each attempt and tells it how the attempt ended, through
:class:`CircuitBreakers`, the thin shell that reads the clock, classifies the outcome and
counts what was refused.

States, as in every resilience library:

- **closed**: calls go. Outcomes are kept over a sliding ``window`` of seconds; once the window
  holds at least ``min_calls`` outcomes and the share of failures among them reaches
  ``failure_rate``, the circuit opens.
- **open**: calls are refused at once (:class:`CircuitOpen`, or a stale cached value where the
  namespace allows one) for ``cooldown`` seconds.
- **half-open**: after the cool-down, at most ``probes`` calls are let through. A probe that
  fails opens the circuit again for another cool-down; ``probes`` successes close it. Other
  calls are refused meanwhile.

Guarantees of :class:`Circuit`:

- The only transitions are closed -> open, open -> half-open, half-open -> open and
  half-open -> closed; never closed -> half-open, never open -> closed.
- It opens only on a failure recorded while closed, with at least ``min_calls`` outcomes in
  the window and ``failures / calls >= failure_rate`` among them.
- While half-open, at most ``probes`` permits are out at once, and at most ``probes`` are
  granted per half-open period plus one per probe released without an outcome.
- It leaves the open state only at or after ``opened_at + cooldown``.
- A permit is settled at most once, and only in the state period it was granted in: an outcome
  of a call granted before a transition (a slow call granted while closed, answering after the
  circuit opened) changes nothing. A permit released without an outcome (a cancelled call, a
  429) gives a probe slot back and records nothing.
- The window keeps one entry per outcome recorded in the last ``window`` seconds, no more.

What counts: a :class:`~engine.retry.Retryable` error other than
:class:`~engine.retry.RateLimited` is a failure (a 5xx, a timeout, a connection error, a
malformed answer); a 429 is the rate limiter's signal and counts as nothing; any other outcome
(an answer, a 4xx, an error of the caller's own) is a success: the upstream answered.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

import anyio
import msgspec

from engine.clock import Clock
from engine.config import Config, Positive, PositiveInt
from engine.errors import EngineError
from engine.retry import RateLimited, Retryable

__all__ = [
    "BreakerConfig",
    "BreakerStats",
    "Circuit",
    "CircuitBreakers",
    "CircuitOpen",
    "CircuitState",
    "Permit",
    "is_failure",
]

CircuitState = Literal["closed", "open", "half_open"]

#: The circuit of calls that name no endpoint.
DEFAULT_ENDPOINT = "upstream"


class BreakerConfig(Config):
    """When a circuit opens, how long it stays open, and how it is probed (see the module
    docstring). ``[breaker]`` in an engine configuration; absent, there is no breaker."""

    failure_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    """Share of failures among the window's outcomes that opens the circuit (0: any failure,
    once the window holds ``min_calls`` outcomes)."""
    window: Positive = 60.0
    """Seconds of outcomes the failure rate is computed over (a sliding window)."""
    min_calls: PositiveInt = 10
    """Outcomes the window must hold before the failure rate can open the circuit."""
    cooldown: Positive = 30.0
    """Seconds an open circuit refuses calls before it lets probes through."""
    probes: PositiveInt = 3
    """Calls let through while half-open; this many successes close the circuit."""


class CircuitOpen(EngineError, ConnectionError):
    """The endpoint's circuit is open: the call was refused without being sent.

    ``retry_after`` is the seconds until the circuit lets a probe through (0.0 when it is
    half-open with every probe out)."""

    def __init__(self, endpoint: str, retry_after: float) -> None:
        super().__init__(
            f"circuit open for {endpoint!r}: the upstream kept failing; "
            f"next probe in {retry_after:.3g} s"
        )
        self.endpoint = endpoint
        self.retry_after = retry_after


def is_failure(error: BaseException) -> bool:
    """Whether ``error`` says the upstream is failing (see the module docstring)."""
    return isinstance(error, Retryable) and not isinstance(error, RateLimited)


class Permit:
    """Leave to make one call, granted by :meth:`Circuit.acquire`; settle it exactly once."""

    __slots__ = ("period", "probe", "settled")

    def __init__(self, period: int, probe: bool) -> None:
        self.period = period
        self.probe = probe
        self.settled = False

    def __repr__(self) -> str:
        kind = "probe" if self.probe else "call"
        return f"<Permit {kind} of period {self.period}{', settled' if self.settled else ''}>"


class Circuit:
    """One endpoint's circuit: the sans-I/O decision core (see the module docstring)."""

    __slots__ = (
        "_config",
        "_failures",
        "_open_until",
        "_outcomes",
        "_period",
        "_probe_successes",
        "_probes_out",
        "changed_at",
        "failures",
        "opened",
        "rejected",
        "state",
        "successes",
        "transitions",
    )

    def __init__(self, config: BreakerConfig) -> None:
        self._config = config
        self.state: CircuitState = "closed"
        self._period = 0  # bumped on every transition: permits of an older period are void
        self._outcomes: deque[tuple[float, bool]] = deque()  # (instant, failed), oldest first
        self._failures = 0  # failures in _outcomes
        self._open_until = -math.inf
        self._probes_out = 0  # probe permits granted this half-open period, not released
        self._probe_successes = 0
        self.changed_at: float | None = None
        """Instant of the last transition (``None``: never left closed)."""
        self.opened = 0
        self.transitions: dict[str, int] = {}
        """Transitions made, by ``"from->to"``."""
        self.rejected = 0
        """Calls refused by :meth:`acquire`."""
        self.failures = 0
        """Failures recorded (in any state, with a valid permit)."""
        self.successes = 0

    @property
    def config(self) -> BreakerConfig:
        return self._config

    def state_at(self, now: float) -> CircuitState:
        """The state at ``now`` (an open circuit past its cool-down reads half-open), without
        changing anything."""
        if self.state == "open" and now >= self._open_until:
            return "half_open"
        return self.state

    def window(self, now: float) -> tuple[int, int]:
        """``(outcomes, failures)`` in the window ending at ``now`` (closed state only)."""
        self._prune(now)
        return len(self._outcomes), self._failures

    def refusal(self, now: float) -> float | None:
        """``None`` when a call at ``now`` would be let through; otherwise the seconds until a
        probe may go (0.0 when half-open with every probe out). Changes nothing but the
        time-driven open -> half-open transition, and grants nothing."""
        self._advance(now)
        if self.state == "closed":
            return None
        if self.state == "open":
            return self._open_until - now
        return None if self._probes_out < self._config.probes else 0.0

    def acquire(self, now: float) -> Permit | None:
        """A permit for one call at ``now``, or ``None`` (counted in :attr:`rejected`)."""
        self._advance(now)
        if self.state == "closed":
            return Permit(self._period, False)
        if self.state == "half_open" and self._probes_out < self._config.probes:
            self._probes_out += 1
            return Permit(self._period, True)
        self.rejected += 1
        return None

    def record(self, permit: Permit, now: float, *, failed: bool) -> None:
        """The call ``permit`` let through ended at ``now``, ``failed`` or not."""
        if permit.settled:
            return
        permit.settled = True
        self._advance(now)
        if permit.period != self._period:
            return  # granted before a transition: its outcome belongs to a state gone by
        if failed:
            self.failures += 1
        else:
            self.successes += 1
        if self.state == "closed":
            self._outcomes.append((now, failed))
            self._failures += failed
            self._prune(now)
            calls = len(self._outcomes)
            config = self._config
            if (
                failed
                and calls >= config.min_calls
                and self._failures >= config.failure_rate * calls
            ):
                self._open(now)
        elif self.state == "half_open":
            if failed:
                self._open(now)
            else:
                self._probe_successes += 1
                if self._probe_successes >= self._config.probes:
                    self._move("closed", now)

    def release(self, permit: Permit, now: float) -> None:
        """The call ``permit`` let through ended with no outcome to record (cancelled, or a
        429): a probe's slot is given back."""
        if permit.settled:
            return
        permit.settled = True
        self._advance(now)
        if permit.probe and permit.period == self._period and self.state == "half_open":
            self._probes_out -= 1

    # -- transitions ----------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if self.state == "open" and now >= self._open_until:
            self._move("half_open", now)

    def _open(self, now: float) -> None:
        self.opened += 1
        self._open_until = now + self._config.cooldown
        self._move("open", now)

    def _move(self, state: CircuitState, now: float) -> None:
        name = f"{self.state}->{state}"
        self.transitions[name] = self.transitions.get(name, 0) + 1
        self.state = state
        self.changed_at = now
        self._period += 1
        self._outcomes.clear()
        self._failures = 0
        self._probes_out = 0
        self._probe_successes = 0

    def _prune(self, now: float) -> None:
        horizon = now - self._config.window
        outcomes = self._outcomes
        while outcomes and outcomes[0][0] <= horizon:
            _, failed = outcomes.popleft()
            self._failures -= failed

    def __repr__(self) -> str:
        return (
            f"<Circuit [{self.state} | opened {self.opened} times, rejected {self.rejected} | "
            f"successes {self.successes}, failures {self.failures}]>"
        )


class BreakerStats(msgspec.Struct, frozen=True):
    """One endpoint's circuit."""

    state: CircuitState
    opened: int
    """Times the circuit opened (from closed or from half-open)."""
    transitions: dict[str, int]
    """Transitions made, by ``"from->to"`` (``"closed->open"``, ``"open->half_open"``, ...)."""
    failed_fast: int
    """Calls refused without being sent (a stale answer included)."""
    stale_answers: int
    """Refused calls answered by a cached value past its expiry (``NamespaceTtl.stale_ttl``)."""
    successes: int
    """Outcomes recorded as successes."""
    failures: int
    """Outcomes recorded as failures."""
    changed_at: float | None
    """The engine clock's ``monotonic()`` at the last transition; ``None``: never."""


class CircuitBreakers:
    """One :class:`Circuit` per endpoint, on the engine clock: the shell the engine calls.

    :meth:`check` refuses a call at once while its circuit refuses; :meth:`attempt` wraps one
    upstream call (inside the rate limiter and the bulkhead), takes its permit and settles it
    with the call's outcome. A cancelled call releases its permit: the circuit is left as if
    it had not been tried.
    """

    def __init__(self, config: BreakerConfig, *, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._circuits: dict[str, Circuit] = {}
        self._stale: dict[str, int] = {}
        self._prechecked: dict[str, int] = {}

    def circuit(self, endpoint: str | None) -> Circuit:
        name = DEFAULT_ENDPOINT if endpoint is None else endpoint
        circuit = self._circuits.get(name)
        if circuit is None:
            circuit = self._circuits[name] = Circuit(self.config)
        return circuit

    def check(self, endpoint: str | None) -> None:
        """Raise :class:`CircuitOpen` if ``endpoint``'s circuit would refuse a call now."""
        circuit = self.circuit(endpoint)
        wait = circuit.refusal(self._clock.monotonic())
        if wait is not None:
            name = DEFAULT_ENDPOINT if endpoint is None else endpoint
            self._prechecked[name] = self._prechecked.get(name, 0) + 1
            raise CircuitOpen(name, wait)

    @contextmanager
    def attempt(self, endpoint: str | None) -> Iterator[None]:
        """One call through ``endpoint``'s circuit: :class:`CircuitOpen` if refused, else the
        body runs and its outcome is recorded."""
        circuit = self.circuit(endpoint)
        clock = self._clock
        permit = circuit.acquire(clock.monotonic())
        if permit is None:
            name = DEFAULT_ENDPOINT if endpoint is None else endpoint
            raise CircuitOpen(name, circuit.refusal(clock.monotonic()) or 0.0)
        try:
            yield
        except anyio.get_cancelled_exc_class():
            circuit.release(permit, clock.monotonic())
            raise
        except BaseException as error:
            if isinstance(error, RateLimited) or not isinstance(error, Exception):
                circuit.release(permit, clock.monotonic())
            else:
                circuit.record(permit, clock.monotonic(), failed=is_failure(error))
            raise
        else:
            circuit.record(permit, clock.monotonic(), failed=False)
        finally:
            # A generator closed without an outcome (never in practice) still gives a probe back.
            circuit.release(permit, clock.monotonic())

    def stale_answer(self, endpoint: str | None) -> None:
        """Count a refused call answered by a stale cached value."""
        name = DEFAULT_ENDPOINT if endpoint is None else endpoint
        self._stale[name] = self._stale.get(name, 0) + 1

    def stats(self) -> dict[str, BreakerStats]:
        now = self._clock.monotonic()
        return {
            name: BreakerStats(
                state=circuit.state_at(now),
                opened=circuit.opened,
                transitions=dict(sorted(circuit.transitions.items())),
                failed_fast=circuit.rejected + self._prechecked.get(name, 0),
                stale_answers=self._stale.get(name, 0),
                successes=circuit.successes,
                failures=circuit.failures,
                changed_at=circuit.changed_at,
            )
            for name, circuit in sorted(self._circuits.items())
        }

    def __repr__(self) -> str:
        states = ", ".join(f"{name}: {c.state}" for name, c in sorted(self._circuits.items()))
        return f"<CircuitBreakers [{states or 'no calls yet'}]>"
