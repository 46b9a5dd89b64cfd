"""Engine hot paths against well-known baselines, in one run, on one machine.

    pip install -e ".[bench]"
    python bench/bench_engine.py [--rounds 7] [--iterations 100000] [--batches 40]

Measures, on a real (not virtual) event loop, ``anyio.run(..., backend=...)`` on asyncio and trio:

1. a cache hit through ``engine.cache.Cache.get_or_fetch`` (``MemoryStore``; a string key and a
   parameter-dict key) against an ``async-lru`` hit and a ``cashews`` ``mem://`` hit;
2. ``engine.limits.RateLimiter.acquire`` when it does not limit (one 10**9-per-second rule,
   ``min_interval=0``) against an uncontended ``aiolimiter.AsyncLimiter.acquire``;
3. ``engine.singleflight.SingleFlight.do`` with 1,000 concurrent identical callers, per caller and
   including the cost of spawning the caller's task, against the "dict of futures under an
   ``asyncio.Lock``" pattern of the MoodList backend described by the design note (its
   "Backend Performance Optimizations"; see docs/workload.md).

Method: each micro case awaits the operation ``--iterations`` times in a plain ``for`` loop timed
with ``time.perf_counter_ns``, with the garbage collector off (cases slower than 1 µs run fewer
iterations, about ``--iterations`` µs a round); cases are interleaved and each keeps its best of
``--rounds`` rounds. ``net`` subtracts the best time of the same loop awaiting
an empty coroutine (the call, the coroutine object and the ``await``, which every case pays), so
ratios compare the work each library does; ``raw`` ratios are reported too. Singleflight batches
spawn the 1,000 callers in an anyio task group (the same spawn for every case) and keep the best
of ``--batches`` batches; ``net`` there subtracts a batch of callers that await an empty
coroutine instead. The baselines are asyncio-only: on trio they are attempted and reported as
unsupported, and trio micro rows are compared with the asyncio baseline (marked "x-backend"; not
singleflight, whose per-caller cost includes the backend's own task spawn). A last check cancels
one of three callers sharing an execution and records what the other two get.

Prints a table and writes ``bench/results/engine.json`` (``--check``: exit 1 if a target is missed).
Results and their reading: ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from engine.cache import Cache, MemoryStore
from engine.clock import SystemClock
from engine.limits import RateLimitConfig, RateLimiter, WindowRule
from engine.singleflight import SingleFlight

RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"
BACKENDS = ("asyncio", "trio")
PACKAGES = ("recobeat-engine", "anyio", "trio", "msgspec", "async-lru", "aiolimiter", "cashews")

TRACK = "3f6c1b2a-9d4e-4c71-8a55-2b7f0e9d1c44"  # a ReccoBeats-style track UUID
SEEDS = ["7a1e9c30-55b2-4f0e-9c8d-1b2a3c4d5e6f", "0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70"]
PARAMS = {"seeds": SEEDS, "size": 30}
VALUE = {"id": TRACK, "name": "a track"}

Loop = Callable[[int], Awaitable[None]]

# The targets, as (name, engine case, baseline case, limit on the ratio engine / baseline).
TARGETS = (
    ("cache hit <= 2x async-lru", "cache.get_or_fetch [str key]", "async-lru hit", 2.0),
    ("rate acquire <= 2x aiolimiter", "RateLimiter.acquire", "aiolimiter acquire", 2.0),
    ("singleflight <= 1x dict+lock", "SingleFlight.do", "dict+lock", 1.0),
)
# Informational comparisons (no target): (engine case, baseline case).
COMPARISONS = (
    ("cache.get_or_fetch [str key]", "async-lru hit"),
    ("cache.get_or_fetch [params]", "async-lru hit [kwargs]"),
    ("cache.get_or_fetch [str key]", "cashews @cache hit"),
    ("RateLimiter.acquire", "aiolimiter acquire"),
    ("RateLimiter.acquire [full window]", "aiolimiter acquire"),
    ("SingleFlight.do", "dict+lock"),
    ("SingleFlight.do", "dict+lock+shield"),
)


# -- timing -------------------------------------------------------------------------------------


async def _timed(loop: Loop, n: int) -> int:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        await loop(n)
        return time.perf_counter_ns() - start
    finally:
        gc.enable()


async def best_per_op(loops: dict[str, Loop], n: int, rounds: int) -> dict[str, tuple[float, int]]:
    """Best-of-``rounds`` ns per iteration of each loop, and the iterations it ran per round.

    Cases interleave within a round. A case slower than 1 µs per iteration runs fewer
    iterations (a round of it lasts about ``n`` µs) so that slow baselines do not dominate.
    """
    sizes = {}
    for name, loop in loops.items():
        await loop(1000)  # warm up: caches filled, code paths specialised
        estimate = await _timed(loop, 1000) / 1000
        sizes[name] = max(1000, min(n, int(n * 1000 / max(estimate, 1.0))))
    best = dict.fromkeys(loops, float("inf"))
    for _ in range(rounds):
        for name, loop in loops.items():
            best[name] = min(best[name], await _timed(loop, sizes[name]) / sizes[name])
    return {name: (best[name], sizes[name]) for name in loops}


async def empty(_: object = None) -> None:
    return None


async def empty_loop(n: int) -> None:
    for _ in range(n):
        await empty(TRACK)


# -- (1) cache hits -----------------------------------------------------------------------------


async def fetch() -> dict[str, str]:
    return VALUE


def engine_cache_loops(cache: Cache) -> dict[str, Loop]:
    get = cache.get_or_fetch

    async def str_key(n: int) -> None:
        for _ in range(n):
            await get("tracks", TRACK, fetch)

    async def params_key(n: int) -> None:
        params = PARAMS
        for _ in range(n):
            await get("recommendations", params, fetch)

    return {"cache.get_or_fetch [str key]": str_key, "cache.get_or_fetch [params]": params_key}


def baseline_cache_loops() -> dict[str, Loop]:
    import cashews
    from async_lru import alru_cache

    @alru_cache(maxsize=5000, ttl=7200)
    async def lru_track(track_id: str) -> dict[str, str]:
        return VALUE

    # async-lru needs hashable arguments: the caller turns the seed list into a tuple.
    @alru_cache(maxsize=5000, ttl=900)
    async def lru_recommendations(*, seeds: tuple[str, ...], size: int) -> dict[str, str]:
        return VALUE

    cashews_cache = cashews.Cache(name="bench")
    cashews_cache.setup("mem://")

    @cashews_cache(ttl="2h")
    async def cashews_track(track_id: str) -> dict[str, str]:
        return VALUE

    async def alru(n: int) -> None:
        for _ in range(n):
            await lru_track(TRACK)

    async def alru_kwargs(n: int) -> None:
        seeds = tuple(SEEDS)
        for _ in range(n):
            await lru_recommendations(seeds=seeds, size=30)

    async def cashews_hit(n: int) -> None:
        for _ in range(n):
            await cashews_track(TRACK)

    async def cashews_get(n: int) -> None:
        get = cashews_cache.get
        for _ in range(n):
            await get(TRACK)

    async def prepare(n: int) -> None:
        await cashews_cache.set(TRACK, VALUE, expire="2h")

    return {
        "_prepare": prepare,
        "async-lru hit": alru,
        "async-lru hit [kwargs]": alru_kwargs,
        "cashews @cache hit": cashews_hit,
        "cashews get()": cashews_get,
    }


# -- (2) rate limiters --------------------------------------------------------------------------

#: Never limits: a 10**9-per-second rule (its deque never fills) and no minimum interval.
UNLIMITED = RateLimitConfig(rules=(WindowRule(limit=10**9, window=1.0),), min_interval=0.0)
#: The design note's shape (one 80-grant window) in its steady state, where the window is full
#: and every grant compares with the oldest one, but with a 1 µs window so that it never limits
#: either.
FULL_WINDOW = RateLimitConfig(rules=(WindowRule(limit=80, window=1e-6),), min_interval=0.0)


def engine_rate_loops(clock: SystemClock) -> tuple[dict[str, Loop], list[RateLimiter]]:
    loops: dict[str, Loop] = {}
    limiters = []
    for name, config in (
        ("RateLimiter.acquire", UNLIMITED),
        ("RateLimiter.acquire [full window]", FULL_WINDOW),
    ):
        limiter = RateLimiter(config, clock=clock)
        limiters.append(limiter)

        async def loop(n: int, acquire: Callable[[], Awaitable[float]] = limiter.acquire) -> None:
            for _ in range(n):
                await acquire()

        loops[name] = loop
    return loops, limiters


def baseline_rate_loops() -> dict[str, Loop]:
    from aiolimiter import AsyncLimiter

    limiter = AsyncLimiter(max_rate=1e9, time_period=1.0)

    async def loop(n: int) -> None:
        acquire = limiter.acquire
        for _ in range(n):
            await acquire()

    async def prepare(n: int) -> None:
        if not limiter.has_capacity():
            raise RuntimeError("aiolimiter would limit")

    return {"_prepare": prepare, "aiolimiter acquire": loop}


# -- (3) singleflight ---------------------------------------------------------------------------

Do = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


class LockedFlights:
    """The design note's deduplication: a dict of futures guarded by an ``asyncio.Lock``.

    The first caller creates the future and runs ``fn`` itself; later callers await the future.
    Not cancellation-safe: cancelling the first caller cancels the work for every caller, and
    (unless ``shield``) cancelling any waiter cancels the shared future for all of them.
    """

    def __init__(self, *, shield: bool = False) -> None:
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._lock = asyncio.Lock()
        self._shield = shield

    async def do(self, key: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        async with self._lock:
            future = self._inflight.get(key)
            owner = future is None
            if future is None:
                future = asyncio.get_running_loop().create_future()
                self._inflight[key] = future
        if not owner:
            return await (asyncio.shield(future) if self._shield else future)
        try:
            result = await fn()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            async with self._lock:
                self._inflight.pop(key, None)


async def flight_batch(do: Do, callers: int) -> tuple[int, int]:
    """Spawn ``callers`` tasks that call ``do`` with one key; (ns for the batch, runs of fn)."""
    gate = anyio.Event()
    arrived = runs = 0

    async def fn() -> dict[str, str]:
        nonlocal runs
        runs += 1
        await gate.wait()  # held until every caller has joined
        return VALUE

    async def caller() -> None:
        nonlocal arrived
        arrived += 1
        if arrived == callers:
            gate.set()
        await do("track", fn)

    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(caller)
        elapsed = time.perf_counter_ns() - start
    finally:
        gc.enable()
    return elapsed, runs


async def spawn_only(key: str, fn: Callable[[], Awaitable[Any]]) -> None:
    return None


async def best_flight(dos: dict[str, Do], callers: int, batches: int) -> dict[str, float]:
    for do in dos.values():
        await flight_batch(do, callers)  # warm up
    best = dict.fromkeys(dos, float("inf"))
    for _ in range(batches):
        for name, do in dos.items():
            elapsed, runs = await flight_batch(do, callers)
            expected = 0 if do is spawn_only else 1
            if runs != expected:
                raise AssertionError(f"{name}: fn ran {runs} times in one batch, not {expected}")
            best[name] = min(best[name], elapsed / callers)
    return best


async def cancellation_check(do_factory: Callable[[], Do]) -> dict[str, list[str]]:
    """Three callers share one execution; cancel one; what do the other two get?"""
    return {
        "cancel the first caller": await _cancel_one(do_factory(), victim=0),
        "cancel a later caller": await _cancel_one(do_factory(), victim=1),
    }


async def _cancel_one(do: Do, *, victim: int) -> list[str]:
    gate = anyio.Event()
    got = ["-"] * 3
    scopes = [anyio.CancelScope() for _ in range(3)]

    async def fn() -> str:
        await gate.wait()
        return "value"

    async def caller(i: int) -> None:
        with scopes[i]:
            try:
                got[i] = await do("track", fn)
            except BaseException as exc:
                if scopes[i].cancel_called:
                    got[i] = "(cancelled)"
                    raise
                got[i] = type(exc).__name__

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(caller, i)
            for _ in range(10):
                await anyio.lowlevel.checkpoint()
            scopes[victim].cancel()
            for _ in range(10):
                await anyio.lowlevel.checkpoint()
            gate.set()
    return got


# -- a run on one backend -----------------------------------------------------------------------


async def try_baselines(make: Callable[[], dict[str, Loop]]) -> tuple[dict[str, Loop], str | None]:
    """The baseline loops, warmed once; or why they cannot run on this backend."""
    with warnings.catch_warnings():
        # On trio, cashews' setup leaves a never-awaited coroutine behind: not our concern here.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            loops = make()
            await loops.pop("_prepare")(1)
            for loop in loops.values():
                await loop(10)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            del exc
            gc.collect()
            return {}, error
    return loops, None


async def run_backend(args: argparse.Namespace, backend: str) -> dict[str, Any]:
    clock = SystemClock()
    out: dict[str, Any] = {"micro": {}, "singleflight": {}, "unsupported": {}, "checks": {}}
    async with SingleFlight() as flights:
        cache = Cache(MemoryStore(5000, clock=clock), flights=flights, clock=clock)
        loops: dict[str, Loop] = {"empty coroutine": empty_loop}
        loops |= engine_cache_loops(cache)
        rate_loops, limiters = engine_rate_loops(clock)
        loops |= rate_loops
        for group, make in (("cache", baseline_cache_loops), ("rate", baseline_rate_loops)):
            found, error = await try_baselines(make)
            loops |= found
            if error is not None:
                out["unsupported"][group] = error

        best = await best_per_op(loops, args.iterations, args.rounds)
        overhead = best["empty coroutine"][0]
        for name, (ns, iterations) in best.items():
            out["micro"][name] = {"raw_ns": ns, "net_ns": ns - overhead, "iterations": iterations}

        # Sanity: every lookup was a hit and no acquire ever waited.
        stats = cache.stats().namespaces
        if stats["tracks"].misses != 1 or stats["recommendations"].misses != 1:
            raise AssertionError(f"the cache cases were not all hits: {stats}")
        for limiter in limiters:
            if limiter.stats().waited:
                raise AssertionError(f"the rate limiter limited: {limiter.stats()}")

        dos: dict[str, Do] = {"spawn only": spawn_only, "SingleFlight.do": flights.do}
        if backend == "asyncio":
            dos["dict+lock"] = LockedFlights().do
            dos["dict+lock+shield"] = LockedFlights(shield=True).do
        else:
            out["unsupported"]["singleflight"] = "dict+lock uses asyncio.Lock and asyncio.Future"
        best = await best_flight(dos, args.callers, args.batches)
        spawn = best["spawn only"]
        for name, ns in best.items():
            out["singleflight"][name] = {"raw_ns": ns, "net_ns": ns - spawn}
        if flights.in_flight():
            raise AssertionError("SingleFlight leaked a flight")

        out["checks"]["SingleFlight.do"] = await cancellation_check(lambda: flights.do)
    if backend == "asyncio":
        out["checks"]["dict+lock"] = await cancellation_check(lambda: LockedFlights().do)
        out["checks"]["dict+lock+shield"] = await cancellation_check(
            lambda: LockedFlights(shield=True).do
        )
    return out


# -- report -------------------------------------------------------------------------------------


def _case(results: dict[str, Any], backend: str, name: str) -> dict[str, float] | None:
    backend_results = results["backends"].get(backend, {})
    for kind in ("micro", "singleflight"):
        if name in backend_results.get(kind, {}):
            return backend_results[kind][name]  # type: ignore[no-any-return]
    return None


def compare(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Engine / baseline ratios; on a backend without the baseline, against asyncio's."""
    rows = []
    limits = {(engine, base): (name, limit) for name, engine, base, limit in TARGETS}
    for backend in results["backends"]:
        for engine_case, base_case in COMPARISONS:
            engine = _case(results, backend, engine_case)
            base = _case(results, backend, base_case)
            base_backend = backend
            if base is None and not engine_case.startswith("SingleFlight"):
                # Micro cases never reach the loop: compare with asyncio's baseline. Not
                # singleflight, whose per-caller cost includes the backend's task spawn.
                base, base_backend = _case(results, "asyncio", base_case), "asyncio"
            if engine is None or base is None:
                continue
            target, limit = limits.get((engine_case, base_case), (None, None))
            ratio_net = engine["net_ns"] / base["net_ns"]
            rows.append(
                {
                    "backend": backend,
                    "engine": engine_case,
                    "baseline": base_case,
                    "baseline_backend": base_backend,
                    "engine_net_ns": engine["net_ns"],
                    "baseline_net_ns": base["net_ns"],
                    "ratio_net": ratio_net,
                    "ratio_raw": engine["raw_ns"] / base["raw_ns"],
                    "target": target,
                    "limit": limit,
                    # Verdicts only where both sides ran on the same backend.
                    "met": (ratio_net <= limit)
                    if limit is not None and base_backend == backend
                    else None,
                }
            )
    return rows


def render(results: dict[str, Any]) -> str:
    lines = []
    meta = results["machine"]
    lines.append(
        f"{meta['cpu_count']} CPUs, Python {meta['python']} ({meta['implementation']}), "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    )
    params = results["params"]
    lines.append(
        f"best of {params['rounds']} rounds x {params['iterations']:,} iterations; "
        f"singleflight: best of {params['batches']} batches of {params['callers']:,} callers"
    )
    lines.append("")
    header = f"{'backend':<8} {'case':<36} {'raw ns/op':>10} {'net ns/op':>10}"
    for backend, data in results["backends"].items():
        lines.append(header)
        lines.append("-" * len(header))
        for kind, unit in (("micro", "op"), ("singleflight", "caller")):
            for name, value in data[kind].items():
                label = name if kind == "micro" else f"{name} (per {unit})"
                lines.append(
                    f"{backend:<8} {label:<36} {value['raw_ns']:>10.0f} {value['net_ns']:>10.0f}"
                )
        for group, why in data["unsupported"].items():
            lines.append(f"{backend:<8} {group} baselines not run: {why}")
        lines.append("")
    header = f"{'backend':<8} {'engine':<34} {'baseline':<34} {'net x':>6} {'raw x':>6}  target"
    lines.append(header)
    lines.append("-" * len(header))
    for row in results["comparisons"]:
        base = row["baseline"]
        if row["baseline_backend"] != row["backend"]:
            base += " (x-backend)"
        verdict = ""
        if row["limit"] is not None:
            status = {True: "MET", False: "MISSED", None: "n/a"}[row["met"]]
            verdict = f"<= {row['limit']:g}x: {status}"
        lines.append(
            f"{row['backend']:<8} {row['engine']:<34} {base:<34} "
            f"{row['ratio_net']:>6.2f} {row['ratio_raw']:>6.2f}  {verdict}"
        )
    lines.append("")
    lines.append("cancellation (3 callers share one execution; cancel one; the others get):")
    for backend, data in results["backends"].items():
        for impl, outcomes in data["checks"].items():
            for what, got in outcomes.items():
                lines.append(f"  {backend:<8} {impl:<18} {what:<24} {got}")
    return "\n".join(lines)


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per micro case (best of)")
    parser.add_argument("--iterations", type=int, default=100_000, help="awaits per round")
    parser.add_argument("--callers", type=int, default=1000, help="singleflight callers per batch")
    parser.add_argument("--batches", type=int, default=40, help="singleflight batches (best of)")
    parser.add_argument("--backend", choices=(*BACKENDS, "all"), default="all")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results path")
    args = parser.parse_args()

    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "versions": _versions(),
        "params": {
            "rounds": args.rounds,
            "iterations": args.iterations,
            "callers": args.callers,
            "batches": args.batches,
        },
        "method": (
            "ns per operation: best of `rounds` rounds of `iterations` awaits (gc off, cases "
            "interleaved); net = raw - the same loop awaiting an empty coroutine. singleflight: "
            "ns per caller, best of `batches` batches of `callers` tasks spawned in an anyio task "
            "group, including the spawn; net = raw - a batch awaiting an empty coroutine."
        ),
        "backends": {},
    }
    for backend in BACKENDS if args.backend == "all" else (args.backend,):
        results["backends"][backend] = anyio.run(run_backend, args, backend, backend=backend)
    results["comparisons"] = compare(results)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)

    print(render(results))
    print(f"\n{results['elapsed_s']} s; results in {args.output}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, args.output)
    if args.check and any(row["met"] is False for row in results["comparisons"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
