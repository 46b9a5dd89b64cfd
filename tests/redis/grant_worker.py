"""Run by test_redis_processes: take grants from the shared limiter and print their times."""

from __future__ import annotations

import json
import sys

import anyio

from engine.clock import SystemClock
from engine.limits import RateLimitConfig, WindowRule
from engine.redis import CoredisBackend, RedisConfig, RedisRateLimiter, SharedTierConfig

RULES = RateLimitConfig(rules=(WindowRule(limit=5, window=0.3),), min_interval=0.02)


async def main(url: str, grants: int, start_at: float) -> None:
    log: list[float] = []
    config = RedisConfig(url=url, shared=SharedTierConfig(prefix="procs"))
    async with CoredisBackend(config) as backend:
        limiter = RedisRateLimiter(
            backend,
            RULES,
            clock=SystemClock(),
            name="p",
            settings=config.shared,
            on_grant=log.append,
        )
        await anyio.sleep(max(0.0, start_at - SystemClock().wall()))
        for _ in range(grants):
            await limiter.acquire()
    print(json.dumps(log))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), backend=sys.argv[4])
