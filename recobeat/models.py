"""The RecoBeat API's shapes, field for field as its documentation gives them (camelCase keys;
see docs/recobeat-api.md).

Decoding validates ranges too (a popularity of 300 or an energy of 1.5 is a malformed
response), so nothing invalid reaches a cache.

The models are frozen and hold only text, numbers and other models, so none can be part of a
reference cycle: they are not tracked by the garbage collector (``gc=False``). A cache holds
tens of thousands of decoded tracks, and every full collection used to walk all of them (an
eighth of a saturated replay's time went to collections).
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec

__all__ = ["Artist", "AudioFeatures", "Content", "Page", "Track", "spotify_id_of"]

T = TypeVar("T")

Unit = Annotated[float, msgspec.Meta(ge=0, le=1)]


def spotify_id_of(href: str) -> str:
    """The Spotify ID at the end of a Spotify URL (``https://open.spotify.com/track/<id>``)."""
    return href.rstrip("/").rsplit("/", 1)[-1]


class Artist(msgspec.Struct, frozen=True, rename="camel", gc=False):
    id: str
    name: str
    href: str
    """The artist's Spotify URL."""

    @property
    def spotify_id(self) -> str:
        return spotify_id_of(self.href)


class Track(msgspec.Struct, frozen=True, rename="camel", gc=False):
    id: str
    """The ReccoBeats ID (a UUID)."""
    track_title: str
    artists: tuple[Artist, ...]
    duration_ms: Annotated[int, msgspec.Meta(ge=0)]
    isrc: str
    ean: str
    upc: str
    href: str
    """The track's Spotify URL: how a Spotify ID maps to a ReccoBeats ID."""
    available_countries: str
    popularity: Annotated[int, msgspec.Meta(ge=0, le=100)]

    @property
    def spotify_id(self) -> str:
        return spotify_id_of(self.href)


class AudioFeatures(msgspec.Struct, frozen=True, rename="camel", gc=False):
    id: str
    href: str
    acousticness: Unit
    danceability: Unit
    energy: Unit
    instrumentalness: Unit
    liveness: Unit
    speechiness: Unit
    valence: Unit
    key: Annotated[int, msgspec.Meta(ge=-1, le=11)]
    loudness: float
    mode: Annotated[int, msgspec.Meta(ge=0, le=1)]
    tempo: Annotated[float, msgspec.Meta(ge=0)]

    @property
    def spotify_id(self) -> str:
        """The track's Spotify ID, from ``href`` (how a row of ``/v1/audio-features`` maps
        back to the Spotify ID asked for)."""
        return spotify_id_of(self.href)


class Content(msgspec.Struct, Generic[T], frozen=True, gc=False):
    """``{"content": [...]}``: the list endpoints' envelope."""

    content: tuple[T, ...]


class Page(msgspec.Struct, Generic[T], frozen=True, rename="camel", gc=False):
    """A page of a paged endpoint (artist search, an artist's tracks)."""

    content: tuple[T, ...]
    page: int
    size: int
    total_elements: int
    total_pages: int
