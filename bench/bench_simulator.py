"""Requests per wall second through the simulator, in virtual time, on both backends.

    python bench/bench_simulator.py [--requests 20000] [--repeat 3]

A realistic mix: per generation, one ``GET /v1/track`` lookup of Zipf-drawn seeds,
per-seed audio features, recommendations in chunks of 5 seeds, candidate audio features, one
artist lookup and sometimes an artist search. Requests are issued by 50 concurrent workers, with
the default latency model and limits lifted (each worker is its own client and the burst rule
would otherwise dominate). Two paths: ``httpx`` through :class:`SimulatorTransport`, and
``direct`` calls to ``RecoBeatSimulator.exchange``; and, for reference, two floors on the same
URLs: httpx to a constant ``MockTransport`` response (httpx alone, no event-loop switches), and
httpx to a constant response after the same two virtual sleeps per request as the simulator's
(httpx plus the event loop: what no transport can go below). The mix follows one playlist
generation as docs/workload.md describes it.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import time
from urllib.parse import urlencode

import anyio
import httpx

from engine.clock import VirtualClock
from engine.virtual import BACKENDS, run_virtual
from simulator import (
    Catalog,
    RateLimitConfig,
    RateLimitRule,
    RecoBeatSimulator,
    Request,
    SeedPool,
    SimulatorConfig,
    SimulatorTransport,
)

WORKERS = 50


def workload(catalog: Catalog, total: int) -> list[tuple[str, str]]:
    """(path, query) pairs, generation by generation, until ``total``."""
    pool = SeedPool(catalog, seed=1)
    requests: list[tuple[str, str]] = []
    generation = 0
    while len(requests) < total:
        seeds = pool.draw(generation, 12)
        known = [s for s in seeds if catalog.track_index(s) is not None]
        requests.append(("/v1/track", urlencode({"ids": seeds}, doseq=True)))
        requests += [(f"/v1/track/{s}/audio-features", "") for s in known]
        energy = round((generation % 20) * 0.05, 2)
        candidates: list[int] = []
        for chunk in range(0, len(known), 5):
            query = {"size": 30, "seeds": known[chunk : chunk + 5], "energy": energy}
            requests.append(("/v1/track/recommendation", urlencode(query, doseq=True)))
            candidates += [(generation * 7 + chunk * 13 + k * 31) % 5000 for k in range(30)]
        ids = [catalog.track_uuid(i) for i in dict.fromkeys(candidates)]
        requests += [(f"/v1/track/{i}/audio-features", "") for i in ids[:60]]
        artists = [catalog.artist_uuid(catalog.artist_of(i)) for i in candidates[:40]]
        requests.append(("/v1/artist", urlencode({"ids": artists}, doseq=True)))
        if generation % 3 == 0:
            requests.append(("/v1/artist/search", urlencode({"searchText": "luna"})))
        generation += 1
    return requests[:total]


def make_simulator(catalog: Catalog) -> RecoBeatSimulator:
    unlimited = RateLimitConfig(rules=[RateLimitRule(10**9, 1.0)], penalty_box=None)
    config = SimulatorConfig(seed=catalog.seed, catalog=catalog.config, rate_limit=unlimited)
    return RecoBeatSimulator(config, clock=VirtualClock(), catalog=catalog)


async def via_httpx(sim: RecoBeatSimulator, requests: list[tuple[str, str]]) -> None:
    async def worker(w: int) -> None:
        transport = SimulatorTransport(sim, client_id=f"w{w}")
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
            for path, query in requests[w::WORKERS]:
                await http.get(f"{path}?{query}" if query else path)

    async with anyio.create_task_group() as tg:
        for w in range(WORKERS):
            tg.start_soon(worker, w)


async def bare_httpx(sim: RecoBeatSimulator, requests: list[tuple[str, str]]) -> None:
    """The floor: the same URLs through httpx to a constant in-process response."""
    constant = httpx.MockTransport(lambda request: httpx.Response(200, content=b'{"content":[]}'))

    async def worker(w: int) -> None:
        async with httpx.AsyncClient(transport=constant, base_url="http://sim") as http:
            for path, query in requests[w::WORKERS]:
                await http.get(f"{path}?{query}" if query else path)
                sim.log.append(None)  # type: ignore[arg-type]  # only counted

    async with anyio.create_task_group() as tg:
        for w in range(WORKERS):
            tg.start_soon(worker, w)


@functools.cache
def delays(total: int) -> list[tuple[float, float]]:
    """Per request, a network and a service delay from the default latency models."""
    config = SimulatorConfig()
    network, service = config.network, config.service.latency
    out = []
    for i in range(total):
        u = hashlib.blake2b(i.to_bytes(8, "big"), digest_size=16).digest()
        ua, ub = (int.from_bytes(u[k : k + 8], "big") / 2.0**64 for k in (0, 8))
        out.append((network.sample(ua, 1.0), service.sample(ub, 1.0)))
    return out


async def sleeping_httpx(sim: RecoBeatSimulator, requests: list[tuple[str, str]]) -> None:
    """The floor with the event loop: httpx to a constant response after two virtual sleeps
    per request, drawn like the simulator's."""
    waits = delays(len(requests))  # computed by main() before the timing

    class Constant(httpx.AsyncBaseTransport):
        def __init__(self, w: int) -> None:
            self.waits = iter(waits[w::WORKERS])

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            network, service = next(self.waits)
            await anyio.sleep(network)
            sim.log.append(None)  # type: ignore[arg-type]  # only counted
            await anyio.sleep(service)
            return httpx.Response(200, content=b'{"content":[]}')

    async def worker(w: int) -> None:
        async with httpx.AsyncClient(transport=Constant(w), base_url="http://sim") as http:
            for path, query in requests[w::WORKERS]:
                await http.get(f"{path}?{query}" if query else path)

    async with anyio.create_task_group() as tg:
        for w in range(WORKERS):
            tg.start_soon(worker, w)


async def direct(sim: RecoBeatSimulator, requests: list[tuple[str, str]]) -> None:
    async def worker(w: int) -> None:
        for path, query in requests[w::WORKERS]:
            await sim.exchange(Request("GET", path, query, peer=f"w{w}"))

    async with anyio.create_task_group() as tg:
        for w in range(WORKERS):
            tg.start_soon(worker, w)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("floors", "httpx", "direct"), default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    catalog = Catalog(seed=0)
    print(f"catalog (default config) built in {time.perf_counter() - started:.2f} s")
    requests = workload(catalog, args.requests)
    delays(len(requests))
    print("| path | backend | requests | best wall s | requests / wall s | virtual s |")
    print("| --- | --- | --- | --- | --- | --- |")
    paths = (
        ("floors", "bare httpx, constant response, no sleeps", bare_httpx),
        ("floors", "httpx, constant response after two sleeps", sleeping_httpx),
        ("httpx", "httpx transport", via_httpx),
        ("direct", "direct", direct),
    )
    for group, name, fn in paths:
        if args.only not in (None, group):
            continue
        for backend in BACKENDS:
            best, virtual = float("inf"), 0.0
            for _ in range(args.repeat):
                sim = make_simulator(catalog)  # fresh state; the catalog's caches stay warm

                async def run(sim: RecoBeatSimulator = sim, fn=fn) -> float:  # type: ignore[no-untyped-def]
                    await fn(sim, requests)
                    return anyio.current_time()

                t0 = time.perf_counter()
                virtual = run_virtual(run, backend=backend)
                best = min(best, time.perf_counter() - t0)
                assert len(sim.log) == len(requests)
            rate = len(requests) / best
            row = (name, backend, len(requests), f"{best:.2f}", f"{rate:,.0f}", f"{virtual:.0f}")
            print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
