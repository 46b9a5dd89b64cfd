"""Where a replay's time goes, by component: one replay under cProfile, own time summed by part.

    python bench/profile_replay.py [SCENARIO.toml] [--backend asyncio|trio]

Replays the scenario once to warm what the catalog memoises (as a process replaying many
points would be), then once under cProfile, and prints each component's own time and share.
Built-in functions (``msgspec`` decoding, ``math.dist``, ``dict.get``) are charged to their
callers' components, split by calls. cProfile adds overhead per call, so the shares lean
towards code that makes many small calls (the event loops, anyio); read them as a map, not
as a stopwatch. Default scenario: bench/scenarios/saturated-hour.toml.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

import simulator
from engine.virtual import BACKENDS
from simulator.replay.runner import catalog_for, run_scenario
from simulator.replay.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent

#: (fragment of a file's path, component), first match wins. ``<tree>`` is the tree the
#: packages were imported from (PYTHONPATH may point at a copy of another commit).
COMPONENTS = (
    ("/httpx/", "httpx"),
    ("/httpcore/", "httpx"),
    ("/anyio/", "anyio"),
    ("/sniffio/", "anyio"),
    ("/trio/", "trio (event loop)"),
    ("/outcome/", "trio (event loop)"),
    ("/asyncio/", "asyncio (event loop)"),
    ("/selectors.py", "asyncio (event loop)"),
    ("<tree>/engine/", "engine"),
    ("<tree>/recobeat/", "recobeat client"),
    ("<tree>/simulator/upstream/recommend", "simulator: recommender"),
    ("<tree>/simulator/upstream/catalog", "simulator: catalog and IDs"),
    ("<tree>/simulator/upstream/ids", "simulator: catalog and IDs"),
    ("<tree>/simulator/upstream/", "simulator: service (routing, limits, faults, log)"),
    ("<tree>/simulator/replay/plans", "replay: workload planning"),
    ("<tree>/simulator/replay/arrivals", "replay: workload planning"),
    ("<tree>/simulator/workload", "replay: playlist workload"),
    ("<tree>/simulator/replay/", "replay: runner, TTL audit, floor"),
    ("/urllib/parse.py", "urllib.parse (query strings)"),
    ("/random.py", "random"),
    ("/contextlib.py", "contextlib"),
)


def component(filename: str, tree: str) -> str | None:
    """The component of a profiled function's file; ``None`` for a built-in."""
    if filename.startswith(("~", "<")):
        return None
    path = filename.replace(tree, "<tree>")
    for fragment, name in COMPONENTS:
        if fragment in path:
            return name
    return "other: " + path.rsplit("/", 1)[-1]


def by_component(stats: pstats.Stats, tree: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    raw: dict = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, own, _, callers) in raw.items():
        name = component(filename, tree)
        if name is not None:
            totals[name] = totals.get(name, 0.0) + own
            continue
        calls = sum(c[0] for c in callers.values())
        for caller, counts in callers.items():
            owner = component(caller[0], tree) or "built-ins"
            totals[owner] = totals.get(owner, 0.0) + own * counts[0] / calls
        if not callers:
            totals["built-ins"] = totals.get("built-ins", 0.0) + own
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "file", nargs="?", type=Path, default=ROOT / "bench/scenarios/saturated-hour.toml"
    )
    parser.add_argument("--backend", choices=BACKENDS, default="asyncio")
    args = parser.parse_args()
    scenario = load_scenario(args.file)
    catalog_for(scenario.upstream.catalog, scenario.upstream.seed)
    run_scenario(scenario, args.backend)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    run = run_scenario(scenario, args.backend)
    profile.disable()
    elapsed = time.perf_counter() - started
    tree = str(Path(simulator.__file__).resolve().parent.parent)
    totals = by_component(pstats.Stats(profile), tree)
    total = sum(totals.values())
    print(
        f"{scenario.name} on {args.backend}: {len(run.log):,} upstream requests, "
        f"{elapsed:.2f} s under cProfile"
    )
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        if seconds / total >= 0.005:
            print(f"  {name:<52} {seconds:6.2f} s {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()
