"""Albums derived from the catalog: every artist's tracks grouped into albums, none stored.

The live API's album shape is not documented in what this project relies on, so both the shape
and the grouping are this simulator's assumptions (docs/recobeat-api.md):

- An artist with ``n`` tracks has ``ceil(n / 14)`` albums of near-equal size: at most
  :data:`MAX_ALBUM_TRACKS` tracks each, and at least 8 unless ``n`` is below 8 (one album of
  them all) or 15 (albums of 7 and 8).
  The artist's tracks are dealt into them in a seeded order, so an album mixes popular and
  obscure tracks; an album's tracks are listed in that order.
- An album's ``albumTitle`` is its first track's title, ``artists`` the artist,
  ``popularity`` its most popular track's, ``availableCountries`` the countries where any of its
  tracks is available (in order of first appearance), ``releaseDate`` a seeded day between
  1960-01-01 and 2024-12-31, ``href`` its Spotify album URL.

Only the catalog's own artists (indices below ``Catalog.artists``) have albums; an artist the
catalog resolves from outside its own ID space has none (an empty page). Everything is a pure
function of the catalog (its seed and configuration), read only through the catalog's public
methods.
"""

from __future__ import annotations

import datetime
import functools

import msgspec

from recobeat.models import Artist
from simulator.upstream.catalog import Catalog
from simulator.upstream.ids import EntityIds
from simulator.upstream.seeded import derive_key, mix64

__all__ = ["MAX_ALBUM_TRACKS", "Album", "Albums"]

#: The most tracks one derived album holds.
MAX_ALBUM_TRACKS = 14
_SPOTIFY_ALBUM = "https://open.spotify.com/album/"
_FIRST_DAY = datetime.date(1960, 1, 1).toordinal()
_DAYS = datetime.date(2024, 12, 31).toordinal() - _FIRST_DAY + 1


class Album(msgspec.Struct, frozen=True, rename="camel"):
    """An album as the simulator sends it (an assumed shape: docs/recobeat-api.md)."""

    id: str
    album_title: str
    artists: tuple[Artist, ...]
    release_date: str
    total_tracks: int
    href: str
    available_countries: str
    popularity: int


class Albums:
    """The albums of ``catalog``: by index, identifiers both ways, tracks, an artist's albums.

    Album ``g`` is album ``g % per_artist`` of artist ``g // per_artist``, where ``per_artist``
    is the most albums any artist has (``ceil(tracks_per_artist / 14)``); an artist with fewer
    tracks (the last one) leaves some indices unused, and those are unknown."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.per_artist = -(-catalog.config.tracks_per_artist // MAX_ALBUM_TRACKS)
        self.count = catalog.artists * self.per_artist
        self._ids = EntityIds(catalog.seed, "album", self.count)
        self._order_key = derive_key(catalog.seed, "album/order")
        self._date_key = derive_key(catalog.seed, "album/date")
        encoder = msgspec.json.Encoder()
        cache = functools.lru_cache(maxsize=1 << 14)
        self._groups = cache(self._derive_groups)
        self.album = cache(self._derive_album)
        self.album_json = cache(lambda g: encoder.encode(self.album(g)))
        self._index = cache(self._index_of)

    # identifiers -------------------------------------------------------------------------
    def uuid(self, album: int) -> str:
        return self._ids.uuid(album)

    def spotify_id(self, album: int) -> str:
        return self._ids.spotify_id(album)

    def index(self, identifier: str) -> int | None:
        """The album with this ReccoBeats or Spotify ID, or None if unknown."""
        return self._index(identifier)

    # relations ---------------------------------------------------------------------------
    def artist_albums(self, artist: int) -> list[int]:
        """The artist's albums, in order (none for an artist outside the catalog's own)."""
        if not 0 <= artist < self.catalog.artists:
            return []
        first = artist * self.per_artist
        return list(range(first, first + len(self._groups(artist))))

    def tracks(self, album: int) -> tuple[int, ...]:
        """The album's track indices, in its track order."""
        artist, k = divmod(album, self.per_artist)
        return self._groups(artist)[k]

    def album_of(self, index: int) -> int | None:
        """The album holding track ``index``; None for a track outside the catalog's own."""
        if not 0 <= index < self.catalog.tracks:
            return None
        artist = self.catalog.artist_of(index)
        for k, group in enumerate(self._groups(artist)):
            if index in group:
                return artist * self.per_artist + k
        raise AssertionError(f"track {index} is in none of its artist's albums")

    # derivations -------------------------------------------------------------------------
    def _index_of(self, identifier: str) -> int | None:
        album = self._ids.index_of(identifier)
        if album is None:
            return None
        artist, k = divmod(album, self.per_artist)
        return album if k < len(self._groups(artist)) else None

    def _derive_groups(self, artist: int) -> tuple[tuple[int, ...], ...]:
        key = self._order_key
        tracks = sorted(self.catalog.artist_tracks(artist), key=lambda i: mix64(key ^ i))
        n = len(tracks)
        m = max(1, -(-n // MAX_ALBUM_TRACKS))
        return tuple(tuple(tracks[k * n // m : (k + 1) * n // m]) for k in range(m))

    def _derive_album(self, album: int) -> Album:
        catalog = self.catalog
        artist = album // self.per_artist
        tracks = [catalog.track(i) for i in self.tracks(album)]
        countries: dict[str, None] = {}
        for track in tracks:
            for country in track.available_countries.split(","):
                if country:
                    countries[country] = None
        day = _FIRST_DAY + mix64(self._date_key ^ album) % _DAYS
        return Album(
            id=self._ids.uuid(album),
            album_title=tracks[0].track_title,
            artists=(catalog.artist(artist),),
            release_date=datetime.date.fromordinal(day).isoformat(),
            total_tracks=len(tracks),
            href=_SPOTIFY_ALBUM + self._ids.spotify_id(album),
            available_countries=",".join(countries),
            popularity=max(track.popularity for track in tracks),
        )
