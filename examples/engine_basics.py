# examples/engine_basics.py
import anyio

from engine import MISSING, Engine, EngineConfig, load_config

CONFIG = load_config(
    """
    [rate]                  # at most 80 requests in any 60 s, 0.75 s apart
    rules = [{ limit = 80, window = 60 }]
    min_interval = 0.75
    [concurrency]
    limit = 6               # requests in flight at once
    [cache.ttl.albums]      # any namespace, declared with its TTLs in seconds
    ttl = 3600
    missing_ttl = 600       # "the upstream does not know this key" is remembered 10 min
    [cache.default_ttl]     # optional: every namespace not declared above
    ttl = 300
    """,
    EngineConfig,
)
ALBUMS = {"4aawyAB9vmqN3uQ7FjRGTy": {"name": "Global Warming"}}  # a stand-in for the upstream


def fetch_album(album_id: str):  # a fetch: an async function of no arguments
    async def fetch() -> object:
        # the upstream call: an httpx request; raise engine.Retryable / RateLimited on 5xx / 429
        return ALBUMS.get(album_id, MISSING)  # MISSING: the upstream does not know the key

    return fetch


async def main() -> None:
    async with Engine(CONFIG) as engine:
        for album_id in [
            "4aawyAB9vmqN3uQ7FjRGTy",
            "0000000000000000000000",
            "4aawyAB9vmqN3uQ7FjRGTy",
        ]:
            album = await engine.cached("albums", album_id, fetch_album(album_id))
            print(album_id, album)  # the third lookup is a cache hit; the second is cached MISSING
        print(engine.stats())


if __name__ == "__main__":
    anyio.run(main)  # or anyio.run(main, backend="trio")
