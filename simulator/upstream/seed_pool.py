"""Seed tracks for workloads: Spotify IDs drawn from a Zipf-popular pool, some unknown.

``draw(key, count)`` is a pure function of (the pool's random seed, key): a workload draws a
generation's seeds by its stable identity (e.g. the generation number), in any order, from any
task.
"""

from __future__ import annotations

import bisect
import itertools
import random

from simulator.upstream.catalog import Catalog
from simulator.upstream.seeded import digest

__all__ = ["SeedPool"]


class SeedPool:
    """Track rank ``r`` (0-based, among the ``size`` most popular tracks) is drawn with
    probability proportional to ``1 / (r + 1) ** exponent``; a share ``unknown_share`` of the
    draws are instead Spotify IDs unknown to the service (:meth:`Catalog.unknown_spotify_id`:
    well-formed IDs that the catalog's keyed hash leaves unknown), themselves Zipf-drawn from a
    pool of ``unknown_size`` so that they recur across users as real ones do."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        size: int = 50_000,
        exponent: float = 1.0,
        unknown_share: float = 0.15,
        unknown_size: int = 5_000,
        seed: int = 0,
    ) -> None:
        if size < 1 or unknown_size < 1:
            raise ValueError(
                f"size and unknown_size must be at least 1, not {size}, {unknown_size}"
            )
        if not exponent > 0:
            raise ValueError(f"exponent must be positive, not {exponent}")
        if not 0.0 <= unknown_share <= 1.0:
            raise ValueError(f"unknown_share must be in 0..1, not {unknown_share}")
        self.catalog = catalog
        self.unknown_share = unknown_share
        self.seed = seed
        self._known = _zipf_cdf(min(size, catalog.tracks), exponent)
        self._unknown = _zipf_cdf(unknown_size, exponent)

    def draw(self, key: str | int, count: int) -> list[str]:
        """``count`` distinct Spotify IDs for the draw identified by ``key``."""
        rng = random.Random(digest(self.seed, f"seed-pool\x1f{key}"))
        limit = len(self._known) + len(self._unknown)
        if count > limit:
            raise ValueError(f"count must be at most {limit}, not {count}")
        chosen: dict[str, None] = {}
        while len(chosen) < count:
            if rng.random() < self.unknown_share:
                n = bisect.bisect_right(self._unknown, rng.random() * self._unknown[-1])
                chosen[self.catalog.unknown_spotify_id(n)] = None
            else:
                rank = bisect.bisect_right(self._known, rng.random() * self._known[-1])
                chosen[self.catalog.spotify_id(rank)] = None
        return list(chosen)


def _zipf_cdf(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate((r + 1) ** -exponent for r in range(n)))
