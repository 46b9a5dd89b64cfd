"""Memory of a long replay: peak traced memory and bytes per arrival at 1,000 to 100,000 arrivals.

    python bench/bench_memory.py [--sizes 1000 10000 100000] [--backend asyncio]

Each size replays an hour of Poisson raw ``tracks`` lookups (three IDs each, the same IDs every
time: after the first, cache hits with no upstream call), scaled to that many arrivals, under
``tracemalloc``, and prints the peak traced memory during ``run_scenario``, what the returned
``RunResult`` still holds after a garbage collection, both per arrival, and the growth per extra
arrival between consecutive sizes (the figure that matters: what a longer replay adds). The
catalog is built and a small replay run before tracing (both are once per process). Writes
bench/results/memory.json. ``tracemalloc`` slows the replay about threefold: 100,000 arrivals
take a few minutes.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
import tracemalloc
from pathlib import Path

import msgspec

from simulator.replay.report import build_report
from simulator.replay.runner import catalog_for, run_scenario
from simulator.replay.scenario import Poisson, RequestStream, Scenario

ROOT = Path(__file__).resolve().parent.parent
DURATION = 3600.0


def scenario(arrivals: int) -> Scenario:
    return Scenario(
        name=f"memory-{arrivals}",
        description="Raw repeated lookups, scaled.",
        duration=DURATION,
        drain=600,
        seed=11,
        workload=[
            RequestStream(
                name="lookups",
                call="tracks",
                ids=3,
                repeat=True,
                arrivals=Poisson(per_minute=arrivals / DURATION * 60),
            )
        ],
    )


def measure(arrivals: int, backend: str) -> dict[str, float]:
    s = scenario(arrivals)
    catalog_for(s.upstream.catalog, s.upstream.seed)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    run = run_scenario(s, backend)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    metrics = build_report(run).metrics
    n = metrics.arrivals
    del run
    return {
        "arrivals": n,
        "upstream_calls": metrics.upstream_calls,
        "peak_mb": round(peak / 1e6, 2),
        "retained_mb": round(retained / 1e6, 2),
        "peak_bytes_per_arrival": round(peak / n),
        "retained_bytes_per_arrival": round(retained / n),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/memory.json")
    args = parser.parse_args()
    rows: list[dict[str, float]] = []
    # Untraced warm-up: first-call caches and lazy imports are not per arrival.
    run_scenario(scenario(200), args.backend)  # type: ignore[arg-type]
    for size in args.sizes:
        row = measure(size, args.backend)
        if rows:
            prev = rows[-1]
            extra = row["arrivals"] - prev["arrivals"]
            row["peak_growth_bytes_per_arrival"] = round(
                (row["peak_mb"] - prev["peak_mb"]) * 1e6 / extra
            )
            row["retained_growth_bytes_per_arrival"] = round(
                (row["retained_mb"] - prev["retained_mb"]) * 1e6 / extra
            )
        rows.append(row)
        growth = (
            f"; growth per extra arrival: peak {row['peak_growth_bytes_per_arrival']:,} B, "
            f"retained {row['retained_growth_bytes_per_arrival']:,} B"
            if "peak_growth_bytes_per_arrival" in row
            else ""
        )
        print(
            f"{row['arrivals']:>8,} arrivals ({row['upstream_calls']} upstream calls): "
            f"peak {row['peak_mb']:8.2f} MB ({row['peak_bytes_per_arrival']:,} B/arrival), "
            f"retained {row['retained_mb']:7.2f} MB "
            f"({row['retained_bytes_per_arrival']:,} B/arrival){growth}, "
            f"{row['wall_s']} s wall",
            flush=True,
        )
    result = {
        "backend": args.backend,
        "machine": {"python": platform.python_version(), "system": platform.platform()},
        "msgspec": msgspec.__version__,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
