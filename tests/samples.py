"""Sample wire models for tests that need a valid one and do not care which."""

from __future__ import annotations

from recobeat.models import Artist, AudioFeatures, Track

ARTIST = Artist(id="a1", name="Nina", href="https://open.spotify.com/artist/a1")
TRACK = Track(
    id="t1",
    track_title="Song",
    artists=(ARTIST,),
    duration_ms=1000,
    isrc="I",
    ean="E",
    upc="U",
    href="https://open.spotify.com/track/sp1",
    available_countries="FR",
    popularity=50,
)
FEATURES = AudioFeatures(
    id="t1",
    href="h",
    acousticness=0.1,
    danceability=0.2,
    energy=0.3,
    instrumentalness=0.4,
    liveness=0.5,
    speechiness=0.6,
    valence=0.7,
    key=5,
    loudness=-6.0,
    mode=1,
    tempo=120.0,
)
