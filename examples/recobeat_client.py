# examples/recobeat_client.py
import anyio
import httpx

from recobeat.client import RecoBeatClient
from recobeat.targets import AudioTargets

SPOTIFY_IDS = ["4uLU6hMCjMI75M1A2tKUQC", "7qiZfU4dY1lWllzX7mPBI3"]  # your users' seed tracks


async def main(spotify_ids: list[str], transport: httpx.AsyncBaseTransport | None = None) -> None:
    # transport=None: the real API; the tests pass simulator.SimulatorTransport(...)
    # the client owns an Engine and an HTTP/2 httpx client
    async with RecoBeatClient(transport=transport) as recobeat:
        # the ID registry first: validated IDs kept 60 d, unknown ones 14 d
        ids = await recobeat.convert_ids(spotify_ids)
        seeds = [i for i in ids.values() if i is not None]
        features = await recobeat.audio_features_many(seeds)  # 40 IDs a request
        tracks = await recobeat.recommend_from_seeds(  # chunks of 5, 3 at once, 0.2 s stagger
            seeds, 30, targets=AudioTargets(energy=0.7, valence=0.6)
        )
        print(len(features), "audio features,", len(tracks), "recommendations")
        print(recobeat.stats())  # also served by recobeat.stats_app at /api/cache/stats


if __name__ == "__main__":
    anyio.run(main, SPOTIFY_IDS)
