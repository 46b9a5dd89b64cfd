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

import bisect
import functools
import hashlib
import math
import operator
from collections.abc import Iterable
from itertools import accumulate, islice, repeat
from typing import Any, NamedTuple

import msgspec

from simulator.upstream.catalog import Catalog
from simulator.upstream.seeded import mix64

try:  # the `fast` extra: it ranks the common case (Recommender._ranked); same results without it
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
# The slack of the approximate ranking's proof (Recommender._ranked): far above its rounding
# errors (below 1e-11), far below the gaps between scores that decide an order.
_SLACK = 1e-9
# The approximate ranking runs for a target within +-_NEAR on every dimension (the points are
# within 0..1): that bounds its rounding errors.
_NEAR = 10.0
# No targets: every weight 1.0 (Recommender._recommend).
_UNIT_SCALES = (1.0,) * _CONTINUOUS
# Recommender._ranked keeps the candidates of each (grid cell, rings, dimensions) as arrays, a
# few dozen in practice: at most this many rows in all (about 110 bytes each).
_RANKED_ROWS = 1 << 18


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
        self._cells, self._noise, self._points, self._fast = _index(catalog)
        self._ranked_arrays: dict[tuple[int, int, int, int], tuple[Any, Any, list[float]]] = {}
        self._ranked_rows = 0
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
        key = mode = None
        if query.targets:
            weights = [1.0] * _CONTINUOUS
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
            scales = [math.sqrt(w) for w in weights]
            unweighted = all(w == 1.0 for w in weights)
            scaled_target = [t * s for t, s in zip(target, scales, strict=True)]
        else:
            # No targets: every weight is 1.0, every scale sqrt(1.0) == 1.0, and t * 1.0 is t.
            scales = _UNIT_SCALES
            unweighted = True
            scaled_target = target
        dims = len(target)
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
            and query.size >= 1  # the API's lower bound; a direct caller's smaller size: exact
            and _np is not None
            and self._fast is not None
            and all(-_NEAR <= t <= _NEAR for t in scaled_target)
        ):
            # Only materialised tracks are candidates: only those can be excluded ones.
            rank = query.size + sum(map(catalog.materialised.__gt__, excluded))
            ranked = self._ranked(
                target[2], target[6], wanted, scaled_target, rank, query.size, excluded, shift
            )
            if ranked is not None:
                return ranked
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

    def _ranked(
        self,
        energy: float,
        valence: float,
        wanted: int,
        target: list[float],
        rank: int,
        size: int,
        excluded: set[int],
        shift: float,
    ) -> tuple[int, ...] | None:
        """The common case's answer (unweighted, no negative seeds, no key or mode, a target
        within +-_NEAR, with numpy) from scores approximated with numpy, when they provably
        rank as the exact ones do; ``None`` when that cannot be shown (the exact path answers).

        The candidates are those of :meth:`_candidates`; the exact path returns the first size
        of the kept ones (not excluded) by (score, index), a score s being math.dist(point,
        target) squared plus the jitter J * ((noise + shift) % 1.0). The approximate score a is
        one dot product per candidate: its row (-2 * point, |point|^2 + J * noise, 1) times
        (target, 1, |target|^2 + J * shift), less J when the jitter wraps (noise + shift >= 1,
        decided exactly as the exact path decides it: the rows are sorted by noise, and the
        rounded sum is monotonic in noise, so the wrapping rows are a suffix). Over the reals
        both are |point - target|^2 + J * ((noise + shift) mod 1), and |s - a| stays below
        1e-11: the points are within 0..1 and the target within +-_NEAR on at most ten
        dimensions, so every term of the dot product is below 1,100 in magnitude and the sum of
        their magnitudes below 1,300; a dot product of twelve terms is within 12 units of
        roundoff u = 2**-53 of that sum (in any order, with or without fused multiply-adds),
        the precomputed |point|^2 and |target|^2 within 11u of theirs, and math.dist squared
        (a root within an ulp or so of the true one) within 9u of the squared distance of the
        same rounded differences, itself within 3u of the true one (below 1,210), with a few
        more roundings of the jitter: in all, a few times 1e-12. Call E(a) = _SLACK * (1 + |a|),
        more than 100 times that.

        Sort the candidates by a (numpy) and keep the first rank + 1: they include the first
        min(size + 1, kept) kept ones, since at most rank - size candidates are excluded. Let
        a_1 <= ... <= a_m be those kept ones' scores, m = min(size + 1, kept). If every gap
        a_j+1 - a_j exceeds 2 * _SLACK * (1 + max |a_j|) >= E(a_j) + E(a_j+1) (computed with
        roundings far below _SLACK), then s_j <= a_j + E(a_j) < a_j+1 - E(a_j+1) <= s_j+1: the
        exact scores of those m rise strictly in the same order. Any other kept candidate has a
        >= a_m (= a_size+1), and since a - E(a) grows with a, s >= a_size+1 - E(a_size+1) >
        a_size + E(a_size) >= s_size: it comes after the first size. So the first size by
        (exact score, index) are the first size by a, in that order, and no two tie (indices
        never decide). In the bundled scenarios no query has had a gap too small."""
        ce, cv, ring = self._rings_of(energy, valence, wanted)
        dims = len(target)
        found = self._ranked_arrays.get((ce, cv, ring, dims))
        if found is None:
            found = self._ranked_rows_for(ce, cv, ring, dims)
            if self._ranked_rows + len(found[0]) > _RANKED_ROWS:
                self._ranked_arrays.clear()
                self._ranked_rows = 0
            self._ranked_arrays[ce, cv, ring, dims] = found
            self._ranked_rows += len(found[0])
        indices, rows, noise = found
        scores = _approximate(rows, noise, target, shift)
        head = scores.argsort()[: rank + 1]
        ranked_scores = scores[head].tolist()
        ranked = indices[head].tolist()
        if not excluded.isdisjoint(ranked):
            kept = [k for k, index in enumerate(ranked) if index not in excluded]
            ranked_scores = [ranked_scores[k] for k in kept]
            ranked = [ranked[k] for k in kept]
        first = ranked_scores[: size + 1]
        if len(first) > 1:
            gap = min(map(operator.sub, first[1:], first))
            if not gap > 2.0 * _SLACK * (1.0 + max(first[-1], -first[0])):
                return None
        return tuple(ranked[:size])

    def _rings_of(self, energy: float, valence: float, wanted: int) -> tuple[int, int, int]:
        """The grid cell of (energy, valence), finite, and how many rings around it
        :meth:`_candidates` reads for ``wanted``: up to the first that brings the tracks within
        to max(3 * wanted, 100), or all."""
        fast = self._fast
        assert fast is not None
        ce, cv = _cell(energy), _cell(valence)
        ring = bisect.bisect_left(fast.rings[ce, cv], max(3 * wanted, 100))
        return ce, cv, min(ring, _GRID - 1)

    def _ranked_rows_for(
        self, ce: int, cv: int, ring: int, dims: int
    ) -> tuple[Any, Any, list[float]]:
        """:meth:`_ranked`'s read-only arrays for the tracks within ``ring`` rings of grid cell
        (ce, cv) (those :meth:`_candidates` returns when it stops there), sorted by noise:
        their indices, their rows (-2 * point, |point|^2 + J * noise, 1), and their noise as a
        list."""
        fast = self._fast
        assert _np is not None and fast is not None
        members = [
            fast.cells[e, v]
            for e in range(ce - ring, ce + ring + 1)
            for v in range(cv - ring, cv + ring + 1)
            if (e, v) in fast.cells
        ]
        indices = _np.concatenate(members) if members else _np.empty(0, dtype=_np.intp)
        indices = indices.take(fast.noise.take(indices).argsort())
        rows = fast.rows[dims].take(indices, axis=0)
        for array in (indices, rows):
            array.flags.writeable = False
        return indices, rows, fast.noise.take(indices).tolist()


class _Fast(NamedTuple):
    """What :meth:`Recommender._ranked` precomputes from a catalog, with numpy (read-only)."""

    noise: Any
    """The noise, a float64 array (a track's entry is its index)."""
    rows: dict[int, Any]
    """Per number of dimensions, every materialised track's row (-2 * point, |point|^2 +
    _JITTER * noise, 1), a float64 array (a track's row is its index)."""
    cells: dict[tuple[int, int], Any]
    """The grid's cells, each an array of its tracks' indices."""
    rings: dict[tuple[int, int], list[int]]
    """Per grid cell (ce, cv): how many tracks lie within 0, 1, ... _GRID - 1 rings of it, the
    counts after which :meth:`Recommender._candidates` stops."""


_Index = tuple[
    dict[tuple[int, int], list[int]],
    list[float],
    dict[int, list[tuple[float, ...]]],
    _Fast | None,
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
    # With numpy, only for points within 0..1, as Recommender._ranked assumes (all of them:
    # features, loudness, tempo and popularity are scaled to 0..1).
    fast = None
    if _np is not None and all(0.0 <= x <= 1.0 for v in points[_CONTINUOUS + 1] for x in v):
        noise_array = _np.array(noise, dtype=_np.float64)
        rows = {}
        for dims, cut in points.items():
            array = _np.array(cut, dtype=_np.float64).reshape(len(cut), dims)
            rows[dims] = _np.empty((len(cut), dims + 2))
            rows[dims][:, :dims] = -2.0 * array
            rows[dims][:, dims] = _np.einsum("ij,ij->i", array, array) + _JITTER * noise_array
            rows[dims][:, dims + 1] = 1.0
        cell_arrays = {cell: _np.array(members, dtype=_np.intp) for cell, members in cells.items()}
        for array in (noise_array, *rows.values(), *cell_arrays.values()):
            array.flags.writeable = False
        rings = {}
        for ce in range(_GRID):
            for cv in range(_GRID):
                within = [0] * _GRID
                for (e, v), members in cells.items():
                    within[max(abs(e - ce), abs(v - cv))] += len(members)
                rings[ce, cv] = list(accumulate(within))
        fast = _Fast(noise_array, rows, cell_arrays, rings)
    return cells, noise, points, fast


def _approximate(rows: Any, noise: list[float], target: list[float], shift: float) -> Any:
    """The approximate scores of :meth:`Recommender._ranked`, an array, from the rows and noise
    of :meth:`Recommender._ranked_rows_for`."""
    assert _np is not None
    scores = rows.dot(_np.array([*target, 1.0, math.hypot(*target) ** 2 + _JITTER * shift]))
    # The rows whose jitter wraps (noise + shift >= 1, rounded as the exact path rounds it).
    wrap = bisect.bisect_left(noise, 1.0, key=shift.__add__)
    if wrap < len(noise):
        scores[wrap:] -= _JITTER
    return scores


def _cell(x: float) -> int:
    return min(_GRID - 1, max(0, int(x * _GRID)))
