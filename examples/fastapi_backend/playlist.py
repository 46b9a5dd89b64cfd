"""One playlist generation, the RecoBeat part of the MoodList backend's, through the public
client API only (docs/workload.md, "One playlist generation"; the simulator's workload performs
the same steps, with an LLM's think times around them):

1. the seeds' audio features, by the IDs given (Spotify IDs batched 40 a request: the answer
   also converts them, so step 2 is answered by the client's ID registry);
2. Spotify seeds converted to ReccoBeats IDs (unknown ones reported, not fatal);
3. recommendations per chunk of 5 seeds, 3 chunks at once, staggered (``recommend_from_seeds``);
4. the candidates' audio features, to keep the ``size`` closest to the mood.

The mood is the targets given, or else the seeds' own average (energy, valence, danceability,
acousticness). Everything cacheable is cached by the client, so a second identical request
sends nothing upstream, and concurrent identical requests share each upstream call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from recobeat.client import RecoBeatClient
from recobeat.contract import MAX_RECOMMENDATIONS
from recobeat.ids import check_ids, is_spotify_id
from recobeat.models import AudioFeatures, Track
from recobeat.mood import average_mood, rank_by_mood
from recobeat.targets import AudioTargets

__all__ = ["NoKnownSeeds", "Playlist", "generate_playlist"]


class NoKnownSeeds(LookupError):
    """None of the seeds is a track RecoBeat knows: there is nothing to recommend from."""


@dataclass(frozen=True)
class Playlist:
    tracks: list[tuple[Track, AudioFeatures]]
    """The kept tracks, closest to the mood first, with their features."""
    targets: AudioTargets
    """The mood the tracks were ranked against."""
    seeds: list[str]
    """The ReccoBeats IDs recommended from."""
    unknown_seeds: list[str]
    """Seeds RecoBeat does not know (skipped)."""


async def generate_playlist(
    client: RecoBeatClient,
    seeds: Sequence[str],
    size: int,
    targets: AudioTargets | None = None,
) -> Playlist:
    """A playlist of up to ``size`` tracks recommended from ``seeds`` (Spotify or ReccoBeats
    IDs). Raises :class:`recobeat.ids.InvalidId` for a malformed ID before any request,
    :class:`NoKnownSeeds` when RecoBeat knows none of them, and the client's errors as they
    come (the app maps them to HTTP answers)."""
    seeds = check_ids(seeds, what="seed")
    seed_features = await client.audio_features_many(seeds)
    spotify = [s for s in seeds if is_spotify_id(s)]
    converted = await client.convert_ids(spotify) if spotify else {}
    unknown = [s for s in spotify if converted[s] is None]
    resolved = sorted({rid for s in seeds if (rid := converted.get(s, s)) is not None})
    if not resolved:
        raise NoKnownSeeds(f"RecoBeat knows none of the seeds: {', '.join(seeds[:5])}")
    mood = targets if targets is not None else average_mood(list(seed_features.values()))
    # Twice the size asked for per seed chunk, so that ranking by mood has a choice.
    candidates = await client.recommend_from_seeds(
        resolved, min(MAX_RECOMMENDATIONS, 2 * size), targets=mood
    )
    features = await client.audio_features_many([t.id for t in candidates])
    ranked = rank_by_mood(candidates, features, mood)
    kept = [(t, features[t.id]) for t in ranked[:size]]
    return Playlist(tracks=kept, targets=mood, seeds=resolved, unknown_seeds=unknown)
