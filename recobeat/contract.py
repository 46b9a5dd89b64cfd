"""The RecoBeat API contract: paths, per-request limits and header names, in one place.

The client builds its requests from these, and the simulated upstream validates against the same
values, so the two cannot drift apart. The facts and their sources are in ``docs/recobeat-api.md``;
ID formats are in :mod:`recobeat.ids`.
"""

from __future__ import annotations

__all__ = [
    "ARTISTS",
    "ARTIST_SEARCH",
    "ARTIST_TRACKS",
    "AUDIO_FEATURES",
    "CLIENT_ID_HEADER",
    "ENDPOINTS",
    "MAX_IDS_PER_REQUEST",
    "MAX_SEEDS",
    "RECOMMENDATION",
    "TRACKS",
    "TRACK_AUDIO_FEATURES",
]

#: ``GET``: recommendations for 1..:data:`MAX_SEEDS` seed tracks.
RECOMMENDATION = "/v1/track/recommendation"
#: ``GET ?ids=``: tracks by ReccoBeats or Spotify ID, at most :data:`MAX_IDS_PER_REQUEST`.
TRACKS = "/v1/track"
#: ``GET``: the audio features of one track.
TRACK_AUDIO_FEATURES = "/v1/track/{id}/audio-features"
#: ``GET ?ids=``: audio features of several tracks, at most :data:`MAX_IDS_PER_REQUEST`.
AUDIO_FEATURES = "/v1/audio-features"
#: ``GET ?searchText=``: artists whose name matches, paged.
ARTIST_SEARCH = "/v1/artist/search"
#: ``GET ?ids=``: artists by ID, at most :data:`MAX_IDS_PER_REQUEST`.
ARTISTS = "/v1/artist"
#: ``GET``: an artist's tracks, paged.
ARTIST_TRACKS = "/v1/artist/{id}/track"
#: Every path template of the API that the project uses.
ENDPOINTS = (
    RECOMMENDATION,
    TRACKS,
    TRACK_AUDIO_FEATURES,
    AUDIO_FEATURES,
    ARTIST_SEARCH,
    ARTISTS,
    ARTIST_TRACKS,
)

#: The documented maximum of ``ids`` in one request (tracks, artists, audio features).
MAX_IDS_PER_REQUEST = 40
#: The documented maximum of ``seeds`` (and of ``negativeSeeds``) in one recommendation request.
MAX_SEEDS = 5

#: Names the calling client. The live API ignores it; the simulator keeps a rate budget per
#: client by it (else per peer address), which is how replays model several instances.
CLIENT_ID_HEADER = "x-client-id"
