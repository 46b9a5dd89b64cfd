"""Every scenario in scenarios/ is a test item: replayed on each of its backends, it must pass.

Plus the determinism properties: the same file and seed give byte-identical JSON reports run
after run, and asyncio and trio give the same report apart from the backend's name.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from simulator.replay.report import Report, build_report
from simulator.replay.runner import run_scenario
from simulator.replay.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.toml"))
CASES = [
    pytest.param(path, backend, id=f"{path.stem}-{backend}")
    for path in SCENARIOS
    for backend in load_scenario(path).backends
]


def replay(path: Path, backend: str) -> Report:
    return build_report(run_scenario(load_scenario(path), backend))  # type: ignore[arg-type]


def test_the_library_has_the_scenarios_the_project_promises() -> None:
    names = {p.stem for p in SCENARIOS}
    assert {
        "burst",
        "steady-hour",
        "ttl-expiry",
        "upstream-lower-limit",
        "upstream-faults",
    } <= names
    assert any(load_scenario(p).compare for p in SCENARIOS)


@pytest.mark.parametrize(("path", "backend"), CASES)
def test_scenario_passes(path: Path, backend: str) -> None:
    report = replay(path, backend)
    failed = [c for c in report.checks if not c.passed]
    assert report.passed, "\n".join(
        f"{c.name}: {c.measured} ({c.limit}) {c.evidence}" for c in failed
    )


@pytest.mark.parametrize("name", ["burst", "upstream-faults", "three-instances-shared-budget"])
def test_same_seed_same_bytes_and_same_report_on_both_backends(name: str) -> None:
    path = next(p for p in SCENARIOS if p.stem == name)
    asyncio_runs = [msgspec.json.encode(replay(path, "asyncio")) for _ in range(2)]
    trio_runs = [msgspec.json.encode(replay(path, "trio")) for _ in range(2)]
    assert asyncio_runs[0] == asyncio_runs[1]
    assert trio_runs[0] == trio_runs[1]
    on_asyncio = msgspec.json.decode(asyncio_runs[0])
    on_trio = msgspec.json.decode(trio_runs[0])
    assert (on_asyncio.pop("backend"), on_trio.pop("backend")) == ("asyncio", "trio")
    assert on_asyncio == on_trio


def test_another_seed_gives_another_replay() -> None:
    scenario = load_scenario(next(p for p in SCENARIOS if p.stem == "burst"))
    first = build_report(run_scenario(scenario, "asyncio"))
    other = build_report(run_scenario(msgspec.structs.replace(scenario, seed=2), "asyncio"))
    assert first.metrics != other.metrics
