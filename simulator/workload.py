"""The RecoBeat part of one playlist generation, as the MoodList backend performs it.

A :class:`PlaylistPlan` holds every choice of one generation, drawn up front (think times,
seeds, mood targets, whether it refines), so running many generations concurrently never draws
from a shared random generator and a replay repeats itself. :func:`generate_playlist` performs
the plan against a :class:`~recobeat.client.RecoBeatClient` (docs/workload.md, "One playlist
generation", describes each step and its parameters):

1. mood analysis: an LLM thinks for ``mood_think`` seconds;
2. the seeds' audio features are fetched by their Spotify IDs (batched, this also fills the ID
   registry; per ID, the seeds are converted first);
3. the user's seeds (Spotify IDs) are converted through the ID registry;
4. recommendations per seed chunk (5 seeds, 3 chunks at once, staggered 0.2 s);
5. the candidates' audio features (10 at once), to keep those closest to the mood;
6. artist enrichment: the kept tracks' artists, and a few artist searches;
7. sometimes a refinement: more thinking, then steps 4 to 6 again with adjusted targets.
"""

from __future__ import annotations

import anyio
import msgspec

from recobeat.client import RecoBeatClient
from recobeat.models import Track
from recobeat.mood import rank_by_mood
from recobeat.targets import AudioTargets

__all__ = ["PlaylistOutcome", "PlaylistPlan", "generate_playlist"]


class PlaylistPlan(msgspec.Struct, frozen=True):
    id: str
    seeds: tuple[str, ...]
    """The user's Spotify track IDs (top tracks and anchors)."""
    targets: AudioTargets
    mood_think: float = 4.0
    recommendation_size: int = 30
    candidates: int = 100
    """Candidates whose audio features are checked against the mood."""
    playlist_size: int = 25
    artist_searches: tuple[str, ...] = ()
    refine: AudioTargets | None = None
    """Adjusted targets of a refinement round, or ``None`` when the first round suffices."""
    refine_think: float = 2.0


class PlaylistOutcome(msgspec.Struct, frozen=True):
    id: str
    started: float
    finished: float
    """When the last RecoBeat answer the generation needed arrived (or it failed)."""
    tracks: tuple[str, ...]
    error: str | None = None

    @property
    def latency(self) -> float:
        return self.finished - self.started


async def generate_playlist(client: RecoBeatClient, plan: PlaylistPlan) -> PlaylistOutcome:
    """Perform ``plan``; upstream errors end the generation and are reported, not raised."""
    clock = client.engine.clock
    started = clock.monotonic()
    try:
        tracks = await _generate(client, plan)
    except Exception as exc:
        return PlaylistOutcome(plan.id, started, clock.monotonic(), (), f"{type(exc).__name__}")
    return PlaylistOutcome(plan.id, started, clock.monotonic(), tuple(t.id for t in tracks))


async def _generate(client: RecoBeatClient, plan: PlaylistPlan) -> list[Track]:
    await anyio.sleep(plan.mood_think)
    # The seeds' features by Spotify ID first: with batched audio features the answer also
    # converts them (each row's href names its Spotify ID; unknown ones are omitted), so the
    # conversion below is answered by the ID registry. Per-ID features convert first instead.
    await client.audio_features_many(plan.seeds)
    converted = await client.convert_ids(plan.seeds)
    seeds = sorted({rid for rid in converted.values() if rid is not None})
    if not seeds:
        return []
    playlist = await _round(client, plan, seeds, plan.targets)
    if plan.refine is not None:
        await anyio.sleep(plan.refine_think)
        playlist = await _round(client, plan, seeds, plan.refine)
    return playlist


async def _round(
    client: RecoBeatClient, plan: PlaylistPlan, seeds: list[str], targets: AudioTargets
) -> list[Track]:
    candidates = list(
        await client.recommend_from_seeds(seeds, plan.recommendation_size, targets=targets)
    )[: plan.candidates]
    features = await client.audio_features_many([t.id for t in candidates])
    kept = rank_by_mood(candidates, features, targets)[: plan.playlist_size]
    artist_ids = sorted({a.id for t in kept for a in t.artists})
    async with anyio.create_task_group() as tg:
        if artist_ids:
            tg.start_soon(client.artists, artist_ids)
        for name in plan.artist_searches:
            tg.start_soon(_search, client, name)
    return kept


async def _search(client: RecoBeatClient, name: str) -> None:
    await client.search_artists(name, size=5)
