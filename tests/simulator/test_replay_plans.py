"""Arrival processes and per-arrival plans: seeded, strictly increasing, independent."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from simulator.replay.arrivals import arrival_times, rng_for
from simulator.replay.plans import plan_arrivals
from simulator.replay.scenario import (
    Burst,
    PlaylistStream,
    Poisson,
    Ramp,
    RequestStream,
    Scenario,
    Times,
)
from simulator.workload import PlaylistPlan


def times(process: object, duration: float = 3600, seed: int = 0) -> list[float]:
    return arrival_times(process, duration=duration, rng=rng_for(seed, "t"))  # type: ignore[arg-type]


def test_burst_lands_within_its_window() -> None:
    got = times(Burst(count=50, within=10, start=100))
    assert len(got) == 50 and got == sorted(got)
    assert got[0] >= 100 and got[-1] <= 110


def test_poisson_rate_is_about_right_over_many_seeds() -> None:
    counts = [len(times(Poisson(per_minute=2.0), seed=s)) for s in range(40)]
    assert 110 < sum(counts) / len(counts) < 130  # 120 expected per hour


def test_ramp_gets_denser() -> None:
    got = [t for s in range(20) for t in times(Ramp(from_per_minute=0, to_per_minute=4), seed=s)]
    first, second = sum(t < 1800 for t in got), sum(t >= 1800 for t in got)
    assert second > 2 * first  # density grows linearly: a quarter before the middle


def test_times_are_kept_and_clipped_to_the_duration() -> None:
    assert times(Times(at=[5, 1, 4000]), duration=3600) == [1, 5]


def scenario(**changes: object) -> Scenario:
    base = Scenario(
        name="s",
        description="d",
        duration=600,
        seed=3,
        workload=[
            PlaylistStream(arrivals=Burst(count=30, within=0), users=5),
            RequestStream(name="raw", call="tracks", ids=4, arrivals=Times(at=[0, 0, 0])),
        ],
    )
    return msgspec.structs.replace(base, **changes)


def test_arrivals_are_strictly_increasing_and_deterministic(catalog) -> None:  # type: ignore[no-untyped-def]
    arrivals = plan_arrivals(scenario(), catalog)
    assert len(arrivals) == 33
    assert all(a.at < b.at for a, b in itertools.pairwise(arrivals))
    assert plan_arrivals(scenario(), catalog) == arrivals
    assert plan_arrivals(scenario(seed=4), catalog) != arrivals


def test_a_users_seeds_never_change_and_moods_repeat(catalog) -> None:  # type: ignore[no-untyped-def]
    plans = [a.work for a in plan_arrivals(scenario(), catalog) if isinstance(a.work, PlaylistPlan)]
    seeds_by_user: dict[tuple[str, ...], int] = {}
    for plan in plans:
        seeds_by_user[plan.seeds] = seeds_by_user.get(plan.seeds, 0) + 1
    assert len(seeds_by_user) <= 5  # five users
    assert len({p.targets for p in plans}) < len(plans)  # Zipf-popular moods recur
    assert all(5 <= len(p.seeds) <= 20 for p in plans)


def test_adding_a_stream_does_not_change_another_streams_choices(catalog) -> None:  # type: ignore[no-untyped-def]
    alone = scenario()
    more = msgspec.structs.replace(
        alone,
        workload=[
            *alone.workload,
            RequestStream(name="x", call="convert_ids", arrivals=Times(at=[1])),
        ],
    )

    def works(s: Scenario) -> list[object]:
        return [a.work for a in plan_arrivals(s, catalog) if a.stream != "x"]

    assert works(alone) == works(more)


@pytest.mark.parametrize("count", [1, 3])
def test_instances_take_arrivals_in_turn(catalog, count: int) -> None:  # type: ignore[no-untyped-def]
    from simulator.replay.scenario import Instances

    arrivals = plan_arrivals(scenario(instances=Instances(count=count)), catalog)
    assert [a.instance for a in arrivals[:6]] == [k % count for k in range(6)]
