"""The value types the RecoBeat client caches, for shared (Redis) stores that decode by type."""

from __future__ import annotations

from engine.shared import TypeRegistry
from recobeat.models import Artist, AudioFeatures, Content, Page, Track

__all__ = ["recobeat_types"]


def recobeat_types() -> TypeRegistry:
    """A registry of every value type :class:`~recobeat.client.RecoBeatClient` stores: tracks
    and audio features per ID, artists, recommendation pages and paged listings. ReccoBeats
    IDs in the registry namespace are plain strings and need no registration."""
    return TypeRegistry(
        {
            "track": Track,
            "artist": Artist,
            "audio_features": AudioFeatures,
            "tracks": Content[Track],
            "artist_page": Page[Artist],
            "track_page": Page[Track],
        }
    )
