"""The floor under a replayed upstream request: what the event loop's primitives cost, and how
many of each one request uses.

    python bench/bench_primitives.py [SCENARIO.toml] [--rounds N] [--json PATH]

Part 1 times each primitive a replay uses, in virtual time (``engine.virtual.run_virtual``),
on asyncio and trio, best of ``--rounds``: an anyio task spawned and run (in batches of 100),
``anyio.sleep`` with a delay (a timer, then a wake-up), a checkpoint (``sleep(0)``), an
``anyio.Event`` set by one task and waited on by another, a cancel scope with a deadline
entered and left; and, on asyncio, the same spawn and sleep through asyncio itself.

Part 2 replays the scenario (default: bench/scenarios/saturated-hour.toml, one upstream request
per arrival) on asyncio with counters on those primitives, and on the loop's turns, and
prints their number per upstream request. The product of the two is the time a request spends
in scheduling alone, before any of the client's, the engine's or the simulator's own work:
the floor no change of that work can go below. Writes bench/results/primitives.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import inspect
import json
import platform
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from engine import virtual
from engine.virtual import BACKENDS, run_virtual
from simulator.replay.runner import catalog_for, run_scenario
from simulator.replay.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
N = 20_000
BATCH = 100


async def _nothing() -> None:
    pass


async def _spawn() -> float:
    async with anyio.create_task_group() as tg:
        started = time.perf_counter()
        for _ in range(N // BATCH):
            for _ in range(BATCH):
                tg.start_soon(_nothing)
            await anyio.lowlevel.checkpoint()
            await anyio.lowlevel.checkpoint()
        # Two checkpoints per batch are part of the cost: a spawned task runs at one.
        return (time.perf_counter() - started) / N


async def _sleep() -> float:
    started = time.perf_counter()
    for _ in range(N):
        await anyio.sleep(0.01)
    return (time.perf_counter() - started) / N


async def _checkpoint() -> float:
    started = time.perf_counter()
    for _ in range(N):
        await anyio.lowlevel.checkpoint()
    return (time.perf_counter() - started) / N


async def _event() -> float:
    # One task waits, another sets: the cross-task wake-up every flight and line uses.
    async def setter(events: list[anyio.Event]) -> None:
        for event in events:
            await anyio.lowlevel.checkpoint()
            event.set()

    events = [anyio.Event() for _ in range(N)]
    async with anyio.create_task_group() as tg:
        started = time.perf_counter()
        tg.start_soon(setter, events)
        for event in events:
            await event.wait()
        elapsed = time.perf_counter() - started
    # Minus the setter's checkpoint, timed on its own.
    return elapsed / N - await _checkpoint()


async def _deadline_scope() -> float:
    started = time.perf_counter()
    for _ in range(N):
        # Entering and leaving is the cost measured (an attempt's deadline that is not reached).
        with anyio.CancelScope(deadline=anyio.current_time() + 30):  # noqa: ASYNC100
            pass
    return (time.perf_counter() - started) / N


async def _asyncio_spawn() -> float:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    for _ in range(N // BATCH):
        tasks = [loop.create_task(_nothing()) for _ in range(BATCH)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        del tasks
    return (time.perf_counter() - started) / N


async def _asyncio_sleep() -> float:
    started = time.perf_counter()
    for _ in range(N):
        await asyncio.sleep(0.01)
    return (time.perf_counter() - started) / N


CASES: dict[str, Callable[[], Awaitable[float]]] = {
    "task spawned and run": _spawn,
    "sleep (timer, wake-up)": _sleep,
    "checkpoint": _checkpoint,
    "event wake-up (cross-task)": _event,
    "cancel scope with deadline": _deadline_scope,
}
ASYNCIO_ONLY: dict[str, Callable[[], Awaitable[float]]] = {
    "asyncio: task created and run": _asyncio_spawn,
    "asyncio: sleep": _asyncio_sleep,
}


def unit_costs(rounds: int) -> dict[str, dict[str, float]]:
    """Microseconds per primitive, best of ``rounds``, per event loop."""
    costs: dict[str, dict[str, float]] = {}
    for backend in BACKENDS:
        cases = dict(CASES, **(ASYNCIO_ONLY if backend == "asyncio" else {}))
        costs[backend] = {
            name: min(run_virtual(case, backend=backend) for _ in range(rounds)) * 1e6
            for name, case in cases.items()
        }
    return costs


class _Counting:
    """Counts the primitives a replay uses by wrapping them where callers look them up."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        counts = self.counts

        if inspect.iscoroutinefunction(original):

            async def counted_async(*args: Any, **kwargs: Any) -> Any:
                counts[label] += 1
                return await original(*args, **kwargs)

            setattr(owner, name, counted_async)
        else:

            def counted(*args: Any, **kwargs: Any) -> Any:
                counts[label] += 1
                return original(*args, **kwargs)

            setattr(owner, name, counted)
        self._undo.append((owner, name, original))

    def __enter__(self) -> _Counting:
        from anyio._backends import _asyncio as backend  # the classes anyio hands out

        self.wrap(anyio, "sleep", "sleep (timer, wake-up)")
        self.wrap(anyio, "sleep_until", "sleep (timer, wake-up)")
        self.wrap(anyio.lowlevel, "checkpoint", "checkpoint")
        self.wrap(backend.TaskGroup, "start_soon", "task spawned and run")
        self.wrap(backend.Event, "wait", "event wake-up (cross-task)")
        self.wrap(backend.CancelScope, "__enter__", "cancel scopes entered (all kinds)")
        self.wrap(virtual._VirtualEventLoop, "_run_once", "event loop turns")
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def per_request(path: Path) -> tuple[dict[str, float], int, float]:
    """Primitives per upstream request in one asyncio replay, the requests, and the wall
    microseconds per request of an uncounted replay (best of 3)."""
    scenario = load_scenario(path)
    catalog_for(scenario.upstream.catalog, scenario.upstream.seed)
    best = min(_timed(scenario) for _ in range(3))
    with _Counting() as counting:
        run = run_scenario(scenario, "asyncio")
    requests = len(run.log)
    return (
        {name: count / requests for name, count in sorted(counting.counts.items())},
        requests,
        best / requests * 1e6,
    )


def _timed(scenario: Any) -> float:
    started = time.perf_counter()
    run_scenario(scenario, "asyncio")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "scenario", nargs="?", type=Path, default=ROOT / "bench/scenarios/saturated-hour.toml"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/primitives.json")
    args = parser.parse_args()

    costs = unit_costs(args.rounds)
    print("Microseconds per primitive, virtual time, best of", args.rounds)
    for name in (*CASES, *ASYNCIO_ONLY):
        row = "  ".join(
            f"{backend} {costs[backend][name]:7.2f}" if name in costs[backend] else " " * 15
            for backend in BACKENDS
        )
        print(f"  {name:34} {row}")

    counts, requests, measured = per_request(args.scenario)
    print(f"\nPer upstream request, {args.scenario.name} on asyncio ({requests:,} requests):")
    floor = 0.0
    for name, count in counts.items():
        unit = costs["asyncio"].get(name)
        cost = "" if unit is None else f"  x {unit:5.2f} us = {count * unit:6.1f} us"
        if unit is not None and name != "checkpoint":
            floor += count * unit
        print(f"  {name:34} {count:6.2f}{cost}")
    # Checkpoints are left out of the sum: most are inside the primitives above.
    print(f"  scheduling alone: {floor:.0f} us of the {measured:.0f} us a request takes")
    print(
        "  5,000 requests a second leave 200 us a request for everything; "
        f"scheduling is {floor / 200:.0%} of that"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "anyio": importlib.metadata.version("anyio"),
                    "trio": importlib.metadata.version("trio"),
                },
                "unit_costs_us": costs,
                "scenario": args.scenario.name,
                "requests": requests,
                "per_request": counts,
                "scheduling_us_per_request": floor,
                "measured_us_per_request": measured,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
