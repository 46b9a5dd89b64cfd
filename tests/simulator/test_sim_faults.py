"""Latency and fault decisions (pure), and configuration loading."""

from __future__ import annotations

import statistics
from pathlib import Path

import msgspec
import pytest

from engine.config import ConfigError, load_config
from simulator import (
    EndpointProfile,
    Fault,
    FaultPlan,
    FaultRates,
    FaultWindow,
    LatencyModel,
    SimulatorConfig,
)
from simulator.upstream.seeded import digest, unit

KEYS = [digest(1, f"request-{i}") for i in range(4000)]


def test_latency_is_log_normal_with_the_given_median_and_p99() -> None:
    model = LatencyModel(median=0.1, p99=1.0)
    draws = sorted(model.sample(unit(k, 1), unit(k, 2)) for k in KEYS)
    assert statistics.median(draws) == pytest.approx(0.1, rel=0.1)
    assert draws[int(0.99 * len(draws))] == pytest.approx(1.0, rel=0.25)
    assert LatencyModel(median=0.2, p99=0.2).sample(0.99, 0.5) == pytest.approx(0.2)
    assert LatencyModel(median=0.0, p99=0.0).sample(0.5, 0.5) == 0.0


def test_slow_tail_multiplies_a_share_of_draws() -> None:
    model = LatencyModel(median=0.1, p99=0.1, slow_share=0.05, slow_factor=20)
    draws = [model.sample(unit(k, 1), unit(k, 2)) for k in KEYS]
    slow = sum(d > 1.0 for d in draws) / len(draws)
    assert 0.03 < slow < 0.07


def test_fault_rates_and_kinds() -> None:
    rates = FaultRates(error=0.1, timeout=0.05, reset=0.05, malformed=0.05)
    plan = FaultPlan(EndpointProfile(faults=rates))
    decisions = [plan.decide("/v1/track", k, 0.0) for k in KEYS]
    share = {f: sum(d.fault is f for d in decisions) / len(KEYS) for f in Fault}
    assert share[Fault.ERROR] == pytest.approx(0.1, abs=0.02)
    for f in (Fault.TIMEOUT, Fault.RESET, Fault.MALFORMED):
        assert share[f] == pytest.approx(0.05, abs=0.015)
    statuses = {d.status for d in decisions if d.fault is Fault.ERROR}
    assert statuses == {500, 502, 503, 504}
    assert all(0 <= d.cut < 1 for d in decisions if d.fault is Fault.MALFORMED)
    assert decisions == [plan.decide("/v1/track", k, 0.0) for k in KEYS]  # pure


def test_fault_windows_apply_only_inside_per_endpoint_and_from_origin() -> None:
    burst = FaultWindow(start=100.0, end=160.0, rates=FaultRates(error=1.0))
    features = "/v1/track/{id}/audio-features"
    plan = FaultPlan(endpoints={features: EndpointProfile(windows=[burst])}, origin=1000.0)
    key = KEYS[0]
    assert plan.decide(features, key, 1099.9).fault is Fault.NONE
    assert plan.decide(features, key, 1100.0).fault is Fault.ERROR
    assert plan.decide(features, key, 1159.9).fault is Fault.ERROR
    assert plan.decide(features, key, 1160.0).fault is Fault.NONE
    assert plan.decide("/v1/track", key, 1120.0).fault is Fault.NONE


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: FaultRates(error=1.5), "FaultRates.error"),
        (lambda: FaultRates(timeout=-0.1), "FaultRates.timeout"),
        (lambda: FaultRates(error=0.6, reset=0.6), "at most 1"),
        (lambda: FaultWindow(start=5, end=5, rates=FaultRates()), "FaultWindow.end"),
        (lambda: LatencyModel(median=-1), "LatencyModel.median"),
        (lambda: LatencyModel(median=1, p99=0.5), "LatencyModel.p99"),
        (lambda: LatencyModel(slow_share=2), "LatencyModel.slow_share"),
        (lambda: LatencyModel(slow_factor=0.5), "LatencyModel.slow_factor"),
        (lambda: SimulatorConfig(endpoints={"/v1/nope": EndpointProfile()}), "endpoints"),
    ],
)
def test_invalid_config_fails_naming_the_field(build, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=field):
        build()


def test_load_config_from_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "sim.toml"
    toml.write_text(
        """
seed = 42
[catalog]
tracks = 1000
materialised = 100
[rate_limit]
rules = [{limit = 80, window = 60.0}]
[rate_limit.penalty_box]
strikes = 3
block = 30.0
[network]
median = 0.01
p99 = 0.05
[endpoints."/v1/track/recommendation".faults]
error = 0.2
[[endpoints."/v1/track/recommendation".windows]]
start = 10.0
end = 20.0
rates = {timeout = 1.0}
"""
    )
    config = load_config(toml, SimulatorConfig)
    assert config.seed == 42 and config.catalog.materialised == 100
    assert config.rate_limit.rules[0].limit == 80
    assert config.rate_limit.penalty_box is not None and config.rate_limit.penalty_box.strikes == 3
    profile = config.endpoints["/v1/track/recommendation"]
    assert profile.faults.error == 0.2 and profile.windows[0].rates.timeout == 1.0
    as_json = tmp_path / "sim.json"
    as_json.write_bytes(msgspec.json.encode(config))
    assert load_config(as_json, SimulatorConfig) == config
    bad = tmp_path / "bad.toml"
    bad.write_text("[rate_limit]\nrules = [{limit = 5, window = 0}]\n")
    with pytest.raises(ConfigError, match=r"\$\.rate_limit\.rules\[0\]\.window"):
        load_config(bad, SimulatorConfig)
    typo = tmp_path / "typo.toml"
    typo.write_text("sede = 1\n")
    with pytest.raises(ConfigError, match="unknown field `sede`"):
        load_config(typo, SimulatorConfig)


def test_a_window_over_an_endpoint_s_own_faults_never_sums_past_one() -> None:
    """Found by a replay: error = 1.0 in a window over an endpoint that resets 2 % of the time
    used to raise a ConfigError (rates summing to 1.02) inside the simulator."""
    from simulator.upstream.faults import FaultRates

    merged = FaultRates(reset=0.02, timeout=0.01).during(FaultRates(error=1.0))
    assert (merged.timeout, merged.reset, merged.error) == (0.01, 0.02, pytest.approx(0.97))
    assert merged.malformed == 0.0
