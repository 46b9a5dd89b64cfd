"""Run by test_redis_processes: take grants from the shared limiter and print their times.

Arguments: the Redis URL, the number of grants, and the event loop: ``asyncio`` or ``trio``
(through coredis), or ``redis-py`` (asyncio, through redis-py). Once imported and connected, it
prints ``ready`` and reads when to start (epoch seconds) from stdin: the workers start together
however long each took to start up.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from engine.clock import SystemClock
from engine.limits import RateLimitConfig, WindowRule
from engine.redis import (
    CoredisBackend,
    RedisConfig,
    RedisPyBackend,
    RedisRateLimiter,
    SharedTierConfig,
)
from engine.shared import SharedBackend

RULES = RateLimitConfig(rules=(WindowRule(limit=5, window=0.3),), min_interval=0.02)


@asynccontextmanager
async def connect(config: RedisConfig, adapter: str) -> AsyncIterator[SharedBackend]:
    if adapter == "redis-py":
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(config.resolved_url())
        try:
            async with RedisPyBackend(client, config) as backend:
                yield backend
        finally:
            await client.aclose()
    else:
        async with CoredisBackend(config) as backend:
            yield backend


async def main(url: str, grants: int, adapter: str) -> None:
    log: list[float] = []
    config = RedisConfig(url=url, shared=SharedTierConfig(prefix="procs"))
    async with connect(config, adapter) as backend:
        limiter = RedisRateLimiter(
            backend,
            RULES,
            clock=SystemClock(),
            name="p",
            settings=config.shared,
            on_grant=log.append,
        )
        await backend.get_many(["procs:ready"])  # connected
        print("ready", flush=True)
        start_at = float(await anyio.to_thread.run_sync(sys.stdin.readline))
        await anyio.sleep(max(0.0, start_at - SystemClock().wall()))
        for _ in range(grants):
            await limiter.acquire()
    print(json.dumps(log))


if __name__ == "__main__":
    loop = sys.argv[3]
    anyio.run(
        main, sys.argv[1], int(sys.argv[2]), loop, backend="asyncio" if loop == "redis-py" else loop
    )
