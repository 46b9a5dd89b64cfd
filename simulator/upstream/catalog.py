"""A synthetic music catalog derived from a seed: millions of tracks, none stored.

Track ``i`` is the track of popularity rank ``i`` (0 is the most popular); everything about it
(identifiers, title, artist, audio features, popularity) is a pure function of (seed, i), so any
of ``CatalogConfig.tracks`` tracks is addressable without holding it in memory. Only the
``materialised`` most popular tracks are precomputed (their feature vectors back the
recommendation search and their artists the artist search). Popularity follows a Zipf law:
``popularity`` falls with the logarithm of the rank.
"""

from __future__ import annotations

import functools
import math
import random
from typing import Annotated

import msgspec

from engine.config import Config, ConfigError, PositiveInt
from recobeat.models import Artist, AudioFeatures, Track
from simulator.upstream.ids import EntityIds, IndexPermutation
from simulator.upstream.seeded import derive_key, mix64

__all__ = ["FEATURE_NAMES", "Catalog", "CatalogConfig"]

#: The float audio features in 0..1, in the order of :meth:`Catalog.feature_vector`.
FEATURE_NAMES = (
    "acousticness",
    "danceability",
    "energy",
    "instrumentalness",
    "liveness",
    "speechiness",
    "valence",
)

_SPOTIFY_TRACK = "https://open.spotify.com/track/"
_SPOTIFY_ARTIST = "https://open.spotify.com/artist/"
_MARKETS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "BR", "MX", "CA", "AU", "JP", "KR")
_WORDS_A = [
    "Midnight",
    "Golden",
    "Silver",
    "Electric",
    "Quiet",
    "Broken",
    "Neon",
    "Velvet",
    "Wild",
    "Paper",
    "Crystal",
    "Hollow",
    "Lunar",
    "Restless",
    "Distant",
    "Secret",
    "Northern",
    "Burning",
    "Gentle",
    "Faded",
    "Endless",
    "Little",
    "Blue",
    "Scarlet",
    "Summer",
    "Winter",
    "Autumn",
    "Morning",
    "Rainy",
    "Sunday",
    "Lonely",
    "Hidden",
    "Sweet",
    "Bitter",
    "Frozen",
    "Open",
    "Sleeping",
]
_WORDS_B = [
    "Echoes",
    "Rivers",
    "Lights",
    "Hearts",
    "Roads",
    "Dreams",
    "Waves",
    "Shadows",
    "Fires",
    "Skies",
    "Letters",
    "Gardens",
    "Streets",
    "Mirrors",
    "Horses",
    "Stars",
    "Tides",
    "Bridges",
    "Windows",
    "Oceans",
    "Signals",
    "Lanterns",
    "Birds",
    "Cities",
    "Storms",
    "Songs",
    "Voices",
    "Mountains",
    "Kites",
    "Flowers",
    "Clouds",
    "Engines",
    "Harbors",
    "Islands",
    "Machines",
]
_FIRST = [
    "Luna",
    "Milo",
    "Ava",
    "Theo",
    "Nora",
    "Felix",
    "Iris",
    "Jonah",
    "Cleo",
    "Otis",
    "Maya",
    "Ezra",
    "Ruby",
    "Leon",
    "Zara",
    "Hugo",
    "Ines",
    "Arlo",
    "Mira",
    "Silas",
    "Vera",
    "Remy",
    "Elsa",
    "Caspar",
    "Lila",
    "Noel",
    "Ada",
    "Bruno",
    "Nina",
    "Oscar",
]
_LAST = [
    "Park",
    "Rivera",
    "Stone",
    "Vale",
    "Moreau",
    "Lind",
    "Okafor",
    "Sato",
    "Becker",
    "Costa",
    "Hart",
    "Novak",
    "Reyes",
    "Falk",
    "Quinn",
    "Marsh",
    "Ito",
    "Sol",
    "Berg",
    "Frost",
    "Lane",
    "Adler",
    "Cruz",
    "Wolfe",
    "Haas",
    "Nakamura",
    "Reid",
    "Silva",
    "Kerr",
    "Bloom",
]


class CatalogConfig(Config):
    """How big the catalog is.

    ``tracks``: addressable tracks; ``materialised``: the most popular tracks precomputed for
    search; ``tracks_per_artist``: each artist's number of tracks (the last artist may have fewer).
    """

    tracks: Annotated[int, msgspec.Meta(ge=1, lt=1 << 40)] = 2_000_000
    materialised: PositiveInt = 5_000
    tracks_per_artist: PositiveInt = 10

    def validate(self) -> None:
        if not self.materialised <= self.tracks:
            raise ConfigError(
                f"CatalogConfig.materialised: {self.materialised} is more than tracks "
                f"({self.tracks}); it must be in 1..tracks"
            )


class _TrackTraits(msgspec.Struct, frozen=True):
    features: AudioFeatures
    title: str
    duration_ms: int
    isrc: str
    ean: str
    upc: str
    countries: str


class Catalog:
    """The catalog for ``seed``: entities by index, identifiers both ways, cached JSON encodings.

    Guarantees: the same (seed, config) gives the same catalog in every process; different seeds
    give unrelated identifiers and traits. Every accessor is a pure function of its argument.
    """

    def __init__(self, config: CatalogConfig | None = None, *, seed: int = 0) -> None:
        self.config = config or CatalogConfig()
        self.seed = seed
        cfg = self.config
        self.tracks = cfg.tracks
        self.artists = -(-cfg.tracks // cfg.tracks_per_artist)
        self._track_ids = EntityIds(seed, "track", self.tracks)
        self._artist_ids = EntityIds(seed, "artist", self.artists)
        self._placement = IndexPermutation(derive_key(seed, "track/placement"), self.tracks)
        self._traits_key = derive_key(seed, "track/traits")
        self._artist_key = derive_key(seed, "artist/traits")
        self._log_tracks = math.log(self.tracks + 1)
        encoder = msgspec.json.Encoder()
        cache = functools.lru_cache(maxsize=1 << 16)
        self._traits = cache(self._derive_traits)
        self.track = cache(self._derive_track)
        self.artist = cache(self._derive_artist)
        self.track_json = cache(lambda i: encoder.encode(self.track(i)))
        self.features_json = cache(lambda i: encoder.encode(self._traits(i).features))
        self.artist_json = cache(lambda a: encoder.encode(self.artist(a)))
        self._track_index = cache(self._track_ids.index_of)
        self._artist_index = cache(self._artist_ids.index_of)
        self.materialised = cfg.materialised
        self._vectors = [self._vector(i) for i in range(cfg.materialised)]
        self._searchable = self._searchable_artists()

    # identifiers -------------------------------------------------------------------------
    def track_uuid(self, index: int) -> str:
        return self._track_ids.uuid(index)

    def spotify_id(self, rank: int) -> str:
        """The Spotify ID of the track of popularity rank ``rank`` (0 = most popular)."""
        return self._track_ids.spotify_id(rank)

    def unknown_spotify_id(self, n: int) -> str:
        """The ``n``-th well-formed Spotify track ID that the service does not know."""
        return self._track_ids.foreign_spotify_id(n)

    def track_index(self, identifier: str) -> int | None:
        """The index of the track with this ReccoBeats or Spotify ID, or None if unknown."""
        return self._track_index(identifier)

    def artist_uuid(self, artist: int) -> str:
        return self._artist_ids.uuid(artist)

    def artist_spotify_id(self, artist: int) -> str:
        return self._artist_ids.spotify_id(artist)

    def artist_index(self, identifier: str) -> int | None:
        """The index of the artist with this ReccoBeats or Spotify ID, or None if unknown."""
        return self._artist_index(identifier)

    # relations ---------------------------------------------------------------------------
    def artist_of(self, index: int) -> int:
        return self._placement.forward(index) // self.config.tracks_per_artist

    def artist_tracks(self, artist: int) -> list[int]:
        """The artist's track indices, most popular first."""
        per = self.config.tracks_per_artist
        start = artist * per
        stop = min(start + per, self.tracks)
        return sorted(self._placement.inverse(p) for p in range(start, stop))

    def popularity(self, index: int) -> int:
        """0..100, Zipf-like: 100 for rank 0, falling with log(rank), jittered by ±3."""
        base = 100.0 * (1.0 - math.log(index + 1) / self._log_tracks)
        jitter = (mix64(self._traits_key ^ ~index) % 7) - 3
        return max(0, min(100, round(base) + jitter))

    # entities ----------------------------------------------------------------------------
    def audio_features(self, index: int) -> AudioFeatures:
        return self._traits(index).features

    def feature_vector(self, index: int) -> tuple[float, ...]:
        """Seven 0..1 features (:data:`FEATURE_NAMES`), loudness and tempo scaled to 0..1
        (loudness over -60..2 dB, tempo over 0..250 BPM), popularity / 100, key, mode."""
        if index < self.materialised:
            return self._vectors[index]
        return self._vector(index)

    def search_artists(self, text: str) -> list[int]:
        """Artists whose name contains ``text`` (case-insensitive), among the artists of the
        materialised tracks: exact matches first, then prefixes, then the rest, each by their
        best track's rank."""
        needle = text.strip().lower()
        exact: list[int] = []
        prefix: list[int] = []
        inner: list[int] = []
        for artist, name in self._searchable:
            if needle in name:
                if name == needle:
                    exact.append(artist)
                elif name.startswith(needle):
                    prefix.append(artist)
                else:
                    inner.append(artist)
        return exact + prefix + inner

    # derivations -------------------------------------------------------------------------
    def _vector(self, index: int) -> tuple[float, ...]:
        f = self._traits(index).features
        return (
            f.acousticness,
            f.danceability,
            f.energy,
            f.instrumentalness,
            f.liveness,
            f.speechiness,
            f.valence,
            (f.loudness + 60.0) / 62.0,
            f.tempo / 250.0,
            self.popularity(index) / 100.0,
            float(f.key),
            float(f.mode),
        )

    def _searchable_artists(self) -> list[tuple[int, str]]:
        seen: dict[int, str] = {}
        for index in range(self.materialised):
            artist = self.artist_of(index)
            if artist not in seen:
                seen[artist] = self._artist_name(artist).lower()
        return list(seen.items())

    def _artist_name(self, artist: int) -> str:
        h = mix64(self._artist_key ^ artist)
        if h % 4 == 0:
            return f"The {_WORDS_A[(h >> 8) % len(_WORDS_A)]} {_WORDS_B[(h >> 16) % len(_WORDS_B)]}"
        return f"{_FIRST[(h >> 8) % len(_FIRST)]} {_LAST[(h >> 16) % len(_LAST)]}"

    def _derive_artist(self, artist: int) -> Artist:
        spotify = self._artist_ids.spotify_id(artist)
        return Artist(
            id=self._artist_ids.uuid(artist),
            name=self._artist_name(artist),
            href=_SPOTIFY_ARTIST + spotify,
        )

    def _derive_track(self, index: int) -> Track:
        traits = self._traits(index)
        return Track(
            id=self._track_ids.uuid(index),
            track_title=traits.title,
            artists=(self.artist(self.artist_of(index)),),
            duration_ms=traits.duration_ms,
            isrc=traits.isrc,
            ean=traits.ean,
            upc=traits.upc,
            href=traits.features.href,
            available_countries=traits.countries,
            popularity=self.popularity(index),
        )

    def _derive_traits(self, index: int) -> _TrackTraits:
        rng = random.Random(mix64(self._traits_key ^ index))
        energy = rng.betavariate(2.4, 1.7)
        acoustic = _clip(rng.betavariate(0.7, 1.6) * (1.25 - energy))
        instrumental = rng.betavariate(0.3, 9.0) if rng.random() < 0.78 else rng.betavariate(2, 1.4)
        loudness = max(-60.0, min(2.0, -21.0 + 17.0 * energy + rng.gauss(0.0, 2.5)))
        tempo = max(40.0, min(220.0, rng.gauss(120.0, 28.0)))
        features = AudioFeatures(
            id=self._track_ids.uuid(index),
            href=_SPOTIFY_TRACK + self._track_ids.spotify_id(index),
            acousticness=round(acoustic, 4),
            danceability=round(rng.betavariate(4.0, 2.6), 4),
            energy=round(energy, 4),
            instrumentalness=round(instrumental, 4),
            liveness=round(_clip(0.03 + rng.betavariate(1.4, 7.0)), 4),
            speechiness=round(_clip(0.022 + rng.betavariate(1.1, 16.0)), 4),
            valence=round(rng.betavariate(1.9, 1.9), 4),
            key=-1 if rng.random() < 0.01 else rng.randrange(12),
            loudness=round(loudness, 3),
            mode=1 if rng.random() < 0.62 else 0,
            tempo=round(tempo, 3),
        )
        title = f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"
        duration = int(max(60_000, min(600_000, rng.lognormvariate(math.log(205_000), 0.25))))
        has_codes = rng.random() < 0.3
        markets = [m for m in _MARKETS if rng.random() < 0.93]
        return _TrackTraits(
            features=features,
            title=title,
            duration_ms=duration,
            isrc=f"{rng.choice(_MARKETS)}{rng.randrange(36**3):05d}"[:7] + f"{index % 100000:05d}",
            ean=f"{rng.randrange(10**13):013d}" if has_codes else "",
            upc=f"{rng.randrange(10**12):012d}" if has_codes else "",
            countries=",".join(markets),
        )


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))
