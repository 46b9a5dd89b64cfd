"""The upstream rate-limit model, exactly at its boundaries and as a property."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import ConfigError
from simulator import (
    Allowed,
    PenaltyBox,
    RateLimitConfig,
    RateLimitRule,
    Rejected,
    UpstreamRateLimit,
)


def limiter(*rules: tuple[int, float], box: PenaltyBox | None = None) -> UpstreamRateLimit:
    config = RateLimitConfig(rules=[RateLimitRule(n, w) for n, w in rules], penalty_box=box)
    return UpstreamRateLimit(config)


def test_n_requests_pass_and_the_next_in_the_window_is_rejected_with_exact_retry_after() -> None:
    rl = limiter((5, 10.0))
    times = [0.0, 1.0, 2.0, 3.0, 9.5]
    assert all(isinstance(rl.check("c", t), Allowed) for t in times)
    verdict = rl.check("c", 9.999)
    assert isinstance(verdict, Rejected) and not verdict.blocked
    assert verdict.retry_after == pytest.approx(0.001)
    # The window is (now - 10, now]: the request at 0.0 leaves it at exactly 10.0.
    assert isinstance(rl.check("c", 10.0), Allowed)
    assert isinstance(rl.check("c", 10.5), Rejected)
    assert isinstance(rl.check("c", 11.0), Allowed)


def test_rejections_do_not_count_and_clients_are_independent() -> None:
    rl = limiter((2, 1.0))
    assert isinstance(rl.check("a", 0.0), Allowed)
    assert isinstance(rl.check("a", 0.1), Allowed)
    for t in (0.2, 0.3, 0.4, 0.9):
        assert isinstance(rl.check("a", t), Rejected)
    assert isinstance(rl.check("b", 0.5), Allowed)
    assert isinstance(rl.check("a", 1.0), Allowed)  # the rejections above did not fill the window


def test_every_rule_must_admit_and_retry_after_is_the_latest_one() -> None:
    rl = limiter((100, 60.0), (5, 1.0))
    for i in range(5):
        assert isinstance(rl.check("c", i * 0.01), Allowed)
    burst = rl.check("c", 0.05)
    assert isinstance(burst, Rejected) and burst.retry_after == pytest.approx(0.95)
    t = 1.0
    admitted = 5
    while admitted < 100:
        if isinstance(rl.check("c", t), Allowed):
            admitted += 1
        t += 0.25
    minute = rl.check("c", t)
    assert isinstance(minute, Rejected)
    assert minute.retry_after == pytest.approx(60.0 - t)  # the first admission (at 0.0) expires
    assert isinstance(rl.check("c", 60.0), Allowed)


def test_penalty_box_blocks_clients_that_ignore_retry_after() -> None:
    rl = limiter((1, 10.0), box=PenaltyBox(strikes=3, block=100.0))
    assert isinstance(rl.check("c", 0.0), Allowed)
    first = rl.check("c", 1.0)  # a 429 with retry-after 9 s: not a strike yet
    assert isinstance(first, Rejected) and not first.blocked
    assert not rl.check("c", 2.0).blocked  # type: ignore[union-attr]  # strike 1
    assert not rl.check("c", 3.0).blocked  # type: ignore[union-attr]  # strike 2
    boxed = rl.check("c", 4.0)  # strike 3
    assert isinstance(boxed, Rejected) and boxed.blocked and boxed.retry_after == 100.0
    during = rl.check("c", 50.0)  # the window is free, but the client is in the box
    assert isinstance(during, Rejected) and during.blocked
    assert during.retry_after == pytest.approx(54.0)
    assert isinstance(rl.check("c", 104.0), Allowed)
    assert isinstance(rl.check("other", 5.0), Allowed)


def test_honouring_retry_after_never_strikes() -> None:
    rl = limiter((1, 10.0), box=PenaltyBox(strikes=1, block=100.0))
    t = 0.0
    for _ in range(20):
        verdict = rl.check("c", t)
        if isinstance(verdict, Rejected):
            assert not verdict.blocked
            t += math.ceil(verdict.retry_after)  # the integer Retry-After header
        else:
            t += 3.0


def test_default_limits_tell_the_seeds_story() -> None:
    tuned, old = UpstreamRateLimit(), UpstreamRateLimit()
    tuned_rejected = sum(isinstance(tuned.check("t", i * 0.75), Rejected) for i in range(80 * 10))
    old_rejected = sum(isinstance(old.check("o", i * 0.5), Rejected) for i in range(120 * 10))
    assert tuned_rejected == 0
    assert old_rejected > 100
    burst = UpstreamRateLimit()
    assert sum(isinstance(burst.check("b", 0.0), Allowed) for _ in range(10)) == 5


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: RateLimitRule(limit=0, window=1.0), "RateLimitRule.limit"),
        (lambda: RateLimitRule(limit=5, window=0.0), "RateLimitRule.window"),
        (lambda: RateLimitRule(limit=5, window=-1.0), "RateLimitRule.window"),
        (lambda: PenaltyBox(strikes=0), "PenaltyBox.strikes"),
        (lambda: PenaltyBox(block=0), "PenaltyBox.block"),
        (lambda: RateLimitConfig(rejection_latency=-1), "RateLimitConfig.rejection_latency"),
        (
            lambda: RateLimitConfig(rules=[{"limit": 5, "window": 0}]),
            r"RateLimitConfig\.rules\[0\]\.window",
        ),
    ],
)
def test_invalid_config_fails_naming_the_field(build, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=field):
        build()


gaps = st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(gaps, st.integers(1, 6), st.floats(0.5, 10.0))
def test_never_more_than_limit_in_any_window_and_never_rejects_needlessly(
    deltas: list[float], limit: int, window: float
) -> None:
    rl = limiter((limit, window))
    now, admitted = 0.0, []
    for d in deltas:
        now += d
        verdict = rl.check("c", now)
        in_window = [t for t in admitted if t + window > now]
        if isinstance(verdict, Allowed):
            assert len(in_window) < limit
            admitted.append(now)
        else:
            assert len(in_window) >= limit  # rejected only when the window is really full
            assert verdict.retry_after == pytest.approx(in_window[-limit] + window - now)
    for i, t in enumerate(admitted):
        assert sum(1 for u in admitted[i:] if u < t + window) <= limit


def test_phases_change_the_limits_at_their_start() -> None:
    from simulator.upstream.rate_limit import RateLimitPhase

    config = RateLimitConfig(
        rules=(RateLimitRule(limit=3, window=10.0),),
        penalty_box=None,
        phases=(RateLimitPhase(start=100, limits=(1,)), RateLimitPhase(start=200, limits=(5,))),
    )
    limit = UpstreamRateLimit(config, origin=1000.0)
    admitted = lambda t: isinstance(limit.check("c", t), Allowed)  # noqa: E731
    assert [admitted(1000.0 + t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert [admitted(1100.0 + t) for t in (0, 1)] == [True, False]  # 1 per 10 s from 100 s on
    assert [admitted(1200.0 + t) for t in range(6)] == [True] * 5 + [False]
    assert limit.rules_at(1300.0) == [(5, 10.0)]


def test_phases_are_checked() -> None:
    from engine.config import ConfigError
    from simulator.upstream.rate_limit import RateLimitPhase

    with pytest.raises(ConfigError, match=r"phases\[0\]\.limits: one per rule \(2\)"):
        RateLimitConfig(phases=(RateLimitPhase(start=1, limits=(5,)),))
    with pytest.raises(ConfigError, match="starts must not decrease"):
        RateLimitConfig(
            phases=(
                RateLimitPhase(start=5, limits=(5, 1)),
                RateLimitPhase(start=1, limits=(5, 1)),
            )
        )
