"""The garbage collector in a process that replays: what the commands do before each replay.

A replay allocates a few hundred thousand short-lived objects an hour of virtual time, and
CPython's cyclic collector runs whenever young allocations outnumber deallocations by 700:
hundreds of young collections an hour, and the full collections among them walk everything
alive, above all the catalog and the recommender's index, built once per process and never
freed. :func:`settle_heap` takes what is alive then out of the collector's reach
(:func:`gc.freeze`) and makes young collections rarer. Garbage is still collected; the results
are the same (collection never changes what a replay computes, only when memory is reclaimed).

It changes the whole process's collector, so the library never calls it on its own: the
``recobeat`` commands do (``replay``, and ``plan`` in each worker process), and so do the
benchmarks that time replays as the commands run them. A program embedding the simulator may
call it too, when it owns its process.
"""

from __future__ import annotations

import gc

from simulator.replay.runner import catalog_for
from simulator.replay.scenario import Scenario
from simulator.upstream.recommend import Recommender

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

#: Allocations (net of deallocations) between young collections once settled; CPython's default
#: is 700. A hundred times the default still keeps each collection's share of memory small
#: (tens of kilobytes of young objects), and cuts the collections of a saturated hour from about
#: 190 to a dozen.
YOUNG_THRESHOLD = 10_000


def settle_heap(scenario: Scenario) -> None:
    """Build what every replay of ``scenario`` reuses in this process (its catalog and the
    recommender's index over it: memoised per process), collect once, then freeze every object
    alive out of the collector's reach and raise the young generation's threshold to
    :data:`YOUNG_THRESHOLD` (never lowering a higher one).

    Idempotent, and cheap when nothing new was built: a second call on the same catalog finds
    few objects to collect or freeze. Frozen objects are never collected: call it between
    replays, not during one, so that only long-lived data is frozen.
    """
    catalog = catalog_for(scenario.upstream.catalog, scenario.upstream.seed)
    Recommender(catalog)  # builds (or finds) the index over the catalog
    gc.collect()
    gc.freeze()
    young, *older = gc.get_threshold()
    if young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, *older)
