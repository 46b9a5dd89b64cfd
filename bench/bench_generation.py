"""What one uncached playlist generation costs: upstream requests and virtual time.

    python bench/bench_generation.py [--seeds 12] [--profiles tuned,original]

Replays, on asyncio, a scenario of one user and one generation arriving at 0 s, with the
default workload parameters (docs/workload.md, "One playlist generation"), once per scenario
random seed 1..N and per profile. Prints each replay's upstream requests per endpoint and the
generation's latency, then per profile the range and median of both.
"""

from __future__ import annotations

import argparse
import statistics

import msgspec

from simulator.replay.report import build_report
from simulator.replay.runner import run_scenario
from simulator.replay.scenario import Scenario


def one_generation(seed: int, profile: str) -> Scenario:
    return msgspec.convert(
        {
            "name": f"one-generation-{seed}",
            "description": "One user, one playlist generation, nothing cached.",
            "seed": seed,
            "duration": 1,
            "drain": 3600,
            "backends": ["asyncio"],
            "engine": {"profile": profile},
            "workload": [
                {"kind": "playlists", "users": 1, "arrivals": {"process": "times", "at": [0]}}
            ],
        },
        Scenario,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--profiles", default="tuned,original")
    args = parser.parse_args()
    for profile in args.profiles.split(","):
        calls, seconds = [], []
        for seed in range(1, args.seeds + 1):
            m = build_report(run_scenario(one_generation(seed, profile), "asyncio")).metrics
            assert m.failed == 0 and m.playlist_latency.count == 1, m
            calls.append(m.upstream_calls)
            seconds.append(m.playlist_latency.p50)
            endpoints = ", ".join(f"{k} {v}" for k, v in m.upstream_by_endpoint.items())
            print(
                f"{profile:<8} seed {seed:>2}: {m.upstream_calls:>3} requests, "
                f"{m.playlist_latency.p50:6.1f} s ({endpoints})"
            )
        print(
            f"{profile}: {min(calls)} to {max(calls)} requests (median "
            f"{statistics.median(calls):g}), {min(seconds):.0f} to {max(seconds):.0f} s "
            f"(median {statistics.median(seconds):.0f} s) over {args.seeds} generations\n"
        )


if __name__ == "__main__":
    main()
