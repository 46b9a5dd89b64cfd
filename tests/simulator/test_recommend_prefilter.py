"""The recommender's numpy prefilter (Recommender._nearest) changes no result: every query gets
the same answer as on the pure path (``recommend._np`` set to None)."""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import Catalog, CatalogConfig
from simulator.upstream import recommend
from simulator.upstream.recommend import TARGET_SCALES, RecommendationQuery, Recommender

pytest.importorskip("numpy")

# A shared, loaded CI machine makes the first draws slow; that is not what these tests check.
relaxed = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A catalog smaller than some queries' candidate counts (the prefilter's "nothing to drop" case).
TINY = Catalog(CatalogConfig(tracks=5_000, materialised=60, tracks_per_artist=10), seed=3)


def pure(recommender: Recommender, query: RecommendationQuery) -> tuple[int, ...]:
    with mock.patch.object(recommend, "_np", None):
        return recommender._recommend(query)


def outcome(call: Callable[[], tuple[int, ...]]) -> object:
    try:
        return call()
    except Exception as error:  # the same failure on both paths is the same answer
        return type(error)


def tracks(catalog: Catalog) -> st.SearchStrategy[int]:
    # Mostly materialised tracks (candidates themselves), sometimes any catalog track.
    return st.one_of(
        st.integers(0, catalog.materialised - 1), st.integers(0, catalog.config.tracks - 1)
    )


@st.composite
def queries(draw: st.DrawFn, catalog: Catalog) -> RecommendationQuery:
    seeds = draw(st.lists(tracks(catalog), min_size=0, max_size=5, unique=True))
    negative = draw(
        st.one_of(
            st.just([]),
            st.lists(tracks(catalog), max_size=3, unique=True).map(
                lambda ns: [n for n in ns if n not in seeds]
            ),
        )
    )
    names = draw(st.lists(st.sampled_from([*TARGET_SCALES, "key", "mode"]), unique=True))
    targets = []
    for name in names:
        if name == "key":
            value = float(draw(st.integers(0, 11)))
        elif name == "mode":
            value = float(draw(st.integers(0, 1)))
        else:
            _, offset, scale = TARGET_SCALES[name]
            value = draw(st.floats(-offset, scale - offset))
        targets.append((name, value))
    weight = draw(st.sampled_from([1.0, 1.0, 0.5, 3.0]))
    return RecommendationQuery(
        seeds=tuple(sorted(seeds)),
        size=draw(st.integers(1, 100)),
        negative_seeds=tuple(sorted(negative)),
        targets=tuple(sorted(targets)),
        feature_weight=weight,
    )


@relaxed
@given(st.data())
def test_the_prefilter_changes_no_result(catalog: Catalog, data: st.DataObject) -> None:
    which = data.draw(st.sampled_from([catalog, TINY]))
    query = data.draw(queries(which))
    fast, slow = Recommender(which), Recommender(which)
    assert outcome(lambda: fast._recommend(query)) == outcome(lambda: pure(slow, query))


@relaxed
@given(st.data())
def test_the_common_case_matches_with_many_seeds_and_sizes(
    catalog: Catalog, data: st.DataObject
) -> None:
    # Only the prefiltered shape: seeds, a size, no targets, no negative seeds.
    seeds = data.draw(st.lists(tracks(catalog), min_size=1, max_size=5, unique=True))
    query = RecommendationQuery(seeds=tuple(sorted(seeds)), size=data.draw(st.integers(1, 100)))
    recommender = Recommender(catalog)
    assert recommender._recommend(query) == pure(recommender, query)


def test_the_saturated_hour_shape_is_prefiltered_and_unchanged() -> None:
    # bench/scenarios/saturated-hour.toml: the default catalog, size 20, five distinct seeds
    # from the 50,000 most popular tracks, no targets.
    catalog = Catalog(CatalogConfig(), seed=7)
    recommender = Recommender(catalog)
    queries = []
    state = 12345
    for _ in range(300):
        seeds = set()
        while len(seeds) < 5:
            state = recommend.mix64(state)
            seeds.add(state % 50_000)
        queries.append(RecommendationQuery(seeds=tuple(sorted(seeds)), size=20))
    calls = []
    nearest = recommender._nearest

    def spy(*args: object) -> list[int]:
        found = nearest(*args)  # type: ignore[arg-type]
        calls.append(len(found))
        return found

    with mock.patch.object(recommender, "_nearest", spy):
        fast = [recommender._recommend(q) for q in queries]
    # Every query went through the prefilter, and it dropped candidates: there are at least
    # max(3 * 25, 100) of them for each query.
    assert len(calls) == len(queries)
    assert max(calls) < 100
    assert fast == [pure(recommender, q) for q in queries]
    assert all(len(result) == 20 for result in fast)


@pytest.mark.parametrize("tempo", [1e300, float("inf"), float("nan"), -1e120])
def test_a_target_far_outside_is_left_to_the_pure_path(catalog: Catalog, tempo: float) -> None:
    query = RecommendationQuery(seeds=(1, 2, 3), size=10, targets=(("tempo", tempo),))
    recommender = Recommender(catalog)
    with mock.patch.object(recommender, "_nearest", side_effect=AssertionError):
        fast = outcome(lambda: recommender._recommend(query))
    assert fast == outcome(lambda: pure(recommender, query))
