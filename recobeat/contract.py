"""The RecoBeat API contract: paths, per-request limits and header names, in one place.

The client builds its requests from these, and the simulated upstream validates against the same
values, so the two cannot drift apart. The facts and their sources are in ``docs/recobeat-api.md``;
ID formats are in :mod:`recobeat.ids`.
"""

from __future__ import annotations

__all__ = [
    "ALBUMS",
    "ALBUM_TRACKS",
    "ARTISTS",
    "ARTIST_ALBUMS",
    "ARTIST_SEARCH",
    "ARTIST_TRACKS",
    "AUDIO_FEATURES",
    "CLIENT_ID_HEADER",
    "DEFAULT_PAGE_SIZE",
    "ENDPOINTS",
    "FEATURE_WEIGHT_RANGE",
    "MAX_IDS_PER_REQUEST",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "MAX_RECOMMENDATIONS",
    "MAX_SEARCH_TEXT",
    "MAX_SEEDS",
    "RECOMMENDATION",
    "TARGET_RANGES",
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
#: ``GET ?ids=``: albums by ID, at most :data:`MAX_IDS_PER_REQUEST`. The client does not call it.
ALBUMS = "/v1/album"
#: ``GET``: an album's tracks, paged. The client does not call it.
ALBUM_TRACKS = "/v1/album/{id}/track"
#: ``GET``: an artist's albums, paged. The client does not call it.
ARTIST_ALBUMS = "/v1/artist/{id}/album"
#: Every path template of the API that the project calls or simulates.
ENDPOINTS = (
    RECOMMENDATION,
    TRACKS,
    TRACK_AUDIO_FEATURES,
    AUDIO_FEATURES,
    ARTIST_SEARCH,
    ARTISTS,
    ARTIST_TRACKS,
    ALBUMS,
    ALBUM_TRACKS,
    ARTIST_ALBUMS,
)

#: The documented maximum of ``ids`` in one request (tracks, artists, audio features).
MAX_IDS_PER_REQUEST = 40
#: The documented maximum of ``seeds`` (and of ``negativeSeeds``) in one recommendation request.
MAX_SEEDS = 5
#: A recommendation request's ``size``: 1..MAX_RECOMMENDATIONS.
MAX_RECOMMENDATIONS = 100
#: The recommendation targets' documented ranges: (name, lowest, highest, integer-valued).
TARGET_RANGES: tuple[tuple[str, float, float, bool], ...] = (
    ("acousticness", 0.0, 1.0, False),
    ("danceability", 0.0, 1.0, False),
    ("energy", 0.0, 1.0, False),
    ("instrumentalness", 0.0, 1.0, False),
    ("liveness", 0.0, 1.0, False),
    ("speechiness", 0.0, 1.0, False),
    ("valence", 0.0, 1.0, False),
    ("key", -1, 11, True),
    ("loudness", -60.0, 2.0, False),
    ("mode", 0, 1, True),
    ("tempo", 0.0, 250.0, False),
    ("popularity", 0, 100, True),
)
#: A recommendation request's ``featureWeight`` (default 1): lowest, highest.
FEATURE_WEIGHT_RANGE = (1.0, 5.0)
#: Paged endpoints (an artist search, an artist's tracks or albums, an album's tracks): ``page``
#: 0..MAX_PAGE (default 0), ``size`` 1..MAX_PAGE_SIZE (default DEFAULT_PAGE_SIZE).
MAX_PAGE = 1000
MAX_PAGE_SIZE = 50
DEFAULT_PAGE_SIZE = 25
#: The longest ``searchText`` of an artist search, in characters.
MAX_SEARCH_TEXT = 1000

#: Names the calling client. The live API ignores it; the simulator keeps a rate budget per
#: client by it (else per peer address), which is how replays model several instances.
CLIENT_ID_HEADER = "x-client-id"
