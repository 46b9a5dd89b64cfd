"""Configuration is validated all the way down: nested mappings and lists become the declared
Structs on construction, bad nested values fail naming their whole path, and ``load_config``
takes a mapping or a path as well as text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

import engine.redis.config
import engine.shared.config
import recobeat.config
import recobeat.targets
from engine import (
    CacheConfig,
    Config,
    ConfigError,
    EngineConfig,
    RateLimitConfig,
    RetryConfig,
    load_config,
)
from engine.cache.policy import NamespaceTtl
from engine.limits import ConcurrencyConfig, WindowRule
from recobeat.config import ClientConfig
from tests.engine_configs import RATE

# Imported for their Config subclasses, which the sweep below finds by subclassing.
_MODULES = (engine.redis.config, engine.shared.config, recobeat.config, recobeat.targets)


def test_nested_mappings_become_the_declared_structs() -> None:
    config = EngineConfig(
        rate={"rules": [{"limit": 120, "window": 60}], "min_interval": 1},
        cache={"capacity": 10, "ttl": {"tracks": {"ttl": 60}}},
        concurrency={"limit": 2},
        retry={"attempts": 2},
    )
    assert isinstance(config.rate, RateLimitConfig)
    assert config.rate.rules == (WindowRule(limit=120, window=60.0),)
    assert isinstance(config.rate.rules, tuple)
    assert isinstance(config.cache, CacheConfig)
    assert config.cache.ttl == {"tracks": NamespaceTtl(ttl=60)}
    assert config.concurrency == ConcurrencyConfig(limit=2)
    assert config.retry == RetryConfig(attempts=2)
    # The same object as the one built from Structs, and as the one decoded from TOML.
    assert config == EngineConfig(
        rate=RateLimitConfig(rules=(WindowRule(limit=120, window=60),), min_interval=1),
        cache=CacheConfig(capacity=10, ttl={"tracks": NamespaceTtl(ttl=60)}),
        concurrency=ConcurrencyConfig(limit=2),
        retry=RetryConfig(attempts=2),
    )
    decoded = load_config(
        b"""
        [rate]
        rules = [{limit = 120, window = 60}]
        min_interval = 1
        [cache]
        capacity = 10
        ttl.tracks.ttl = 60
        [concurrency]
        limit = 2
        [retry]
        attempts = 2
        """,
        EngineConfig,
    )
    assert msgspec.json.encode(config) == msgspec.json.encode(decoded)


def test_a_list_of_rule_mappings_becomes_a_tuple_of_rules() -> None:
    config = RateLimitConfig(
        rules=[{"limit": 5, "window": 10}, {"limit": 80, "window": 60}], min_interval=0
    )
    assert config.rules == (WindowRule(limit=5, window=10), WindowRule(limit=80, window=60))
    assert RateLimitConfig(rules=[WindowRule(limit=5, window=10)], min_interval=0).rules == (
        WindowRule(limit=5, window=10),
    )


def test_values_take_their_declared_type_and_stay_frozen() -> None:
    config = RetryConfig(max_delay=30, max_retry_after=60)
    assert type(config.max_delay) is float and type(config.max_retry_after) is float
    nested = ClientConfig(engine={"attempt_timeout": 10})
    assert type(nested.engine.attempt_timeout) is float
    with pytest.raises(AttributeError):
        nested.engine = EngineConfig(rate=RATE)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: RateLimitConfig(rules=[{"limit": 0, "window": 60}], min_interval=0),
            "RateLimitConfig.rules[0].limit: Expected `int` >= 1 (got 0)",
        ),
        (
            lambda: RateLimitConfig(rules=[{"window": 60}], min_interval=0),
            "RateLimitConfig.rules[0]: Object missing required field `limit`",
        ),
        (
            lambda: EngineConfig(rate={"rules": [{"limit": 1, "window": 0}], "min_interval": 0}),
            "EngineConfig.rate.rules[0].window: Expected `float` > 0.0 (got 0)",
        ),
        (
            lambda: EngineConfig(
                rate={"rules": [{"limit": 1, "window": 1}, {"limit": "2"}], "min_interval": 0}
            ),
            "EngineConfig.rate.rules[1].limit: Expected `int`, got `str` (got '2')",
        ),
        (
            lambda: EngineConfig(rate={"rules": [], "min_interval": 0, "min_intervall": 1}),
            "EngineConfig.rate: Object contains unknown field `min_intervall`",
        ),
        (
            lambda: EngineConfig(cache={"ttl": {"tracks": {"ttl": -1}}}),
            "EngineConfig.cache.ttl[...].ttl: Expected `float` > 0.0",
        ),
        (
            lambda: EngineConfig(cache={"ttl": {"a b": {"ttl": 1}}}),
            "EngineConfig.cache.ttl['a b']: a namespace name is letters",
        ),
        (
            lambda: ClientConfig(engine={"cache": {"ttl": {"artist": {"ttl": 1}}}}),
            "ClientConfig.engine.cache.ttl['artist']: not a namespace the client uses; "
            "did you mean 'artists'?",
        ),
        (
            lambda: EngineConfig(retry={"base_delay": 10, "max_delay": 1}),
            "EngineConfig.retry.max_delay: 1.0 is below base_delay 10.0",
        ),
        (
            lambda: ClientConfig(engine={"retry": {"base_delay": 10, "max_delay": 1}}),
            "ClientConfig.engine.retry.max_delay: 1.0 is below base_delay 10.0",
        ),
        (
            lambda: ClientConfig(
                engine={"rate": {"rules": [{"limit": 1, "window": 0.5}] * 2, "min_interval": 0}}
            ),
            "ClientConfig.engine.rate.rules: two rules share a window length",
        ),
        (
            lambda: ClientConfig(batching={"seed_chunk_size": 9}),
            "ClientConfig.batching.seed_chunk_size: the API takes at most 5 seeds",
        ),
        (
            lambda: ClientConfig(engine={"concurrency": []}),
            "ClientConfig.engine.concurrency: Expected `object | null`, got `array` (got [])",
        ),
        (
            lambda: EngineConfig(attempt_timeout=0),
            "EngineConfig.attempt_timeout: Expected `float` > 0.0 (got 0)",
        ),
    ],
)
def test_a_bad_nested_value_fails_naming_its_whole_path(build: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert str(info.value).startswith(message), str(info.value)


def test_load_config_takes_a_mapping() -> None:
    config = load_config(
        {"rate": {"rules": [{"limit": 10, "window": 1}], "min_interval": 0}}, EngineConfig
    )
    assert config.rate.rules == (WindowRule(limit=10, window=1),)
    assert load_config({}, EngineConfig) == EngineConfig()
    with pytest.raises(ConfigError, match=r"\$\.rate\.rules\[0\]\.window"):
        load_config(
            {"rate": {"rules": [{"limit": 1, "window": 0}], "min_interval": 0}}, EngineConfig
        )


def test_load_config_takes_a_path_and_reads_the_format_from_its_suffix(tmp_path: Path) -> None:
    toml = tmp_path / "engine.toml"
    toml.write_text("attempt_timeout = 7\n[rate]\nrules = []\nmin_interval = 2\n")
    as_json = tmp_path / "engine.json"
    as_json.write_text(json.dumps({"attempt_timeout": 7, "rate": {"rules": [], "min_interval": 2}}))
    expected = EngineConfig(attempt_timeout=7, rate=RateLimitConfig(rules=(), min_interval=2))
    assert load_config(toml, EngineConfig) == expected
    assert load_config(as_json, EngineConfig) == expected
    odd = tmp_path / "engine.conf"
    odd.write_text(toml.read_text())
    assert load_config(odd, EngineConfig, format="toml") == expected
    with pytest.raises(ValueError, match="format must be"):
        load_config(odd, EngineConfig)
    with pytest.raises(ConfigError, match=r"\$\.attempt_timeout"):
        load_config(b'{"attempt_timeout": -1}', EngineConfig, format="json")


def test_load_config_reports_malformed_text_as_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(b"[rate", EngineConfig)


def _config_types() -> list[type[Config]]:
    found: list[type[Config]] = []
    todo = list(Config.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


REQUIRED: dict[str, dict[str, Any]] = {
    "engine.limits.config.WindowRule": {"limit": 3, "window": 1.5},
    "engine.limits.config.RateLimitConfig": {
        "rules": [{"limit": 3, "window": 1.5}],
        "min_interval": 0.5,
    },
    "engine.limits.config.ConcurrencyConfig": {"limit": 2},
    "engine.cache.policy.NamespaceTtl": {"ttl": 60.0, "missing_ttl": 30.0},
    "simulator.upstream.rate_limit.RateLimitRule": {"limit": 3, "window": 1.5},
    "simulator.upstream.rate_limit.RateLimitPhase": {"start": 60.0, "limits": [3]},
    "simulator.upstream.faults.FaultWindow": {"start": 1.0, "end": 2.0, "rates": {}},
}


@pytest.mark.parametrize("cls", _config_types(), ids=lambda cls: cls.__qualname__)
def test_every_config_builds_from_plain_values_as_from_structs(cls: type[Config]) -> None:
    """Every Config subclass in the packages (engine, recobeat) still builds, round-trips, and
    builds the same from the plain values it encodes to (nested mappings and lists)."""
    if cls.__module__.startswith("tests."):
        pytest.skip("a test's own subclass")
    instance = cls(**REQUIRED.get(f"{cls.__module__}.{cls.__qualname__}", {}))
    plain = msgspec.to_builtins(instance)
    assert cls(**plain) == instance
    assert msgspec.convert(plain, cls) == instance
    assert load_config(plain, cls) == instance
    assert load_config(msgspec.json.encode(instance), cls, format="json") == instance


def test_the_sweep_sees_the_configs_of_every_package() -> None:
    names = {cls.__qualname__ for cls in _config_types()}
    assert {
        "EngineConfig",
        "RateLimitConfig",
        "WindowRule",
        "CacheConfig",
        "TtlPolicy",
        "RetryConfig",
        "SharedTierConfig",
        "RedisConfig",
        "ClientConfig",
        "HttpConfig",
        "BatchingConfig",
        "AudioTargets",
    } <= names
