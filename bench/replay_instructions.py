"""Instructions one replay executes: a speed measure that this shared machine's noise leaves alone.

    python bench/replay_instructions.py [SCENARIO.toml] [--tree PATH ...] [--backend B]

Wall and CPU times of the same replay move by 10-25 % from run to run on the shared 2-vCPU
machine, more than most single changes are worth. The number of machine instructions a replay
executes does not move: this script counts them with valgrind (``--tool=cachegrind
--cache-sim=no``, so no cache simulation: about 25x slower than a plain run) and
``PYTHONHASHSEED=0`` (string hashing changes set and dict layouts, hence the count, by a few %).

Each tree (default: this one; ``--tree`` a checkout of another commit, e.g. made with
``git archive REV | tar -x -C DIR``) replays the scenario once, then three times, in fresh
processes; half the difference is one replay without the imports, the catalog's construction
and the scenario's loading. Each replay is preceded by
:func:`simulator.replay.heap.settle_heap` where the tree has it, as the ``recobeat`` commands
do. The default scenario is the first ten minutes of
bench/scenarios/saturated-hour.toml (about 780 upstream requests: a minute or two under
valgrind). Instructions are not time (cache misses, branch mispredictions), but a change that
removes work shows here first and exactly.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_RUN = """
import sys
from pathlib import Path
from simulator.replay.runner import run_scenario
from simulator.replay.scenario import load_scenario
try:  # as the recobeat commands replay (trees before simulator/replay/heap.py did not)
    from simulator.replay.heap import settle_heap
except ImportError:
    settle_heap = None
scenario = load_scenario(Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    if settle_heap is not None:
        settle_heap(scenario)
    run = run_scenario(scenario, sys.argv[3])
print(len(run.log))
"""


def instructions(tree: Path, scenario: Path, replays: int, backend: str) -> tuple[int, int]:
    """Instructions of a process that replays ``scenario`` ``replays`` times from ``tree``, and
    the upstream requests of one replay."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    done = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            "-c",
            _RUN,
            str(scenario),
            str(replays),
            backend,
        ],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", "")), int(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", type=Path)
    parser.add_argument("--tree", type=Path, action="append")
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on PATH")
    with tempfile.TemporaryDirectory() as scratch:
        scenario = args.scenario
        if scenario is None:
            text = (ROOT / "bench/scenarios/saturated-hour.toml").read_text()
            for line in ("duration = 3600\n", "drain = 7200\n"):
                if line not in text:  # never replay the whole hour by surprise
                    raise SystemExit(f"saturated-hour.toml no longer says {line.strip()!r}")
            text = text.replace("duration = 3600\n", "duration = 600\n").replace(
                "drain = 7200\n", "drain = 1200\n"
            )
            scenario = Path(scratch) / "saturated-ten-minutes.toml"
            scenario.write_text(text)
        for tree in args.tree or [ROOT]:
            once, requests = instructions(tree.resolve(), scenario.resolve(), 1, args.backend)
            thrice, _ = instructions(tree.resolve(), scenario.resolve(), 3, args.backend)
            replay = (thrice - once) // 2
            print(
                f"{tree}: {replay / 1e6:,.0f} M instructions a replay on {args.backend}, "
                f"{replay / requests / 1e3:,.0f} k per upstream request ({requests:,} requests)"
            )


if __name__ == "__main__":
    main()
