from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cache import MAX_CANONICAL, cache_key, namespace_of

ids = st.text(alphabet='abcdef0123456789",[]{}=#', min_size=0, max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
values = st.one_of(scalars, st.lists(ids, max_size=6), st.lists(scalars, max_size=4))
params = st.dictionaries(st.text(alphabet='abcxyz_-.=" ', min_size=1, max_size=4), values)

# A shared, loaded CI machine makes the first draws slow; that is not what these tests check.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _tag(value: Any) -> Any:
    """A reference model of "equal parameters": type-tagged, sequences as sets, None dropped."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", value + 0.0)  # -0.0 == 0.0
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list):
        return ("set", frozenset(_tag(item) for item in value if item is not None))
    raise AssertionError(value)


def _model(p: dict[str, Any]) -> frozenset[Any]:
    return frozenset((name, _tag(value)) for name, value in p.items() if value is not None)


@relaxed
@given(params, st.randoms(use_true_random=False))
def test_permutations_give_equal_keys(p: dict[str, Any], random: Any) -> None:
    items = list(p.items())
    random.shuffle(items)
    shuffled = {name: list(value) if isinstance(value, list) else value for name, value in items}
    for value in shuffled.values():
        if isinstance(value, list):
            random.shuffle(value)
            value.extend(value[:2])  # duplicates don't matter either
    assert cache_key("recommendations", shuffled) == cache_key("recommendations", p)


@relaxed
@given(params, params)
def test_different_params_give_different_keys(a: dict[str, Any], b: dict[str, Any]) -> None:
    if _model(a) == _model(b):
        assert cache_key("recommendations", a) == cache_key("recommendations", b)
    else:
        assert cache_key("recommendations", a) != cache_key("recommendations", b)


@relaxed
@given(st.one_of(st.text(max_size=300), params))
def test_keys_are_short_and_carry_their_namespace(key: Any) -> None:
    full = cache_key("ids", key, version=3)
    assert full.startswith("v3:ids:")
    assert namespace_of(full) == "ids"
    assert len(full) <= len("v3:ids:") + MAX_CANONICAL


def test_id_sequences_are_sets() -> None:
    key = cache_key("tracks", {"ids": ["b", "a"]})
    assert key == 'v1:tracks:{ids=["a","b"]}'
    assert cache_key("tracks", {"ids": ["a", "b", "a"]}) == key
    assert cache_key("tracks", {"ids": ("a", "b")}) == key
    assert cache_key("tracks", {"ids": {"b", "a"}}) == key
    assert cache_key("tracks", {"ids": ["a", None, "b"]}) == key
    assert cache_key("tracks", {"ids": ["a"]}) != key


def test_scalars_are_canonical_and_typed() -> None:
    def key(**p: Any) -> str:
        return cache_key("recommendations", p)

    assert key(limit=20, seeds=["x"], market=None) == key(seeds=["x"], limit=20)
    assert key(x=1) != key(x=1.0) != key(x=True)
    assert key(x=0) != key(x=False)
    assert key(x=1) != key(x="1")
    assert key(x=0.0) == key(x=-0.0)
    assert key(x=0.1) == "v1:recommendations:{x=0.1}"
    assert key(x=[1, "1"]) != key(x=["1"])
    assert key(x={"b": 1, "a": None}) == key(x={"b": 1})


def test_plain_keys() -> None:
    assert cache_key("tracks", "4iV5W9uYEdYUVa79Axb7Rh") == "v1:tracks:4iV5W9uYEdYUVa79Axb7Rh"
    assert cache_key("tracks", "a:b") == "v1:tracks:a:b"
    assert namespace_of(cache_key("tracks", "a:b")) == "tracks"
    # A plain key never collides with a parameter key or a digest.
    assert cache_key("tracks", "{}") != cache_key("tracks", {})
    assert cache_key("tracks", '{ids=["a"]}') != cache_key("tracks", {"ids": ["a"]})
    digest = cache_key("tracks", "x" * 500)
    assert digest != cache_key("tracks", digest.split(":", 2)[2])
    assert cache_key("tracks", "a", version=2) != cache_key("tracks", "a")
    assert cache_key("ids", "a") != cache_key("tracks", "a")


def test_long_keys_are_digested() -> None:
    many = [f"id{i:04d}" for i in range(100)]
    key = cache_key("ids", {"ids": many})
    assert key.startswith("v1:ids:#")
    assert len(key) == len("v1:ids:#") + 32
    assert key == cache_key("ids", {"ids": list(reversed(many))})
    assert key != cache_key("ids", {"ids": many[:-1]})


def test_keys_do_not_depend_on_the_process() -> None:
    code = (
        "from engine.cache import cache_key;"
        "print(cache_key('ids', {'ids': {'b', 'a', 'c', 'zz', 'y'}, 'n': 1.5}))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert outputs == {'v1:ids:{ids=["a","b","c","y","zz"],n=1.5}\n'}


@pytest.mark.parametrize("namespace", ["", "a:b", "with space", 3])
def test_bad_namespace(namespace: Any) -> None:
    with pytest.raises(ValueError, match="namespace"):
        cache_key(namespace, "x")


@pytest.mark.parametrize("version", [0, -1, True, 1.0])
def test_bad_version(version: Any) -> None:
    with pytest.raises(ValueError, match="version"):
        cache_key("ids", "x", version=version)


@pytest.mark.parametrize("key", [3, b"x", ["a"], None])
def test_bad_key_types(key: Any) -> None:
    with pytest.raises(TypeError, match="str or a mapping"):
        cache_key("ids", key)


@pytest.mark.parametrize("value", [b"x", object(), 1j])
def test_bad_value_types(value: Any) -> None:
    with pytest.raises(TypeError, match="no canonical"):
        cache_key("ids", {"x": value})
    with pytest.raises(TypeError, match="names must be str"):
        cache_key("ids", {1: "x"})  # type: ignore[dict-item]


@pytest.mark.parametrize("key", ["", "x", "v1:ids", "ids:x"])
def test_namespace_of_rejects_non_keys(key: str) -> None:
    with pytest.raises(ValueError, match="not a cache key"):
        namespace_of(key)
