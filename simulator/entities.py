"""The API's response shapes, field for field as the reference documents them (camelCase keys)."""

from __future__ import annotations

import msgspec

__all__ = ["Artist", "AudioFeatures", "Track"]


class Artist(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    name: str
    href: str


class Track(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    track_title: str
    artists: tuple[Artist, ...]
    duration_ms: int
    isrc: str
    ean: str
    upc: str
    href: str
    available_countries: str
    popularity: int


class AudioFeatures(msgspec.Struct, frozen=True, rename="camel"):
    id: str
    href: str
    acousticness: float
    danceability: float
    energy: float
    instrumentalness: float
    liveness: float
    speechiness: float
    valence: float
    key: int
    loudness: float
    mode: int
    tempo: float
