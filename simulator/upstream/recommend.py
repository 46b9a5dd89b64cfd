"""Recommendations: nearest neighbours in audio-feature space among the materialised tracks.

A query's target point takes each explicitly targeted feature from the query and every other
feature from the centroid of the (known) seeds. Candidates come from a grid over
(energy, valence): the cells nearest the target, widened ring by ring until there are enough.
They are ranked by weighted squared distance (targeted features weigh ``featureWeight``, the
others 1), pushed away from the negative seeds' centroid, plus a tiny seeded jitter keyed by the
seed set, so different seeds give different lists. Ties break by index.

Guarantees: the result depends only on the query's content (seed order is irrelevant), never
contains a seed or negative seed, and has no duplicates.
"""

from __future__ import annotations

import functools
import hashlib
import math
import operator
from collections.abc import Iterable
from itertools import islice, repeat
from typing import Any

import msgspec

from simulator.upstream.catalog import Catalog
from simulator.upstream.seeded import mix64

try:  # the `fast` extra: it prefilters candidates (Recommender._nearest); same results without it
    import numpy as _np
except ImportError:  # pragma: no cover - the pure path
    _np = None

__all__ = ["TARGET_SCALES", "RecommendationQuery", "Recommender"]

#: Query targets by name: (position in the feature vector, scale to 0..1: value -> scaled).
TARGET_SCALES: dict[str, tuple[int, float, float]] = {
    "acousticness": (0, 0.0, 1.0),
    "danceability": (1, 0.0, 1.0),
    "energy": (2, 0.0, 1.0),
    "instrumentalness": (3, 0.0, 1.0),
    "liveness": (4, 0.0, 1.0),
    "speechiness": (5, 0.0, 1.0),
    "valence": (6, 0.0, 1.0),
    "loudness": (7, 60.0, 62.0),
    "tempo": (8, 0.0, 250.0),
    "popularity": (9, 0.0, 100.0),
}
_CONTINUOUS = 9  # dimensions that default to the seed centroid (popularity does not)
_GRID = 10
_JITTER = 0.002
_NEGATIVE_PUSH = 0.25
_CATEGORY_PENALTY = 0.05
# The prefilter's slack over its approximate bound, absolute and relative (Recommender._nearest):
# far above the rounding error of a sum of ten squares, far below any distance that matters.
_SLACK = 1e-9
# The prefilter runs for a target inside +-_FAR only: no overflow (or NaN) to reason about.
_FAR = 1e100
# Recommender._nearest keeps the candidates of each (grid cell, number wanted, dimensions) as
# arrays, a few dozen in practice: at most this many rows in all (about 90 bytes each).
_NEAREST_ROWS = 1 << 18


class RecommendationQuery(msgspec.Struct, frozen=True, gc=False):
    """A validated request in canonical form: seeds and negative seeds as sorted track indices,
    targets as a sorted tuple of (name, value) in the API's units. Memoised by the thousand
    and cycle-free: not tracked by the garbage collector."""

    seeds: tuple[int, ...]
    size: int
    negative_seeds: tuple[int, ...] = ()
    targets: tuple[tuple[str, float], ...] = ()
    feature_weight: float = 1.0


class Recommender:
    """Answers :class:`RecommendationQuery` against a :class:`Catalog`; results are memoised."""

    def __init__(self, catalog: Catalog, *, cache_size: int = 4096) -> None:
        self._catalog = catalog
        self._cells, self._noise, self._points, self._arrays = _index(catalog)
        self._nearest_arrays: dict[tuple[int, int, int, int], tuple[Any, Any]] = {}
        self._nearest_rows = 0
        self.recommend = functools.lru_cache(maxsize=cache_size)(self._recommend)

    def _recommend(self, query: RecommendationQuery) -> tuple[int, ...]:
        if not query.seeds:
            return ()
        catalog = self._catalog
        seed_vectors = [catalog.feature_vector(i) for i in query.seeds]
        # Each dimension summed from 0 in seed order (as a sum over the seeds would), per column.
        count = len(seed_vectors)
        target = [
            sum(column) / count for column in islice(zip(*seed_vectors, strict=True), _CONTINUOUS)
        ]
        weights = [1.0] * _CONTINUOUS
        key = mode = None
        for name, value in query.targets:
            if name == "key":
                key = value
            elif name == "mode":
                mode = value
            else:
                dim, offset, scale = TARGET_SCALES[name]
                if dim == len(target):
                    target.append(0.0)
                    weights.append(0.0)
                target[dim] = (value + offset) / scale
                weights[dim] = query.feature_weight
        dims = len(target)
        scales = [math.sqrt(w) for w in weights]
        unweighted = all(w == 1.0 for w in weights)
        scaled_target = [t * s for t, s in zip(target, scales, strict=True)]
        negative = None
        if query.negative_seeds:
            vs = [catalog.feature_vector(i) for i in query.negative_seeds]
            negative = [
                sum(column) / len(vs) for column in islice(zip(*vs, strict=True), _CONTINUOUS)
            ]
        excluded = set(query.seeds) | set(query.negative_seeds)
        jitter_key = hashlib.blake2b(repr(query.seeds).encode(), digest_size=8).digest()
        shift = int.from_bytes(jitter_key, "big") / 2.0**64
        noise = self._noise
        dist = math.dist
        points = self._points[dims]
        wanted = query.size + len(excluded)
        common = unweighted and negative is None and key is None and mode is None
        if (
            common
            and _np is not None
            and self._arrays is not None
            and all(-_FAR < t < _FAR for t in scaled_target)
        ):
            # Only materialised tracks are candidates: only those can be excluded ones.
            rank = query.size + sum(i < catalog.materialised for i in excluded)
            candidates = self._nearest(target[2], target[6], wanted, scaled_target, rank)
        else:
            candidates = self._candidates(target[2], target[6], wanted)
        if common:
            # The common case; same arithmetic as the general loop. A score is its squared
            # distance plus a jitter in [0, _JITTER], so (rounding being monotonic) it lies
            # between d2 and d2 + _JITTER: a candidate whose d2 exceeds the size-th smallest
            # d2 + _JITTER scores above at least size others and cannot be returned. Only the
            # others get their jitter and a place in the sort.
            kept = [i for i in candidates if i not in excluded]
            d2 = [d**2 for d in map(dist, map(points.__getitem__, kept), repeat(scaled_target))]
            pairs: Iterable[tuple[float, int]] = zip(d2, kept, strict=True)
            if len(d2) > query.size:
                bound = sorted(d2)[query.size - 1] + _JITTER
                pairs = ((d, i) for d, i in pairs if d <= bound)
            scored = [(d + _JITTER * ((noise[i] + shift) % 1.0), i) for d, i in pairs]
        else:
            scored = []
            vectors = catalog.feature_vector
            for index in candidates:
                if index in excluded:
                    continue
                v = vectors(index)
                point = points[index]
                if not unweighted:
                    point = tuple(map(operator.mul, point, scales))
                score = dist(point, scaled_target) ** 2
                if negative is not None:
                    score -= _NEGATIVE_PUSH * dist(v[:_CONTINUOUS], negative) ** 2
                if key is not None and v[10] != key:
                    score += _CATEGORY_PENALTY
                if mode is not None and v[11] != mode:
                    score += _CATEGORY_PENALTY
                scored.append((score + _JITTER * ((noise[index] + shift) % 1.0), index))
        scored.sort()
        return tuple(index for _, index in scored[: query.size])

    def _candidates(self, energy: float, valence: float, wanted: int) -> list[int]:
        ce, cv = _cell(energy), _cell(valence)
        found: list[int] = []
        need = max(3 * wanted, 100)
        for ring in range(_GRID):
            for e in range(ce - ring, ce + ring + 1):
                for v in range(cv - ring, cv + ring + 1):
                    if max(abs(e - ce), abs(v - cv)) == ring:
                        found.extend(self._cells.get((e, v), ()))
            if len(found) >= need:
                break
        return found

    def _nearest(
        self, energy: float, valence: float, wanted: int, target: list[float], rank: int
    ) -> list[int]:
        """The common case's candidates (unweighted, no negative seeds, no key or mode, with
        numpy): those of :meth:`_candidates`, in their order, less some that cannot be returned,
        found by an approximate squared distance computed with numpy.

        It is exact. Say every approximate d2 is within e of the exact d2 (both round a sum of at
        most ten squares: e is a few units in the last place of the larger). ``rank`` is size
        plus the number of excluded tracks that may be candidates, so of the ``rank`` candidates
        nearest by approximate d2, at least size are kept ones (not excluded): the rank-th
        smallest approximate d2 is at least A, the size-th smallest among kept candidates.
        ``limit`` adds _JITTER and a slack (> 2e + the rounding of the exact bound) to it, so it
        exceeds A + _JITTER + 2e. Let X be the size-th smallest exact d2 among kept candidates:
        X <= A + e (size kept candidates have an approximate d2 <= A). Then (i) each of the size
        kept candidates of smallest exact d2 has an approximate d2 <= X + e <= A + 2e < limit:
        they all survive, so the exact bound computed over the survivors, sorted(d2)[size - 1] +
        _JITTER, is X + _JITTER, the bound over all candidates; (ii) a candidate left out has an
        approximate d2 > limit, so an exact d2 > A + _JITTER + e >= X + _JITTER (rounded): the
        exact filter would have dropped it too. So the common case scores the same candidates.
        The survivors keep the candidates' order (the final sort is by (score, index), indices
        unique, so the order does not matter anyway)."""
        arrays = self._arrays
        assert _np is not None and arrays is not None
        ce, cv = _cell(energy), _cell(valence)
        need = max(3 * wanted, 100)  # what decides _candidates' result with ce and cv
        found = self._nearest_arrays.get((ce, cv, need, len(target)))
        if found is None:
            # The candidates' indices and points, read-only; the whole lot is dropped when full.
            indices = _np.array(self._candidates(energy, valence, wanted), dtype=_np.intp)
            found = indices, arrays[len(target)][indices]
            for array in found:
                array.flags.writeable = False
            if self._nearest_rows + len(indices) > _NEAREST_ROWS:
                self._nearest_arrays.clear()
                self._nearest_rows = 0
            self._nearest_arrays[ce, cv, need, len(target)] = found
            self._nearest_rows += len(indices)
        indices, points = found
        if len(indices) <= rank:
            return indices.tolist()
        diff = points - target
        approx = _np.einsum("ij,ij->i", diff, diff)
        limit = float(_np.partition(approx, rank - 1)[rank - 1]) + _JITTER
        limit += _SLACK + _SLACK * limit
        return indices[approx <= limit].tolist()


_Index = tuple[
    dict[tuple[int, int], list[int]],
    list[float],
    dict[int, list[tuple[float, ...]]],
    dict[int, Any] | None,
]


@functools.lru_cache(maxsize=4)
def _index(catalog: Catalog) -> _Index:
    """What a :class:`Recommender` precomputes from ``catalog`` (read-only afterwards), built
    once per catalog: a replay builds a new simulator, hence a new Recommender, every run."""
    cells: dict[tuple[int, int], list[int]] = {}
    for index in range(catalog.materialised):
        v = catalog.feature_vector(index)
        cells.setdefault((_cell(v[2]), _cell(v[6])), []).append(index)
    # A fixed pseudo-random number per track; shifted per seed set, it breaks near-ties.
    noise = [mix64(catalog.seed ^ i) / 2.0**64 for i in range(catalog.materialised)]
    # Candidates are materialised tracks; their vectors cut to the distance's dimensions
    # (without, then with popularity) spare the per-candidate slicing.
    vectors = [catalog.feature_vector(i) for i in range(catalog.materialised)]
    points = {dims: [v[:dims] for v in vectors] for dims in (_CONTINUOUS, _CONTINUOUS + 1)}
    # With numpy, the same points as read-only float64 arrays (a track's row is its index).
    arrays = None
    if _np is not None:
        arrays = {dims: _np.array(rows, dtype=_np.float64) for dims, rows in points.items()}
        for array in arrays.values():
            array.flags.writeable = False
    return cells, noise, points, arrays


def _cell(x: float) -> int:
    return min(_GRID - 1, max(0, int(x * _GRID)))
