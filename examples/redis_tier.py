# examples/redis_tier.py
import anyio
import httpx

from engine.redis import CoredisBackend, RedisConfig
from engine.shared import SharedBackend
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig

SPOTIFY_IDS = ["4uLU6hMCjMI75M1A2tKUQC", "7qiZfU4dY1lWllzX7mPBI3"]


async def run(
    redis: SharedBackend, spotify_ids: list[str], transport: httpx.AsyncBaseTransport | None = None
) -> None:
    # One cache (this instance's LRU in front of Redis), one rate budget and one fetch per key
    # for every instance of the service that passes the same Redis.
    async with RecoBeatClient(ClientConfig(), shared=redis, transport=transport) as recobeat:
        print(await recobeat.convert_ids(spotify_ids))


async def main() -> None:
    async with CoredisBackend(RedisConfig()) as redis:  # REDIS_URL, or RedisConfig(url=...)
        await run(redis, SPOTIFY_IDS)


if __name__ == "__main__":
    anyio.run(main)
