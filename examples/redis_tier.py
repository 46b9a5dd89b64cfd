# examples/redis_tier.py
import anyio
import httpx

from engine import Engine, MemoryStore, SystemClock
from engine.redis import CoredisBackend, RedisConfig
from engine.shared import (
    DistributedFlight,
    RedisRateLimiter,
    RedisStore,
    SharedBackend,
    TieredStore,
)
from recobeat.cache_types import recobeat_types
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig

SPOTIFY_IDS = ["4uLU6hMCjMI75M1A2tKUQC", "7qiZfU4dY1lWllzX7mPBI3"]


async def run(
    redis: SharedBackend, spotify_ids: list[str], transport: httpx.AsyncBaseTransport | None = None
) -> None:
    config, clock = ClientConfig(), SystemClock()
    shared = RedisStore(redis, clock=clock, registry=recobeat_types())
    store = TieredStore(MemoryStore(clock=clock), shared, clock=clock)
    async with (
        Engine(
            config.engine,
            clock=clock,
            store=store,  # memory in front of Redis
            rate_limiter=RedisRateLimiter(redis, config.engine.rate, clock=clock),  # one budget
            flights=DistributedFlight(redis, store, clock=clock),  # one fetch per key
        ) as engine,
        RecoBeatClient(config, engine=engine, transport=transport) as recobeat,
    ):
        print(await recobeat.convert_ids(spotify_ids))


async def main() -> None:
    async with CoredisBackend(RedisConfig()) as redis:  # REDIS_URL, or RedisConfig(url=...)
        await run(redis, SPOTIFY_IDS)


if __name__ == "__main__":
    anyio.run(main)
