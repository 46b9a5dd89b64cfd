"""A playlist's mood: the audio features it is made of, and how close a track is to it.

The MoodList backend ranks recommended tracks by their distance to the mood it was asked for;
the simulator's workload and the example backend both rank with :func:`rank_by_mood`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from recobeat.models import AudioFeatures, Track
from recobeat.targets import AudioTargets

__all__ = ["MOOD_FEATURES", "average_mood", "mood_distance", "mood_of", "rank_by_mood"]

#: The audio features a mood is made of (``AudioTargets`` fields, 0..1 each).
MOOD_FEATURES = ("energy", "valence", "danceability", "acousticness")


def mood_distance(features: AudioFeatures, targets: AudioTargets) -> float:
    """Euclidean distance over the mood features that have a target (0 with no target)."""
    return math.sqrt(
        sum(
            (getattr(features, name) - target) ** 2
            for name in MOOD_FEATURES
            if (target := getattr(targets, name)) is not None
        )
    )


def rank_by_mood(
    candidates: Iterable[Track], features: Mapping[str, AudioFeatures], targets: AudioTargets
) -> list[Track]:
    """The candidates whose features are known, closest to ``targets`` first (ties by ID, so
    the order never depends on the order they came in)."""
    return sorted(
        (t for t in candidates if t.id in features),
        key=lambda t: (mood_distance(features[t.id], targets), t.id),
    )


def average_mood(features: Sequence[AudioFeatures]) -> AudioTargets:
    """The mean of each mood feature, rounded to 3 places (no target without features)."""
    if not features:
        return AudioTargets()
    return AudioTargets(
        **{
            name: round(sum(getattr(f, name) for f in features) / len(features), 3)
            for name in MOOD_FEATURES
        }
    )


def mood_of(features: AudioFeatures) -> dict[str, float]:
    """A track's mood features by name."""
    return {name: getattr(features, name) for name in MOOD_FEATURES}
