"""A long replay: progress as virtual time advances (on a terminal only), and memory that keeps
what the report needs rather than one record per arrival, request or cache event."""

from __future__ import annotations

import gc
import io
import itertools
import types
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from rich.console import Console

from engine.cache.events import CacheEvent
from recobeat.config import ClientConfig
from simulator import RequestRecord
from simulator.cli import main
from simulator.replay.audit import EVIDENCE, TtlAudit
from simulator.replay.plans import Arrival, RequestPlan, iter_arrivals, plan_arrivals
from simulator.replay.progress import ReplayProgress, progress_display
from simulator.replay.report import build_report
from simulator.replay.runner import RunResult, catalog_for, run_scenario
from simulator.replay.scenario import (
    Burst,
    PlaylistStream,
    Poisson,
    RequestStream,
    Scenario,
    Times,
)
from simulator.workload import PlaylistPlan

BACKENDS = ["asyncio", "trio"]


def scenario(**changes: object) -> Scenario:
    base = Scenario(
        name="small",
        description="d",
        duration=120,
        drain=600,
        seed=5,
        workload=[
            PlaylistStream(arrivals=Burst(count=4, within=60), users=3),
            RequestStream(name="raw", call="tracks", ids=3, arrivals=Times(at=[0, 30, 90])),
        ],
    )
    return msgspec.structs.replace(base, **changes)


@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_reaches_the_finish_with_every_arrival(backend: str) -> None:
    calls: list[ReplayProgress] = []
    run = run_scenario(scenario(), backend, progress=calls.append)  # type: ignore[arg-type]
    times = [p.now for p in calls]
    assert times == sorted(times) and len(times) >= 3
    done = [p.done for p in calls]
    assert done == sorted(done) and [p.started for p in calls] == sorted(p.started for p in calls)
    assert all(p.horizon == scenario().horizon and p.done <= p.started for p in calls)
    last = calls[-1]
    assert last.finished and [p.finished for p in calls].count(True) == 1
    assert last.now == run.finished_at
    assert last.started == last.done == run.arrivals == run.completed == 7
    # Throttled by virtual time: at most one call per 1 % of the horizon, plus the last.
    assert len(calls) <= 102


@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_does_not_change_the_report(backend: str) -> None:
    watched = run_scenario(scenario(), backend, progress=lambda p: None)  # type: ignore[arg-type]
    plain = run_scenario(scenario(), backend)  # type: ignore[arg-type]
    assert msgspec.json.encode(build_report(watched)) == msgspec.json.encode(build_report(plain))


def _reachable(root: object) -> Iterator[object]:
    """Every object reachable from ``root`` through data (not through classes or functions)."""
    seen = {id(root)}
    stack = [root]
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    while stack:
        obj = stack.pop()
        yield obj
        for child in gc.get_referents(obj):
            if id(child) not in seen and not isinstance(child, skip):
                seen.add(id(child))
                stack.append(child)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_keeps_no_record_per_arrival_or_cache_event(backend: str) -> None:
    run = run_scenario(scenario(), backend)  # type: ignore[arg-type]
    kept = {type(obj) for obj in _reachable(run)}
    per_arrival = {Arrival, PlaylistPlan, RequestPlan, CacheEvent}
    assert kept & per_arrival == set()
    # Per arrival: one latency per succeeded generation; per cache event: nothing but counts.
    assert isinstance(run.arrivals, int) and len(run.playlist_latencies) == 4
    assert run.playlist_latencies == sorted(run.playlist_latencies)
    assert all(isinstance(t, float) for t in run.playlist_latencies)
    assert sum(audit.checked for audit in run.ttl) > 0
    # The upstream's request log is what the window, spacing and duplicate checks read.
    assert all(type(r) is RequestRecord for r in run.log)
    assert set(RunResult.__struct_fields__) >= {"arrivals", "completed", "failed", "ttl"}


def test_arrivals_are_planned_as_they_are_reached() -> None:
    """A million-arrival stream is not materialised: the first arrivals come without it."""
    huge = scenario(
        duration=10**9,
        workload=[RequestStream(name="raw", call="tracks", ids=2, arrivals=Poisson(per_minute=60))],
    )
    catalog = catalog_for(huge.upstream.catalog, huge.upstream.seed)
    first = list(itertools.islice(iter_arrivals(huge, catalog), 5))
    assert [a.id for a in first] == [f"raw-{i}" for i in range(5)]
    small = scenario()
    assert list(iter_arrivals(small, catalog)) == plan_arrivals(small, catalog)


def _event(at: float, kind: str, key: str, expires_at: float) -> CacheEvent:
    return CacheEvent(at, kind, key, expires_at)  # type: ignore[arg-type]


def test_ttl_audit_counts_every_violation_and_keeps_a_few_lines() -> None:
    policy = ClientConfig().engine.cache.policy
    audit = TtlAudit(policy)
    ttl = policy.for_namespace("tracks").ttl
    assert ttl is not None
    audit(_event(0.0, "store", "v1:tracks:a", ttl))
    audit(_event(1.0, "hit", "v1:tracks:a", ttl))  # fine
    for n in range(EVIDENCE + 3):
        audit(_event(ttl + n, "hit", "v1:tracks:a", ttl))  # past its TTL
    audit(_event(ttl + 50, "evict", "v1:tracks:a", ttl))
    audit(_event(ttl + 60, "store", "v1:tracks:a", ttl + 60 + 1.0))  # not its TTL
    assert audit.checked == 3 + EVIDENCE + 3 + 1
    assert audit.violations == EVIDENCE + 3 + 1
    assert len(audit.evidence) == EVIDENCE
    assert audit.evidence[0] == f"v1:tracks:a: served at {ttl:.3f} past its TTL"


TINY = """
name = "tiny"
description = "Three raw lookups."
seed = 4
duration = 10
drain = 600
backends = ["asyncio", "trio"]

[[workload]]
kind = "requests"
call = "tracks"
ids = 3
arrivals = { process = "times", at = [0, 1, 2] }
"""


def test_no_progress_output_when_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    assert main(["replay", str(path)]) == 0
    captured = capsys.readouterr()
    assert "arrivals done" not in captured.out + captured.err
    assert "virtual" not in captured.err and "\r" not in captured.out + captured.err


def test_the_display_draws_on_a_terminal_only() -> None:
    with progress_display(Console(file=io.StringIO()), "x") as callback:
        assert callback is None
    out = io.StringIO()
    with progress_display(Console(file=out, force_terminal=True, width=100), "tiny") as callback:
        assert callback is not None
        callback(ReplayProgress(50.0, 100.0, 3, 2))
    assert "tiny" in out.getvalue() and "2 of 3 arrivals done" in out.getvalue()


def test_ttl_audit_lets_a_namespace_refreshed_ahead_store_a_key_again_late_in_its_life() -> None:
    from engine.cache import NamespaceTtl, TtlPolicy

    policy = TtlPolicy(
        namespaces={
            "hot": NamespaceTtl(ttl=100, refresh_ahead=1.0),
            "plain": NamespaceTtl(ttl=100),
        }
    )
    audit = TtlAudit(policy)
    for ns in ("hot", "plain"):
        audit(_event(0.0, "store", f"v1:{ns}:k", 100.0))
        audit(_event(80.0, "store", f"v1:{ns}:k", 180.0))  # refreshed ahead at 80 % of its life
    assert audit.violations == 1 and "v1:plain:k" in audit.evidence[0]
    audit(_event(90.0, "store", "v1:hot:k", 190.0))  # 10 s into the new value: too early
    assert audit.violations == 2
