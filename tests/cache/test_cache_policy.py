from __future__ import annotations

import msgspec
import pytest

from engine.cache import DAY, HOUR, MINUTE, CacheConfig, NamespaceTtl, TtlPolicy
from engine.cache.policy import UnknownNamespaceError
from engine.config import ConfigError, load_config


def test_defaults_are_the_seed_values() -> None:
    policy = TtlPolicy()
    assert policy.recommendations == NamespaceTtl(ttl=15 * MINUTE)
    assert policy.tracks == NamespaceTtl(ttl=2 * HOUR)
    assert policy.ids == NamespaceTtl(ttl=60 * DAY, missing_ttl=14 * DAY)
    assert policy.artists == NamespaceTtl(ttl=HOUR)
    assert policy.seeds == NamespaceTtl(ttl=2 * HOUR)
    assert policy.namespaces == ("recommendations", "tracks", "ids", "artists", "seeds")
    # Only the ID registry caches "known missing".
    assert [n for n in policy.namespaces if policy.for_namespace(n).missing_ttl] == ["ids"]
    config = CacheConfig()
    assert config.capacity == 5000
    assert config.ttl == policy


def test_for_namespace() -> None:
    policy = TtlPolicy(tracks=NamespaceTtl(ttl=10))
    assert policy.for_namespace("tracks").ttl == 10
    with pytest.raises(UnknownNamespaceError) as info:
        policy.for_namespace("albums")
    message = str(info.value)
    assert "'albums'" in message
    for known in policy.namespaces:
        assert known in message
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, ConfigError)
    # Attributes that are not namespaces are not namespaces either.
    with pytest.raises(UnknownNamespaceError):
        policy.for_namespace("for_namespace")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ttl": -1}, "NamespaceTtl.ttl"),
        ({"ttl": 0}, "NamespaceTtl.ttl"),
        ({"ttl": "2h"}, "NamespaceTtl.ttl"),
        ({"ttl": True}, "NamespaceTtl.ttl"),
        ({"ttl": 1, "missing_ttl": 0}, "NamespaceTtl.missing_ttl"),
        ({"ttl": 1, "missing_ttl": "14d"}, "NamespaceTtl.missing_ttl"),
    ],
)
def test_invalid_ttl_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        NamespaceTtl(**kwargs)  # type: ignore[arg-type]


def test_wrong_type_for_a_namespace_names_it() -> None:
    with pytest.raises(ConfigError, match=r"TtlPolicy\.tracks"):
        TtlPolicy(tracks=3600)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"CacheConfig\.capacity"):
        CacheConfig(capacity=0)
    with pytest.raises(ConfigError, match=r"CacheConfig\.capacity"):
        CacheConfig(capacity=2.5)  # type: ignore[arg-type]


def test_toml_overrides() -> None:
    config = load_config(
        b"""
capacity = 100
[ttl.tracks]
ttl = 60
[ttl.ids]
ttl = 86400
missing_ttl = 3600
""",
        CacheConfig,
    )
    assert config.capacity == 100
    assert config.ttl.tracks == NamespaceTtl(ttl=60)
    assert config.ttl.ids == NamespaceTtl(ttl=86400, missing_ttl=3600)
    assert config.ttl.recommendations == TtlPolicy().recommendations  # untouched default


def test_toml_unknown_namespace_fails() -> None:
    with pytest.raises(ConfigError, match=r"albums.*\$\.ttl"):
        load_config(b"[ttl.albums]\nttl = 60\n", CacheConfig)


def test_toml_unknown_field_in_a_namespace_fails() -> None:
    with pytest.raises(ConfigError, match=r"ttl_seconds.*\$\.ttl\.tracks"):
        load_config(b"[ttl.tracks]\nttl_seconds = 60\n", CacheConfig)


@pytest.mark.parametrize(
    ("toml", "path"),
    [
        (b'[ttl.ids]\nttl = "60 days"\n', r"\$\.ttl\.ids\.ttl"),
        (b"[ttl.ids]\nttl = 60\nmissing_ttl = -1\n", r"\$\.ttl\.ids\.missing_ttl"),
        (b"capacity = -5\n", r"\$\.capacity"),
    ],
)
def test_toml_invalid_values_name_the_path(toml: bytes, path: str) -> None:
    with pytest.raises(ConfigError, match=path):
        load_config(toml, CacheConfig)


def test_json_round_trip_and_unknown_namespace() -> None:
    config = CacheConfig(capacity=10, ttl=TtlPolicy(seeds=NamespaceTtl(ttl=5)))
    assert load_config(msgspec.json.encode(config), CacheConfig, format="json") == config
    with pytest.raises(ConfigError, match="albums"):
        load_config(b'{"ttl": {"albums": {"ttl": 1}}}', CacheConfig, format="json")
