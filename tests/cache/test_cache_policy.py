from __future__ import annotations

import msgspec
import pytest

from engine.cache import HOUR, CacheConfig, NamespaceTtl, TtlPolicy
from engine.cache.policy import UnknownNamespaceError
from engine.config import ConfigError, load_config


def test_the_engine_declares_no_namespace() -> None:
    """The engine knows no upstream: no namespace until a configuration declares one."""
    config = CacheConfig()
    assert config.capacity == 5000
    assert config.ttl == {} and config.default_ttl is None
    assert config.policy == TtlPolicy()
    with pytest.raises(UnknownNamespaceError, match=r"'tracks' \(declared: none\)"):
        TtlPolicy().for_namespace("tracks")


def test_any_name_can_be_declared() -> None:
    policy = TtlPolicy(namespaces={"albums": NamespaceTtl(ttl=10), "a.b-c_1": {"ttl": 2}})
    assert policy.for_namespace("albums").ttl == 10
    assert policy.for_namespace("a.b-c_1") == NamespaceTtl(ttl=2)  # a mapping is converted
    assert list(policy.namespaces) == ["albums", "a.b-c_1"]


def test_unknown_namespace_says_how_to_declare_it() -> None:
    policy = TtlPolicy(namespaces={"tracks": NamespaceTtl(ttl=10)})
    with pytest.raises(UnknownNamespaceError) as info:
        policy.for_namespace("albums")
    message = str(info.value)
    assert "'albums' (declared: tracks)" in message
    assert "[cache.ttl.albums]" in message and "default_ttl" in message
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, ConfigError)
    # Names of the policy's own attributes are not namespaces, nor is a non-string.
    for name in ("for_namespace", "namespaces", 3, None):
        with pytest.raises(UnknownNamespaceError):
            policy.for_namespace(name)  # type: ignore[arg-type]


def test_a_declared_default_covers_every_other_name() -> None:
    policy = TtlPolicy(namespaces={"tracks": NamespaceTtl(ttl=10)}, default=NamespaceTtl(ttl=3))
    assert policy.for_namespace("tracks").ttl == 10
    assert policy.for_namespace("albums").ttl == 3
    # ... but not a name that could not be part of a key.
    with pytest.raises(UnknownNamespaceError):
        policy.for_namespace("has space")


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


def test_wrong_values_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"CacheConfig\.ttl"):
        CacheConfig(ttl={"tracks": 3600})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=r"CacheConfig\.default_ttl"):
        CacheConfig(default_ttl=3600)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"CacheConfig\.ttl\['a b'\]: a namespace name"):
        CacheConfig(ttl={"a b": NamespaceTtl(ttl=1)})
    with pytest.raises(ConfigError, match=r"TtlPolicy\.namespaces\['a:b'\]"):
        TtlPolicy(namespaces={"a:b": NamespaceTtl(ttl=1)})
    with pytest.raises(ConfigError, match=r"CacheConfig\.capacity"):
        CacheConfig(capacity=0)
    with pytest.raises(ConfigError, match=r"CacheConfig\.capacity"):
        CacheConfig(capacity=2.5)  # type: ignore[arg-type]


def test_declaring_adds_only_what_is_missing() -> None:
    mine = CacheConfig(ttl={"tracks": NamespaceTtl(ttl=60)})
    needed = {"tracks": NamespaceTtl(ttl=7200), "ids": NamespaceTtl(ttl=1, missing_ttl=1)}
    merged = mine.declaring(needed)
    assert merged.ttl == {"tracks": NamespaceTtl(ttl=60), "ids": NamespaceTtl(ttl=1, missing_ttl=1)}
    assert mine.ttl == {"tracks": NamespaceTtl(ttl=60)}  # unchanged
    assert merged.declaring(needed) is merged


def test_toml_declares_namespaces() -> None:
    config = load_config(
        b"""
capacity = 100
[ttl.albums]
ttl = 60
[ttl.ids]
ttl = 86400
missing_ttl = 3600
[default_ttl]
ttl = 5
""",
        CacheConfig,
    )
    assert config.capacity == 100
    assert config.ttl == {
        "albums": NamespaceTtl(ttl=60),
        "ids": NamespaceTtl(ttl=86400, missing_ttl=3600),
    }
    assert config.policy.for_namespace("anything").ttl == 5


def test_toml_unknown_field_in_a_namespace_fails() -> None:
    with pytest.raises(ConfigError, match=r"ttl_seconds.*\$\.ttl\[\.\.\.\]"):
        load_config(b"[ttl.tracks]\nttl_seconds = 60\n", CacheConfig)


@pytest.mark.parametrize(
    ("toml", "path"),
    [
        (b'[ttl.ids]\nttl = "60 days"\n', r"\$\.ttl\[\.\.\.\]\.ttl"),
        (b"[ttl.ids]\nttl = 60\nmissing_ttl = -1\n", r"\$\.ttl\[\.\.\.\]\.missing_ttl"),
        (b"capacity = -5\n", r"\$\.capacity"),
        (b'[ttl."a b"]\nttl = 1\n', r"CacheConfig\.ttl\['a b'\]"),
    ],
)
def test_toml_invalid_values_name_the_path(toml: bytes, path: str) -> None:
    with pytest.raises(ConfigError, match=path):
        load_config(toml, CacheConfig)


def test_json_round_trip() -> None:
    config = CacheConfig(capacity=10, ttl={"seeds": NamespaceTtl(ttl=5)}, default_ttl={"ttl": HOUR})
    assert load_config(msgspec.json.encode(config), CacheConfig, format="json") == config
