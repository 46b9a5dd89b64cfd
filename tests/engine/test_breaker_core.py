"""The circuit breaker's decision core, sans I/O: time is an argument, properties over scripts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import BreakerConfig, CircuitOpen, ConfigError, EngineError
from engine.breaker import Circuit, Permit, is_failure
from engine.retry import RateLimited, Retryable

ALLOWED = {"closed->open", "open->half_open", "half_open->open", "half_open->closed"}

#: One step of a script: wait ``gap`` seconds, then ``acquire`` a permit, or settle the oldest
#: outstanding one as a success, a failure or a release (cancelled / 429).
steps = st.lists(
    st.tuples(
        st.floats(0, 20, allow_nan=False),
        st.sampled_from(["acquire", "acquire", "success", "failure", "release"]),
    ),
    max_size=300,
)
configs = st.builds(
    BreakerConfig,
    failure_rate=st.sampled_from([0.2, 0.5, 1.0]),
    window=st.sampled_from([5.0, 30.0, 60.0]),
    min_calls=st.integers(1, 8),
    cooldown=st.sampled_from([1.0, 10.0, 30.0]),
    probes=st.integers(1, 4),
)


class Model:
    """Runs a script against a :class:`Circuit`, checking invariants after every step."""

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self.circuit = Circuit(config)
        self.now = 0.0
        self.outstanding: list[Permit] = []
        self.opened_at: float | None = None

    def step(self, gap: float, action: str) -> None:
        circuit = self.circuit
        self.now += gap
        before = circuit.state
        counts_before = dict(circuit.transitions)
        window_before = circuit.window(self.now) if before == "closed" else (0, 0)
        if action == "acquire":
            permit = circuit.acquire(self.now)
            if permit is not None:
                self.outstanding.append(permit)
            elif circuit.state == "closed":
                pytest.fail("a closed circuit refused a call")
        elif self.outstanding:
            permit = self.outstanding.pop(0)
            if action == "release":
                circuit.release(permit, self.now)
            else:
                circuit.record(permit, self.now, failed=action == "failure")
        # Only the four transitions; never closed -> half-open, never open -> closed.
        assert set(circuit.transitions) <= ALLOWED
        new = {
            name: n - counts_before.get(name, 0)
            for name, n in circuit.transitions.items()
            if n != counts_before.get(name, 0)
        }
        if "closed->open" in new:
            # Opened only on a failure, with enough calls in the window, at the failure rate.
            assert action == "failure"
            calls, failures = window_before
            calls, failures = calls + 1, failures + 1
            assert calls >= self.config.min_calls
            assert failures >= self.config.failure_rate * calls - 1e-9
        if circuit.state == "open" and before != "open":
            self.opened_at = self.now
        if "open->half_open" in new:
            assert self.opened_at is not None
            assert self.now >= self.opened_at + self.config.cooldown
        # Never more probes out than allowed.
        probes_out = sum(
            1 for p in self.outstanding if p.probe and not p.settled and p.period == circuit._period
        )
        assert probes_out <= self.config.probes
        if circuit.state == "half_open":
            assert circuit._probes_out <= self.config.probes
        # The window holds only the last `window` seconds.
        if circuit.state == "closed":
            calls, failures = circuit.window(self.now)
            assert 0 <= failures <= calls
            assert all(t > self.now - self.config.window for t, _ in circuit._outcomes)


@settings(max_examples=300, deadline=None)
@given(config=configs, script=steps)
def test_invariants_hold_over_any_script(config: BreakerConfig, script: list) -> None:
    model = Model(config)
    for gap, action in script:
        model.step(gap, action)
    assert model.circuit.opened == sum(
        n for name, n in model.circuit.transitions.items() if name.endswith("->open")
    )


@settings(max_examples=200, deadline=None)
@given(config=configs, failures=st.integers(0, 30))
def test_opens_only_after_min_calls(config: BreakerConfig, failures: int) -> None:
    circuit = Circuit(config)
    for i in range(failures):
        permit = circuit.acquire(0.0)
        assert permit is not None
        circuit.record(permit, 0.0, failed=True)
        if i + 1 < config.min_calls:
            assert circuit.state == "closed"
        else:
            assert circuit.state == "open"
            break


def test_failure_rate_over_the_window() -> None:
    circuit = Circuit(BreakerConfig(failure_rate=0.5, window=10, min_calls=4, cooldown=5))

    def call(now: float, failed: bool) -> None:
        permit = circuit.acquire(now)
        assert permit is not None
        circuit.record(permit, now, failed=failed)

    for now in (0.0, 1.0, 2.0):
        call(now, False)
    call(3.0, True)  # 1 of 4
    assert circuit.state == "closed"
    call(11.5, True)  # the successes at 0 and 1 aged out: 2 of 3, below min_calls
    assert circuit.state == "closed"
    call(12.5, True)  # the success at 2 aged out: 3 failures of 3, below min_calls
    assert circuit.state == "closed"
    call(12.6, False)  # a success never opens
    call(12.7, True)  # 4 failures of 5 in (2.7, 12.7]
    assert circuit.state == "open"
    assert circuit.transitions == {"closed->open": 1}


def test_half_open_probes_then_close_or_reopen() -> None:
    config = BreakerConfig(min_calls=1, cooldown=10, probes=2)
    circuit = Circuit(config)
    circuit.record(circuit.acquire(0.0), 0.0, failed=True)  # type: ignore[arg-type]
    assert circuit.state == "open"
    assert circuit.acquire(9.99) is None
    assert circuit.refusal(5.0) == pytest.approx(5.0)
    first, second = circuit.acquire(10.0), circuit.acquire(10.0)
    assert circuit.state == "half_open" and first and second and first.probe
    assert circuit.acquire(10.0) is None  # every probe out
    assert circuit.refusal(10.0) == 0.0
    circuit.release(first, 10.5)  # cancelled: its slot comes back
    third = circuit.acquire(10.5)
    assert third is not None
    circuit.record(second, 11.0, failed=False)
    assert circuit.state == "half_open"
    circuit.record(third, 11.0, failed=False)
    assert circuit.state == "closed"
    assert circuit.transitions == {
        "closed->open": 1,
        "open->half_open": 1,
        "half_open->closed": 1,
    }
    # A failing probe reopens at once, for another cool-down.
    circuit.record(circuit.acquire(20.0), 20.0, failed=True)  # type: ignore[arg-type]
    probe = circuit.acquire(30.0)
    assert probe is not None and probe.probe
    circuit.record(probe, 30.5, failed=True)
    assert circuit.state == "open"
    assert circuit.acquire(40.0) is None
    assert circuit.acquire(40.5) is not None
    assert circuit.opened == 3


def test_outcomes_of_an_earlier_period_change_nothing() -> None:
    circuit = Circuit(BreakerConfig(min_calls=1, cooldown=5, probes=1))
    slow = circuit.acquire(0.0)
    circuit.record(circuit.acquire(0.0), 0.0, failed=True)  # type: ignore[arg-type]
    assert circuit.state == "open"
    probe = circuit.acquire(5.0)
    assert probe is not None
    circuit.record(slow, 5.1, failed=False)  # granted while closed: not a probe's success
    assert circuit.state == "half_open"
    circuit.record(slow, 5.1, failed=True)  # settled already: ignored
    assert circuit.state == "half_open"
    circuit.record(probe, 5.2, failed=False)
    assert circuit.state == "closed"


def test_state_at_reads_without_changing() -> None:
    circuit = Circuit(BreakerConfig(min_calls=1, cooldown=5))
    circuit.record(circuit.acquire(0.0), 0.0, failed=True)  # type: ignore[arg-type]
    assert circuit.state_at(6.0) == "half_open"
    assert circuit.state == "open"


def test_what_counts_as_a_failure() -> None:
    assert is_failure(Retryable("5xx"))
    assert not is_failure(RateLimited("429", retry_after=1))
    assert not is_failure(ValueError("a 4xx or a bug"))


def test_circuit_open_is_an_engine_error_and_a_connection_error() -> None:
    error = CircuitOpen("/v1/track", 12.5)
    assert isinstance(error, EngineError) and isinstance(error, ConnectionError)
    assert not isinstance(error, Retryable)
    assert error.endpoint == "/v1/track" and error.retry_after == 12.5
    assert "/v1/track" in str(error)


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="failure_rate"):
        BreakerConfig(failure_rate=-0.1)
    with pytest.raises(ConfigError, match="failure_rate"):
        BreakerConfig(failure_rate=1.5)
    with pytest.raises(ConfigError, match="probes"):
        BreakerConfig(probes=0)


def test_a_zero_failure_rate_opens_on_any_failure() -> None:
    """How the shared cache tier uses the core: any failure opens it, whatever succeeded
    before, and one probe is let through after the cool-down."""
    circuit = Circuit(BreakerConfig(failure_rate=0, min_calls=1, window=5, cooldown=5, probes=1))
    for t in range(20):
        permit = circuit.acquire(float(t) / 10)
        assert permit is not None
        circuit.record(permit, float(t) / 10, failed=False)
    failing = circuit.acquire(2.0)
    assert failing is not None
    circuit.record(failing, 2.0, failed=True)
    assert circuit.state == "open" and circuit.acquire(6.9) is None
    probe = circuit.acquire(7.0)
    assert probe is not None and circuit.acquire(7.0) is None  # one probe at a time
    circuit.record(probe, 7.1, failed=False)
    assert circuit.state == "closed"
