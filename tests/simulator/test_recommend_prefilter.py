"""The recommender's numpy ranking (Recommender._ranked) changes no result: every query gets the
same answer as on the pure path (``recommend._np`` set to None), including when the approximate
ranking cannot be certified and the exact path answers."""

from __future__ import annotations

import math
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


def test_the_saturated_hour_shape_is_ranked_by_numpy_and_unchanged() -> None:
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
    answers = []
    ranked = recommender._ranked

    def spy(*args: object) -> tuple[int, ...] | None:
        answer = ranked(*args)  # type: ignore[arg-type]
        answers.append(answer)
        return answer

    with mock.patch.object(recommender, "_ranked", spy):
        fast = [recommender._recommend(q) for q in queries]
    # Every query was answered by the approximate ranking (none left to the exact path).
    assert len(answers) == len(queries)
    assert None not in answers
    assert fast == [pure(recommender, q) for q in queries]
    assert all(len(result) == 20 for result in fast)


@pytest.mark.parametrize("tempo", [1e300, float("inf"), float("nan"), -1e120, 2_510.0, -2_510.0])
def test_a_target_far_outside_is_left_to_the_pure_path(catalog: Catalog, tempo: float) -> None:
    # Tempo is scaled by 1/250: +-2,510 BPM is just beyond +-_NEAR (+-10.04).
    query = RecommendationQuery(seeds=(1, 2, 3), size=10, targets=(("tempo", tempo),))
    recommender = Recommender(catalog)
    with mock.patch.object(recommender, "_ranked", side_effect=AssertionError):
        fast = outcome(lambda: recommender._recommend(query))
    assert fast == outcome(lambda: pure(recommender, query))


@relaxed
@given(st.data())
def test_targets_anywhere_within_near_rank_as_the_pure_path(
    catalog: Catalog, data: st.DataObject
) -> None:
    # Unweighted targets anywhere in +-_NEAR once scaled (the bound the proof assumes), on
    # every dimension or some, with seeds that may be candidates themselves.
    which = data.draw(st.sampled_from([catalog, TINY]))
    seeds = data.draw(st.lists(tracks(which), min_size=1, max_size=5, unique=True))
    near = recommend._NEAR
    targets = []
    for name in data.draw(st.lists(st.sampled_from(sorted(TARGET_SCALES)), unique=True)):
        _, offset, scale = TARGET_SCALES[name]
        scaled = data.draw(st.sampled_from([-near, near, 0.0]) | st.floats(-near, near))
        targets.append((name, scaled * scale - offset))
    query = RecommendationQuery(
        seeds=tuple(sorted(seeds)), size=data.draw(st.integers(1, 100)), targets=tuple(targets)
    )
    recommender = Recommender(which)
    assert outcome(lambda: recommender._recommend(query)) == outcome(
        lambda: pure(recommender, query)
    )


@relaxed
@given(st.data())
def test_approximate_scores_are_within_the_proof_s_error(
    catalog: Catalog, data: st.DataObject
) -> None:
    # The lemma of Recommender._ranked's proof: every candidate's approximate score is within
    # 1e-11 of its exact score (math.dist squared plus the jitter), for targets within +-_NEAR,
    # far below the slack the certification leaves (_SLACK, 1e-9).
    near = recommend._NEAR
    dims = data.draw(st.sampled_from([9, 10]))
    target = [
        data.draw(st.sampled_from([-near, near, 0.0, 0.5]) | st.floats(-near, near))
        for _ in range(dims)
    ]
    shift = data.draw(st.floats(0.0, 1.0, exclude_max=True))
    recommender = Recommender(catalog)
    energy, valence = data.draw(st.floats(-near, near)), data.draw(st.floats(-near, near))
    ce, cv, ring = recommender._rings_of(energy, valence, data.draw(st.integers(1, 200)))
    indices, rows, noise = recommender._ranked_rows_for(ce, cv, ring, dims)
    scores = recommend._approximate(rows, noise, target, shift).tolist()
    all_noise = recommender._noise
    for index, approximate in zip(indices.tolist(), scores, strict=True):
        point = catalog.feature_vector(index)[:dims]
        exact = math.dist(point, target) ** 2 + recommend._JITTER * (
            (all_noise[index] + shift) % 1.0
        )
        assert abs(exact - approximate) < 1e-11


@relaxed
@given(st.data())
def test_the_ranked_rows_are_the_candidates_sorted_by_noise(
    catalog: Catalog, data: st.DataObject
) -> None:
    which = data.draw(st.sampled_from([catalog, TINY]))
    recommender = Recommender(which)
    energy, valence = data.draw(st.floats(-2.0, 2.0)), data.draw(st.floats(-2.0, 2.0))
    wanted = data.draw(st.integers(1, 2_000))
    ce, cv, ring = recommender._rings_of(energy, valence, wanted)
    dims = data.draw(st.sampled_from([9, 10]))
    indices, rows, noise = recommender._ranked_rows_for(ce, cv, ring, dims)
    candidates = recommender._candidates(energy, valence, wanted)
    assert sorted(indices.tolist()) == sorted(candidates)
    assert noise == sorted(noise) == [recommender._noise[i] for i in indices.tolist()]
    for index, row in zip(indices.tolist(), rows.tolist(), strict=True):
        point = which.feature_vector(index)[:dims]
        assert row[:dims] == [-2.0 * x for x in point]
        assert row[dims + 1] == 1.0


def test_a_ranking_that_cannot_be_certified_is_left_to_the_exact_path(catalog: Catalog) -> None:
    # With a slack no gap can clear, every certification fails: the exact path answers, the same.
    recommender = Recommender(catalog)
    queries = [RecommendationQuery(seeds=(s, s + 7, s + 40), size=1 + s % 30) for s in range(40)]
    with mock.patch.object(recommend, "_SLACK", 1.0):
        refused = [recommender._ranked(2.0, 0.4, 30, [0.5] * 9, 33, 20, set(), 0.25)]
        fast = [recommender._recommend(q) for q in queries]
    assert refused == [None]
    assert fast == [pure(recommender, q) for q in queries]
