"""The simulator's configuration is validated like the engine's, and names durations the same way.

Every upstream config type is an :class:`engine.config.Config`: a bad value fails with a
:class:`ConfigError` naming the field's path, whether built in code, from a mapping or from a
file (read with ``engine.config.load_config``, the one loader). Durations are plain seconds
without a unit suffix (``window``, ``median``, ``p99``, ``start``, ``end``, ``block``,
``rejection_latency``); the old ``_s`` names are unknown fields, refused in one line.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import simulator
from engine.config import Config, ConfigError, load_config
from simulator import (
    CatalogConfig,
    EndpointProfile,
    FaultRates,
    FaultWindow,
    LatencyModel,
    PenaltyBox,
    RateLimitConfig,
    RateLimitRule,
    SimulatorConfig,
)
from simulator.cli import main
from simulator.replay.scenario import ScenarioError, load_scenario

CONFIG_TYPES = [
    CatalogConfig,
    EndpointProfile,
    FaultRates,
    FaultWindow,
    LatencyModel,
    PenaltyBox,
    RateLimitConfig,
    RateLimitRule,
    SimulatorConfig,
]


@pytest.mark.parametrize("cls", CONFIG_TYPES, ids=lambda cls: cls.__name__)
def test_every_upstream_config_type_is_an_engine_config(cls: type) -> None:
    assert issubclass(cls, Config)


def test_no_field_carries_a_unit_suffix() -> None:
    for cls in CONFIG_TYPES:
        names = [field.name for field in msgspec.structs.fields(cls)]
        assert not [name for name in names if name.endswith("_s")], cls.__name__


def test_the_simulator_has_no_second_loader() -> None:
    assert not hasattr(simulator, "load_config")
    assert "load_config" not in simulator.__all__


# (where the old name sits, as TOML) -> the old name the error must name.
OLD_NAMES = [
    ("[rate_limit]\nrules = [{ limit = 5, window_s = 1 }]\n", "window_s"),
    ("[rate_limit.penalty_box]\nblock_s = 30\n", "block_s"),
    ("[rate_limit]\nrejection_latency_s = 0.01\n", "rejection_latency_s"),
    ("[network]\nmedian_s = 0.01\n", "median_s"),
    ("[service.latency]\np99_s = 0.5\n", "p99_s"),
    ("[service]\nwindows = [{ start_s = 1, end = 2, rates = {} }]\n", "start_s"),
    ("[service]\nwindows = [{ start = 1, end_s = 2, rates = {} }]\n", "end_s"),
]


@pytest.mark.parametrize(("toml", "old"), OLD_NAMES, ids=[old for _, old in OLD_NAMES])
def test_an_old_field_name_is_refused_naming_it(toml: str, old: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown field `{old}`"):
        load_config(toml, SimulatorConfig)


@pytest.mark.parametrize(("toml", "old"), OLD_NAMES[:2], ids=[old for _, old in OLD_NAMES[:2]])
def test_serve_refuses_an_old_field_name_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, old: str
) -> None:
    path = tmp_path / "old.toml"
    path.write_text(toml)
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert str(path) in err and f"unknown field `{old}`" in err


def test_a_scenario_with_an_old_upstream_field_name_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "old.toml"
    path.write_text(
        'name = "old"\ndescription = "d"\nduration = 60\n'
        "[upstream.rate_limit]\nrules = [{ limit = 40, window_s = 60 }]\n"
        '[[workload]]\nkind = "playlists"\nusers = 1\n'
        'arrivals = { process = "poisson", per_minute = 1.0 }\n'
    )
    with pytest.raises(ScenarioError, match="window_s") as caught:
        load_scenario(path)
    assert "\n" not in str(caught.value)


def test_the_new_names_read_from_toml_and_json_alike() -> None:
    toml = """
[rate_limit]
rules = [{ limit = 40, window = 60 }]
rejection_latency = 0.01
penalty_box = { strikes = 2, block = 5 }
[network]
median = 0.01
p99 = 0.02
[service]
windows = [{ start = 10, end = 20, rates = { error = 0.5 } }]
"""
    config = load_config(toml, SimulatorConfig)
    assert config.rate_limit.rules == (RateLimitRule(limit=40, window=60.0),)
    assert config.rate_limit.rejection_latency == 0.01
    assert config.rate_limit.penalty_box == PenaltyBox(strikes=2, block=5.0)
    assert config.network == LatencyModel(median=0.01, p99=0.02)
    window = config.service.windows[0]
    assert (window.start, window.end, window.rates.error) == (10.0, 20.0, 0.5)
    as_json = msgspec.json.encode(config)
    assert load_config(as_json, SimulatorConfig, format="json") == config


def test_mappings_in_code_become_the_nested_configs() -> None:
    config = SimulatorConfig(
        rate_limit={"rules": [{"limit": 3, "window": 10}], "penalty_box": None},
        network={"median": 0.0, "p99": 0.0},
        endpoints={"/v1/track": {"windows": [{"start": 0, "end": 3, "rates": {"error": 1.0}}]}},
    )
    assert config.rate_limit == RateLimitConfig(
        rules=(RateLimitRule(limit=3, window=10.0),), penalty_box=None
    )
    assert isinstance(config.network, LatencyModel)
    profile = config.endpoints["/v1/track"]
    assert profile.windows == (FaultWindow(start=0.0, end=3.0, rates=FaultRates(error=1.0)),)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"rate_limit": {"rules": [{"limit": 0, "window": 60}]}},
            "SimulatorConfig.rate_limit.rules[0].limit: Expected `int` >= 1 (got 0)",
        ),
        (
            {"rate_limit": {"rules": [{"limit": 1, "window": 0}]}},
            "SimulatorConfig.rate_limit.rules[0].window: Expected `float` > 0.0 (got 0)",
        ),
        (
            {"rate_limit": {"penalty_box": {"block": -1}}},
            "SimulatorConfig.rate_limit.penalty_box.block: Expected `float` > 0.0 (got -1)",
        ),
        (
            {"network": {"median": 1, "p99": 0.5}},
            "SimulatorConfig.network.p99: 0.5 is below median 1.0; it must be at least the median",
        ),
        (
            {"service": {"windows": [{"start": 5, "end": 5, "rates": {}}]}},
            "SimulatorConfig.service.windows[0].end: 5.0 is not after start 5.0",
        ),
        (
            {"service": {"faults": {"error": 0.6, "reset": 0.6}}},
            "SimulatorConfig.service.faults: error + timeout + reset + malformed must be at most 1",
        ),
        (
            {"catalog": {"tracks": 10, "materialised": 20}},
            "SimulatorConfig.catalog.materialised: 20 is more than tracks (10)",
        ),
        (
            {"catalog": {"tracks": 1 << 40}},
            "SimulatorConfig.catalog.tracks: Expected `int` <= 1099511627775",
        ),
        (
            {"endpoints": {"/v1/nope": {}}},
            "SimulatorConfig.endpoints: unknown route templates ['/v1/nope']",
        ),
    ],
)
def test_a_bad_value_in_code_names_its_whole_path(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SimulatorConfig(**changes)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)


def test_a_bad_value_in_a_file_names_its_path() -> None:
    with pytest.raises(ConfigError, match=r"at `\$\.service\.windows\[0\]`") as caught:
        load_config("[service]\nwindows = [{ start = 5, end = 1, rates = {} }]\n", SimulatorConfig)
    assert "FaultWindow.end" in str(caught.value)


def test_the_defaults_are_unchanged() -> None:
    config = SimulatorConfig()
    assert config.rate_limit.rules == (
        RateLimitRule(limit=100, window=60.0),
        RateLimitRule(limit=5, window=1.0),
    )
    assert config.rate_limit.penalty_box == PenaltyBox(strikes=10, block=60.0)
    assert config.rate_limit.rejection_latency == 0.005
    assert config.network == LatencyModel(median=0.02, p99=0.08)
    assert config.service == EndpointProfile(latency=LatencyModel(median=0.08, p99=0.4))
    assert config.catalog == CatalogConfig(tracks=2_000_000, materialised=5_000)
    assert LatencyModel() == LatencyModel(median=0.05, p99=0.25, slow_share=0.0, slow_factor=10.0)
