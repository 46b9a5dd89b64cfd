# examples/redis_py_tier.py
import asyncio

import httpx
import redis.asyncio
from redis_tier import SPOTIFY_IDS, run  # examples/redis_tier.py, above: the same wiring

from engine.redis import RedisConfig, RedisPyBackend


async def main(spotify_ids: list[str], transport: httpx.AsyncBaseTransport | None = None) -> None:
    # The application's own pool (decode_responses must stay False: values are binary).
    pool = redis.asyncio.Redis.from_url(RedisConfig().resolved_url())
    try:
        async with RedisPyBackend(pool) as shared:  # borrowed: the adapter never closes it
            await run(shared, spotify_ids, transport)
    finally:
        await pool.aclose()  # the application closes its pool


if __name__ == "__main__":
    asyncio.run(main(SPOTIFY_IDS))  # asyncio only: on trio, CoredisBackend
