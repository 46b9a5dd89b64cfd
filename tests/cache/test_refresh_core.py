"""The refresh-ahead decision (engine.cache.refresh): pure, time and draw as arguments."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from engine.cache.refresh import (
    decide,
    refresh_draw,
    refresh_gap,
    refresh_probability,
    should_refresh,
)

times = st.floats(min_value=0.0, max_value=1e7, allow_nan=False)
lives = st.floats(min_value=-100.0, max_value=1e5, allow_nan=False)
deltas = st.floats(min_value=0.0, max_value=120.0, allow_nan=False)
betas = st.floats(min_value=0.01, max_value=10.0, allow_nan=False)
draws = st.floats(min_value=1e-19, max_value=1.0, exclude_min=False)
horizons = st.floats(min_value=0.0, max_value=1e5, allow_nan=False) | st.just(math.inf)


@given(times, lives, deltas, betas, draws, horizons)
def test_never_refreshes_a_key_fresh_beyond_the_window(
    now: float, life: float, delta: float, beta: float, draw: float, horizon: float
) -> None:
    expires_at = now + life
    if should_refresh(now, expires_at, delta, beta, draw, horizon=horizon):
        remaining = expires_at - now
        assert 0 < remaining <= horizon
        assert remaining <= refresh_gap(delta, beta, draw)
        assert remaining <= delta * beta * math.log(2**64) + 1e-9


@given(times, lives, lives, deltas, betas, draws)
def test_a_refresh_decided_stays_decided_as_the_expiry_nears(
    now: float, life: float, later: float, delta: float, beta: float, draw: float
) -> None:
    expires_at = now + abs(life)
    step = abs(later)
    if should_refresh(now, expires_at, delta, beta, draw) and now + step < expires_at:
        assert should_refresh(now + step, expires_at, delta, beta, draw)


lefts = st.floats(min_value=1e-6, max_value=1e4)  # seconds left: still fresh


@given(lefts, lefts, deltas, betas)
def test_the_probability_grows_as_the_expiry_nears(
    a: float, b: float, delta: float, beta: float
) -> None:
    near, far = sorted((a, b))
    assert refresh_probability(near, delta, beta) >= refresh_probability(far, delta, beta)
    assert 0.0 <= refresh_probability(far, delta, beta) <= 1.0


def test_keyed_draws_refresh_at_the_stated_probability() -> None:
    # Over many instants the keyed draws behave as uniform ones: exp(-r / (delta * beta)).
    delta, beta = 2.0, 1.0
    for remaining in (0.5, 2.0, 5.0):
        expected = refresh_probability(remaining, delta, beta)
        n = 4000
        refreshed = sum(
            should_refresh(
                float(i), i + remaining, delta, beta, refresh_draw(7, "v1:hot:key", float(i))
            )
            for i in range(n)
        )
        assert abs(refreshed / n - expected) < 0.03, (remaining, refreshed / n, expected)


@given(st.integers(), st.text(max_size=40), times)
def test_draws_are_deterministic_and_in_the_unit_interval(seed: int, key: str, now: float) -> None:
    draw = refresh_draw(seed, key, now)
    assert draw == refresh_draw(seed, key, now)
    assert 0.0 < draw <= 1.0
    assert math.isfinite(math.log(draw))


def test_draws_differ_by_key_seed_and_instant() -> None:
    base = refresh_draw(1, "k", 10.0)
    assert base != refresh_draw(2, "k", 10.0)
    assert base != refresh_draw(1, "j", 10.0)
    assert base != refresh_draw(1, "k", 10.5)


def test_no_time_taken_means_no_refresh_ahead() -> None:
    assert not should_refresh(0.0, 0.001, 0.0, 1.0, 1e-12)
    assert refresh_probability(0.001, 0.0, 1.0) == 0.0


@given(times, lives, deltas, betas, draws)
def test_decide(now: float, life: float, delta: float, beta: float, draw: float) -> None:
    expires_at = now + life
    plain = decide(now, expires_at, delta=delta, beta=None, stale_ttl=None, draw=draw)
    assert plain == ("hit" if now < expires_at else "miss")
    ahead = decide(now, expires_at, delta=delta, beta=beta, stale_ttl=None, draw=draw)
    if now >= expires_at:
        assert ahead == "miss"
    else:
        refresh = should_refresh(now, expires_at, delta, beta, draw)
        assert ahead == ("refresh" if refresh else "hit")
    stale = decide(now, expires_at, delta=delta, beta=beta, stale_ttl=30.0, draw=draw)
    if now >= expires_at:
        assert stale == ("stale" if now < expires_at + 30.0 else "miss")
    else:
        assert stale == ahead
