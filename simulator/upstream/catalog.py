"""A synthetic music catalog derived from a seed: millions of tracks, none stored.

Track ``i`` is the track of popularity rank ``i`` (0 is the most popular); everything about it
(identifiers, title, artist, audio features, popularity) is a pure function of (seed, i), so any
of ``CatalogConfig.tracks`` tracks is addressable without holding it in memory. Only the
``materialised`` most popular tracks are precomputed (their feature vectors back the
recommendation search and their artists the artist search). Popularity follows a Zipf law:
``popularity`` falls with the logarithm of the rank.

The catalog's IDs are a subset of the open space: every well-formed Spotify ID (22 base-62
digits of a value ``v`` below 2**128, as real ones are) names a track, and likewise an artist,
that the service knows with probability ``1 - CatalogConfig.unknown_share``, decided by a keyed
hash (so the same ID is known, or not, in every process with the same seed). Open-space entities
have indices beyond the catalog's: track ``tracks + v`` and artist ``artists + v``, and the same
accessors. An open-space track is another release of a catalog recording (a keyed hash of ``v``
picks it: its title, duration, ISRC, popularity and audio features) by an open-space artist with
that one track: a keyed 128-bit permutation pairs each open artist with its track, so a track is
known exactly when its artist is. Its UUID is a keyed 128-bit permutation of ``v``. Decoding an ID
tries the catalog's tagged scheme first, then the open space. Recommendations are drawn from the
catalog only (an open-space seed counts with its recording's features). Artist search answers
the catalog's artists whose names contain the text, then 1..8 artists derived from the text,
whose IDs carry the text (:class:`~simulator.upstream.ids.TextIds`) and so resolve by ID later.
"""

from __future__ import annotations

import functools
import math
import random
from typing import Annotated

import msgspec

from engine.config import Config, ConfigError, PositiveInt
from recobeat.models import Artist, AudioFeatures, Track
from simulator.upstream.ids import (
    OPEN_SPACE,
    EntityIds,
    Feistel,
    IndexPermutation,
    OpenIds,
    TextIds,
    hash128,
    normalise_text,
    spotify_text,
)
from simulator.upstream.latency import Share
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
    search; ``tracks_per_artist``: each artist's number of tracks (the last artist may have fewer);
    ``unknown_share``: the share of well-formed Spotify IDs outside the catalog that the service
    does not know (0.15, as observed on the live API).
    """

    tracks: Annotated[int, msgspec.Meta(ge=1, lt=1 << 40)] = 2_000_000
    materialised: PositiveInt = 5_000
    tracks_per_artist: PositiveInt = 10
    unknown_share: Share = 0.15

    def validate(self) -> None:
        if not self.materialised <= self.tracks:
            raise ConfigError(
                f"CatalogConfig.materialised: {self.materialised} is more than tracks "
                f"({self.tracks}); it must be in 1..tracks"
            )


class _TrackTraits(msgspec.Struct, frozen=True, gc=False):
    # Memoised by the thousand and cycle-free (frozen, text and numbers): untracked by the
    # garbage collector, as the wire models are.
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
        self._track_index = cache(self._resolve_track)
        # Workloads draw the same popular tracks again and again (Zipf): their IDs are worth
        # keeping too (a Feistel network and base-62 digits each time otherwise).
        self.track_uuid = cache(self._track_uuid)
        self.spotify_id = cache(self._spotify_id)
        self._artist_index = cache(self._resolve_artist)
        # The open space (see the module's docstring).
        self._open_tracks = OpenIds(seed, "track")
        self._open_artists = OpenIds(seed, "artist")
        self._texts = TextIds(seed, "artist")
        self._artist_track = Feistel(derive_key(seed, "open/artist-track"), 128)
        self._known_key = derive_key(seed, "open/known")
        self._unknown_below = round(cfg.unknown_share * 2.0**64)
        self._recording_key = derive_key(seed, "open/recording")
        self._unknown_ids = Feistel(derive_key(seed, "open/unknown"), 128)
        self._search_key = derive_key(seed, "artist/search")
        self.unknown_spotify_id = cache(self._unknown_spotify_id)
        self.materialised = cfg.materialised
        self._vectors = [self._vector(i) for i in range(cfg.materialised)]
        # Seeds come back beyond the materialised tracks too (a replay draws them from a pool of
        # popular tracks), and a vector costs its traits, a popularity and a tuple each time.
        self._more_vectors = cache(self._vector)
        self._searchable = self._searchable_artists()

    # identifiers -------------------------------------------------------------------------
    def _track_uuid(self, index: int) -> str:
        """The ReccoBeats ID of track ``index`` (memoised as ``track_uuid``)."""
        if index < self.tracks:
            return self._track_ids.uuid(index)
        return self._open_tracks.uuid(index - self.tracks)

    def _spotify_id(self, rank: int) -> str:
        """The Spotify ID of the track of popularity rank ``rank`` (0 = most popular), or of
        the open-space track ``rank`` (``tracks + v``); memoised as ``spotify_id``."""
        if rank < self.tracks:
            return self._track_ids.spotify_id(rank)
        return self._open_tracks.spotify_id(rank - self.tracks)

    def _unknown_spotify_id(self, n: int, *, artist: bool = False) -> str:
        """The ``n``-th well-formed Spotify track ID that the service does not know: the first
        of 64 keyed draws for ``n`` that the hash leaves unknown, else (always when
        ``unknown_share`` is 0) an ID whose value is 2**128 or more, which no real one has.
        Distinct for distinct ``n`` (memoised as ``unknown_spotify_id``)."""
        resolve = self.artist_index if artist else self.track_index
        salt = 1 << 127 if artist else 0
        if self._unknown_below:
            for attempt in range(64):
                value = self._unknown_ids.encrypt((((n << 6) | attempt) % OPEN_SPACE) ^ salt)
                spotify = spotify_text(value)
                if resolve(spotify) is None:
                    return spotify
        return spotify_text(OPEN_SPACE + self._unknown_ids.encrypt((n % OPEN_SPACE) ^ salt))

    def unknown_artist_spotify_id(self, n: int) -> str:
        """The ``n``-th well-formed Spotify artist ID that the service does not know (as
        :meth:`unknown_spotify_id`, for artists)."""
        return self._unknown_spotify_id(n, artist=True)

    def unknown_uuid(self, n: int) -> str:
        """A well-formed ReccoBeats UUID the service does not know (``n``-th); ValueError when
        ``unknown_share`` is 0, where every UUID outside the catalog names a known track."""
        for attempt in range(1024):
            value = self._unknown_ids.decrypt(((n << 10) | attempt) % OPEN_SPACE)
            uuid = self._open_tracks.uuid(value)
            if self.track_index(uuid) is None:
                return uuid
        raise ValueError(f"no unknown UUID: unknown_share is {self.config.unknown_share}")

    def track_index(self, identifier: str) -> int | None:
        """The index of the track with this ReccoBeats or Spotify ID, or None if unknown: a
        catalog index (< ``tracks``), else ``tracks + v`` for a known open-space value ``v``."""
        return self._track_index(identifier)

    def artist_uuid(self, artist: int) -> str:
        if artist < self.artists:
            return self._artist_ids.uuid(artist)
        return self._open_artists.uuid(artist - self.artists)

    def artist_spotify_id(self, artist: int) -> str:
        if artist < self.artists:
            return self._artist_ids.spotify_id(artist)
        return self._open_artists.spotify_id(artist - self.artists)

    def artist_index(self, identifier: str) -> int | None:
        """The index of the artist with this ReccoBeats or Spotify ID, or None if unknown: a
        catalog index (< ``artists``), else ``artists + v`` for a known open-space value ``v``."""
        return self._artist_index(identifier)

    def _resolve_track(self, identifier: str) -> int | None:
        index = self._track_ids.index_of(identifier)
        if index is not None:
            return index
        value = self._open_tracks.value_of(identifier)
        if value is None or not self._open_artist_known(self._artist_track.decrypt(value)):
            return None
        if len(identifier) == 36 and self._track_ids.index_of(spotify_text(value)) is not None:
            return None  # the open UUID of a catalog track's Spotify ID: never issued
        return self.tracks + value

    def _resolve_artist(self, identifier: str) -> int | None:
        artist = self._artist_ids.index_of(identifier)
        if artist is not None:
            return artist
        value = self._open_artists.value_of(identifier)
        if value is None or not self._open_artist_known(value):
            return None
        if len(identifier) == 36 and self._artist_ids.index_of(spotify_text(value)) is not None:
            return None
        return self.artists + value

    def _open_artist_known(self, value: int) -> bool:
        """Known: the keyed hash is at or above ``unknown_share``, or the ID carries a search
        text (an artist the artist search derived)."""
        if hash128(self._known_key, value) >= self._unknown_below:
            return True
        return self._texts.decode(value) is not None

    # relations ---------------------------------------------------------------------------
    def artist_of(self, index: int) -> int:
        if index < self.tracks:
            return self._placement.forward(index) // self.config.tracks_per_artist
        return self.artists + self._artist_track.decrypt(index - self.tracks)

    def artist_tracks(self, artist: int) -> list[int]:
        """The artist's track indices, most popular first (an open-space artist has one)."""
        if artist >= self.artists:
            return [self.tracks + self._artist_track.encrypt(artist - self.artists)]
        per = self.config.tracks_per_artist
        start = artist * per
        stop = min(start + per, self.tracks)
        return sorted(self._placement.inverse(p) for p in range(start, stop))

    def recording(self, index: int) -> int:
        """The catalog track whose recording the track ``index`` is: itself in the catalog; for
        an open-space track, a keyed hash of its value over the whole catalog."""
        if index < self.tracks:
            return index
        return hash128(self._recording_key, index - self.tracks) % self.tracks

    def popularity(self, index: int) -> int:
        """0..100, Zipf-like: 100 for rank 0, falling with log(rank), jittered by ±3; an
        open-space track has its recording's."""
        if index >= self.tracks:
            index = self.recording(index)
        base = 100.0 * (1.0 - math.log(index + 1) / self._log_tracks)
        jitter = (mix64(self._traits_key ^ ~index) % 7) - 3
        return max(0, min(100, round(base) + jitter))

    # entities ----------------------------------------------------------------------------
    def audio_features(self, index: int) -> AudioFeatures:
        return self._traits(index).features

    def feature_vector(self, index: int) -> tuple[float, ...]:
        """Seven 0..1 features (:data:`FEATURE_NAMES`), loudness and tempo scaled to 0..1
        (loudness over -60..2 dB, tempo over 0..250 BPM), popularity / 100, key, mode. Those
        of the materialised tracks are precomputed, the others memoised."""
        if index < self.materialised:
            return self._vectors[index]
        return self._more_vectors(index)

    def search_artists(self, text: str) -> list[int]:
        """Artists whose name contains ``text`` (case-insensitive), among the artists of the
        materialised tracks: exact matches first, then prefixes, then the rest, each by their
        best track's rank; then :meth:`text_artists` (without the one named exactly the text if
        the catalog has one)."""
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
        return exact + prefix + inner + self.text_artists(text, named=not exact)

    def text_artists(self, text: str, *, named: bool = True) -> list[int]:
        """1..8 open-space artists derived from ``text`` (normalised: lower case, single
        spaces), their number a keyed hash of it. Their names contain it: the text itself
        (title-cased; left out when ``named`` is false), "The <Text> Collective", "<Text>
        Echoes", ... Their IDs carry the text, so they resolve by ID in any process with the
        same seed; a text that does not fit in an ID (more than 20 characters of a-z, 0-9,
        space and ' & . -, or 13 UTF-8 bytes) derives none."""
        norm = normalise_text(text)
        if not norm:
            return []
        count = 1 + derive_key(self._search_key, norm) % len(_TEXT_NAMES)
        found = []
        for variant in range(0 if named else 1, count):
            value = self._texts.value(norm, variant)
            if value is None:
                return []
            found.append(self.artists + value)
        return found

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
        if artist < self.artists:
            h = mix64(self._artist_key ^ artist)
        else:
            value = artist - self.artists
            h = hash128(self._artist_key, value)
            text = self._texts.decode(value)
            if text is not None:
                return _text_name(*text, h)
        if h % 4 == 0:
            return f"The {_WORDS_A[(h >> 8) % len(_WORDS_A)]} {_WORDS_B[(h >> 16) % len(_WORDS_B)]}"
        return f"{_FIRST[(h >> 8) % len(_FIRST)]} {_LAST[(h >> 16) % len(_LAST)]}"

    def _derive_artist(self, artist: int) -> Artist:
        spotify = self.artist_spotify_id(artist)
        return Artist(
            id=self.artist_uuid(artist),
            name=self._artist_name(artist),
            href=_SPOTIFY_ARTIST + spotify,
        )

    def _derive_track(self, index: int) -> Track:
        traits = self._traits(index)
        return Track(
            id=self.track_uuid(index),
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
        if index >= self.tracks:  # another release of a catalog recording
            traits = self._traits(self.recording(index))
            features = msgspec.structs.replace(
                traits.features,
                id=self.track_uuid(index),
                href=_SPOTIFY_TRACK + self.spotify_id(index),
            )
            return msgspec.structs.replace(traits, features=features)
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


#: Names of the artists derived from a search text ``t`` (title-cased), by variant.
_TEXT_NAMES = (
    "{t}",
    "The {t} Collective",
    "{t} {b}",
    "DJ {t}",
    "The {a} {t}",
    "{t} Orchestra",
    "{f} & The {t}",
    "{t} Club",
)


def _text_name(text: str, variant: int, h: int) -> str:
    words = []
    for word in text.split(" "):
        titled = word[:1].upper() + word[1:]
        words.append(titled if titled.lower() == word else word)
    return _TEXT_NAMES[variant % len(_TEXT_NAMES)].format(
        t=" ".join(words),
        a=_WORDS_A[h % len(_WORDS_A)],
        b=_WORDS_B[(h >> 8) % len(_WORDS_B)],
        f=_FIRST[(h >> 16) % len(_FIRST)],
    )


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))
