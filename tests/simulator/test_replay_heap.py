"""settle_heap: what the commands do to the garbage collector before a replay.

It changes the whole process's collector, so every case runs in a fresh interpreter: the test
process's own collector is left as it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SCENARIO = """
name = "heap"
description = "Distinct recommendation calls: the garbage collector settled or not."
seed = 3
duration = 600
drain = 1200

[[workload]]
kind = "requests"
name = "distinct-recommendations"
call = "recommendations"
ids = 3
seed_pool = { size = 2000, unknown_share = 0.0 }
arrivals = { process = "poisson", per_minute = 60 }
"""


def _python(code: str, tmp_path: Path) -> dict[str, object]:
    scenario = tmp_path / "heap.toml"
    scenario.write_text(_SCENARIO)
    done = subprocess.run(
        [sys.executable, "-c", code, str(scenario)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


_PRELUDE = """
import gc, json, sys
from pathlib import Path
import msgspec
from simulator.replay.heap import YOUNG_THRESHOLD, settle_heap
from simulator.replay.report import build_report
from simulator.replay.runner import run_scenario
from simulator.replay.scenario import load_scenario
scenario = load_scenario(Path(sys.argv[1]))
"""


def test_settling_freezes_what_is_alive_and_raises_the_young_threshold(tmp_path: Path) -> None:
    found = _python(
        _PRELUDE
        + """
before = (gc.get_freeze_count(), gc.get_threshold())
settle_heap(scenario)
first = (gc.get_freeze_count(), gc.get_threshold())
settle_heap(scenario)
again = gc.get_freeze_count()
gc.set_threshold(YOUNG_THRESHOLD * 3, 5, 6)
settle_heap(scenario)
print(json.dumps({"before": before, "first": first, "again": again,
                  "kept": gc.get_threshold(), "young": YOUNG_THRESHOLD}))
""",
        tmp_path,
    )
    young = found["young"]
    assert found["before"] == [0, [700, 10, 10]]
    frozen, threshold = found["first"]  # type: ignore[misc]
    # Everything alive: the imports, the catalog, the recommender's index.
    assert frozen > 10_000
    assert threshold == [young, 10, 10]
    # Nothing new was built: a second settling freezes little more.
    assert frozen <= found["again"] < frozen * 1.01  # type: ignore[operator]
    # A higher threshold set by the process's owner is never lowered.
    assert found["kept"] == [young * 3, 5, 6]  # type: ignore[operator]


def test_a_settled_replay_reports_the_same(tmp_path: Path) -> None:
    found = _python(
        _PRELUDE
        + """
def report():
    return msgspec.json.encode(build_report(run_scenario(scenario, "asyncio"))).decode()
plain = report()
settle_heap(scenario)
settled = report()
print(json.dumps({"plain": plain, "settled": settled, "frozen": gc.get_freeze_count()}))
""",
        tmp_path,
    )
    assert found["frozen"] > 0
    assert '"arrivals":' in found["plain"]  # type: ignore[operator]
    assert found["settled"] == found["plain"]
