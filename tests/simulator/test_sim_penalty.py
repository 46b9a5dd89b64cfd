"""The penalty box punishes requests sent after a 429 announced a wait, never those that were
already on their way (an obedient client's other requests in flight)."""

from __future__ import annotations

import anyio
import pytest

from simulator import (
    LatencyModel,
    PenaltyBox,
    RateLimitConfig,
    RateLimitRule,
    Rejected,
    Request,
    UpstreamRateLimit,
)

FLIGHT = 0.02  # one-way network delay of every request below


def limiter(strikes: int, grace: float = 0.0, latency: float = 0.005) -> UpstreamRateLimit:
    box = PenaltyBox(strikes=strikes, block=60.0, grace=grace)
    config = RateLimitConfig(
        rules=[RateLimitRule(1, 10.0)], penalty_box=box, rejection_latency=latency
    )
    return UpstreamRateLimit(config)


def test_requests_in_flight_when_the_429_goes_out_are_not_strikes() -> None:
    rl = limiter(strikes=1)  # the strictest box: one strike blocks
    verdicts = [rl.check("c", i * 0.001 + FLIGHT, sent=i * 0.001) for i in range(6)]
    assert not isinstance(verdicts[0], Rejected)
    assert all(isinstance(v, Rejected) and not v.blocked for v in verdicts[1:])
    # The client waits the Retry-After (whole seconds) and sends again: admitted.
    wait = max(1, int(-(-verdicts[1].retry_after // 1)))  # type: ignore[union-attr]
    assert not isinstance(rl.check("c", 0.001 + 0.005 + wait + FLIGHT, sent=0.006 + wait), Rejected)


def test_the_old_rule_would_have_boxed_that_client() -> None:
    """Before, every rejection that arrived during a Retry-After was a strike: the five
    requests in flight behind the first 429 were five strikes, enough for a five-strike box.
    Sent before that 429 left, they are none now."""
    rl = limiter(strikes=5)
    for i in range(7):
        verdict = rl.check("c", i * 0.001 + FLIGHT, sent=i * 0.001)
        assert not (isinstance(verdict, Rejected) and verdict.blocked)


def test_a_client_that_sends_after_being_told_is_boxed() -> None:
    rl = limiter(strikes=3, latency=0.005)
    assert not isinstance(rl.check("c", 0.0 + FLIGHT, sent=0.0), Rejected)
    first = rl.check("c", 1.0 + FLIGHT, sent=1.0)  # the 429 leaves at 1.025
    assert isinstance(first, Rejected) and not first.blocked
    # Sent at 1.02 (before 1.025): in flight, no strike; then three sent after it: boxed.
    assert not rl.check("c", 1.02 + FLIGHT, sent=1.02).blocked  # type: ignore[union-attr]
    assert not rl.check("c", 1.5 + FLIGHT, sent=1.5).blocked  # type: ignore[union-attr]
    assert not rl.check("c", 2.0 + FLIGHT, sent=2.0).blocked  # type: ignore[union-attr]
    boxed = rl.check("c", 2.5 + FLIGHT, sent=2.5)
    assert isinstance(boxed, Rejected) and boxed.blocked and boxed.retry_after == 60.0
    during = rl.check("c", 30.0, sent=30.0)
    assert isinstance(during, Rejected) and during.blocked


def test_the_grace_and_an_unknown_send_instant() -> None:
    rl = limiter(strikes=1, grace=0.1, latency=0.0)
    assert not isinstance(rl.check("c", 0.0), Rejected)
    assert not rl.check("c", 1.0).blocked  # type: ignore[union-attr]  # told at 1.0
    assert not rl.check("c", 1.05).blocked  # type: ignore[union-attr]  # within the grace
    assert rl.check("c", 1.1).blocked  # type: ignore[union-attr]  # sent unknown: its arrival
    other = limiter(strikes=1, grace=0.1, latency=0.0)
    other.check("c", 0.0)
    other.check("c", 1.0)
    # Arrived late, but sent within the grace: not a strike.
    assert not other.check("c", 5.0, sent=1.09).blocked  # type: ignore[union-attr]


def test_the_grace_is_configurable_and_not_negative() -> None:
    from engine.config import ConfigError

    assert PenaltyBox().grace == 0.1
    with pytest.raises(ConfigError, match=r"PenaltyBox\.grace"):
        PenaltyBox(grace=-1)


# the whole simulator, in virtual time --------------------------------------------------------
async def run_client(sim, task: int, *, obey: bool, outcomes: list[str]) -> None:  # type: ignore[no-untyped-def]
    request = Request("GET", "/v1/track", f"ids={sim.catalog.spotify_id(task)}", peer="me")
    while True:
        exchange = await sim.exchange(request)
        response = exchange.response
        outcomes.append(exchange.record.outcome)
        if response.status == 200:
            return
        if exchange.record.outcome == "blocked":
            return
        retry_after = dict(response.headers)["retry-after"]
        await anyio.sleep(int(retry_after) if obey else 0.5)


@pytest.mark.anyio
async def test_an_obedient_client_with_six_in_flight_is_never_boxed(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        network=LatencyModel(median=FLIGHT, p99=FLIGHT),
        rate_limit=RateLimitConfig(
            rules=[RateLimitRule(1, 10.0)], penalty_box=PenaltyBox(strikes=1, block=60.0)
        ),
    )
    outcomes: list[str] = []
    async with anyio.create_task_group() as tg:
        for task in range(6):
            tg.start_soon(lambda t=task: run_client(sim, t, obey=True, outcomes=outcomes))
    assert outcomes.count("ok") == 6 and "blocked" not in outcomes
    assert outcomes.count("rate_limited") >= 5
    assert [r.status for r in sim.log].count(200) == 6


@pytest.mark.anyio
async def test_a_client_that_ignores_retry_after_is_boxed(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator(
        network=LatencyModel(median=FLIGHT, p99=FLIGHT),
        rate_limit=RateLimitConfig(rules=[RateLimitRule(1, 10.0)]),  # the default box: 10, 60 s
    )
    outcomes: list[str] = []
    await run_client(sim, 0, obey=True, outcomes=outcomes)
    await run_client(sim, 1, obey=False, outcomes=outcomes)
    # The first 429 announces the wait; the next ten, each sent 0.5 s after the last, strike.
    assert outcomes == ["ok", "rate_limited", *["rate_limited"] * 9, "blocked"]
    blocked = sim.log.records()[-1]
    assert blocked.retry_after == 60 and blocked.status == 429
