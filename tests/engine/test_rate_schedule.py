"""The pure rate-limit core: exhaustive small cases and property tests."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import ConfigError
from engine.limits import RateLimitConfig, RateSchedule, WindowRule
from tests.engine_configs import RATE

SEED = RATE  # 80 per 60 s, 0.75 s apart


def violations(grants: list[float], config: RateLimitConfig, eps: float = 1e-9) -> list[str]:
    """Independent check of every rule over a grant log."""
    found = []
    for a, b in itertools.pairwise(grants):
        if b - a < config.min_interval - eps:
            found.append(f"spacing {b - a} < {config.min_interval}")
    for rule in config.rules:
        for i in range(len(grants) - rule.limit):
            if grants[i + rule.limit] - grants[i] < rule.window - eps:
                found.append(f"{rule.limit + 1} grants within {rule.window}s from {grants[i]}")
    return found


def test_seed_rules_grant_every_075s() -> None:
    schedule = RateSchedule(SEED)
    assert schedule.try_grant(0.0)
    assert not schedule.try_grant(0.74)
    assert schedule.next_allowed(0.1) == pytest.approx(0.75)
    assert schedule.try_grant(0.75)


def test_window_rule_exact_at_the_boundary() -> None:
    schedule = RateSchedule(
        RateLimitConfig(rules=(WindowRule(limit=3, window=10),), min_interval=0)
    )
    for t in (0.0, 1.0, 2.0):
        assert schedule.try_grant(t)
    assert schedule.next_allowed(5.0) == 10.0
    assert not schedule.try_grant(9.999)
    assert schedule.try_grant(10.0)
    assert schedule.next_allowed(10.0) == 11.0


def test_several_rules_at_once() -> None:
    config = RateLimitConfig(
        rules=(WindowRule(limit=2, window=1), WindowRule(limit=3, window=10)), min_interval=0.1
    )
    schedule = RateSchedule(config)
    times = []
    t = 0.0
    for _ in range(7):
        t = schedule.next_allowed(t)
        assert schedule.try_grant(t)
        times.append(t)
    assert times == pytest.approx([0, 0.1, 1.0, 10.0, 10.1, 11.0, 20.0])
    assert violations(times, config) == []


def test_pause_delays_every_grant_and_never_shortens() -> None:
    schedule = RateSchedule(SEED)
    schedule.pause_until(30.0)
    schedule.pause_until(10.0)
    assert schedule.next_allowed(0.0) == 30.0
    assert not schedule.try_grant(29.0)
    assert schedule.try_grant(30.0)


def test_no_rules_means_no_limit() -> None:
    schedule = RateSchedule(RateLimitConfig(rules=(), min_interval=0))
    assert all(schedule.try_grant(0.0) for _ in range(1000))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (
            {
                "rules": (WindowRule(limit=1, window=1), WindowRule(limit=2, window=1)),
                "min_interval": 0,
            },
            "rules",
        ),
        ({"rules": (), "min_interval": -0.5}, "min_interval"),
    ],
)
def test_invalid_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"RateLimitConfig\.{field}"):
        RateLimitConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("limit", "window", "field"), [(0, 1, "limit"), (1, 0, "window"), (-3, 5, "limit")]
)
def test_invalid_rule_names_the_field(limit: int, window: float, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"WindowRule\.{field}"):
        WindowRule(limit=limit, window=window)


configs = st.builds(
    lambda rules, interval: RateLimitConfig(
        rules=tuple({w: WindowRule(limit=n, window=w) for n, w in rules}.values()),
        min_interval=interval,
    ),
    st.lists(st.tuples(st.integers(1, 6), st.sampled_from([0.5, 1.0, 2.5, 10.0])), max_size=3),
    st.sampled_from([0.0, 0.1, 0.75]),
)


@given(configs, st.lists(st.integers(0, 40_000), min_size=1, max_size=120))
def test_property_grants_never_break_a_rule_and_next_allowed_is_tight(
    config: RateLimitConfig, attempts_ms: list[int]
) -> None:
    schedule = RateSchedule(config)
    grants: list[float] = []
    for now in sorted(ms / 1000 for ms in attempts_ms):
        at = schedule.next_allowed(now)
        assert at >= now
        if at > now:
            # Tight: refused now, and refused just before `at` too.
            assert not schedule.try_grant(now)
            probe = RateSchedule(config)
            for g in grants:
                assert probe.try_grant(g)
            assert not probe.try_grant(at - 1e-6)
        assert schedule.try_grant(at)
        grants.append(at)
    assert violations(grants, config) == []


def test_grants_recorded_from_elsewhere_count_against_the_rules() -> None:
    schedule = RateSchedule(
        RateLimitConfig(rules=(WindowRule(limit=2, window=10.0),), min_interval=1.0)
    )
    schedule.record(0.0)  # decided by a shared limiter's script
    assert schedule.next_allowed(0.0) == 1.0  # the minimum interval after it
    assert schedule.try_grant(1.0)
    assert schedule.next_allowed(1.0) == 10.0  # two grants in the window: the first's expiry
