"""The ReccoBeats endpoints over the synthetic catalog: routing, validation and JSON bodies.

Pure: no time, no I/O, no randomness beyond the catalog's. Bounds are the documented ones,
every one of them read from :mod:`recobeat.contract` by the validators at the end of this
module; a value outside them, a malformed ID (in the path or in a list), a missing required
parameter, ``negativeSeeds`` given but empty, or an ID both in ``seeds`` and in
``negativeSeeds`` is a 400. Error bodies have the live API's shape
(:func:`simulator.upstream.messages.error_response`); a 400 for a parameter carries the code
``4004``. List parameters (``ids``, ``seeds``, ``negativeSeeds``) may repeat
(``ids=a&ids=b``) and may hold comma-separated values. Unknown IDs are left out of list
responses, in request order, without duplicates; a single unknown track, artist or album is a
404. Recommendations whose seeds are all unknown are an empty ``content``. Unknown query
parameters are ignored, and a repeated scalar parameter takes its first value. Albums are
derived from the catalog (:mod:`simulator.upstream.albums`).
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import parse_qsl, urlencode

import msgspec

from recobeat.contract import (
    ALBUM_TRACKS,
    ALBUMS,
    ARTIST_ALBUMS,
    ARTIST_SEARCH,
    ARTIST_TRACKS,
    ARTISTS,
    AUDIO_FEATURES,
    DEFAULT_PAGE_SIZE,
    ENDPOINTS,
    FEATURE_WEIGHT_RANGE,
    MAX_IDS_PER_REQUEST,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_RECOMMENDATIONS,
    MAX_SEARCH_TEXT,
    MAX_SEEDS,
    RECOMMENDATION,
    TARGET_RANGES,
    TRACK_AUDIO_FEATURES,
    TRACKS,
)
from recobeat.ids import is_reccobeats_id, is_spotify_id
from recobeat.models import Content, Page
from simulator.upstream.albums import Albums
from simulator.upstream.catalog import Catalog
from simulator.upstream.messages import (
    VALIDATION_DETAIL,
    Request,
    Response,
    error_response,
    json_response,
)
from simulator.upstream.recommend import RecommendationQuery, Recommender

__all__ = [
    "ENDPOINTS",
    "Params",
    "RecoBeatApi",
    "Route",
    "canonical_query",
    "match_route",
    "parse_canonical",
    "parse_canonical_pairs",
    "parse_pairs",
    "parse_query",
    "request_params",
]

Params = dict[str, list[str]]

_EXACT_TEMPLATES = (RECOMMENDATION, TRACKS, AUDIO_FEATURES, ARTIST_SEARCH, ARTISTS, ALBUMS)
_LIST_PARAMS = frozenset({"ids", "seeds", "negativeSeeds"})
_SET_PARAMS = frozenset({"seeds", "negativeSeeds"})


class Route(msgspec.Struct, frozen=True):
    """A matched endpoint: its template and the ``{id}`` path segment, if it has one."""

    template: str
    path_id: str | None = None


_EXACT = {t: Route(t) for t in _EXACT_TEMPLATES}
#: Memoised responses: at most this many, and at most this many body bytes in all.
_MEMO_ENTRIES = 8192
_MEMO_BYTES = 16 << 20


class _BadRequest(Exception):
    pass


def match_route(path: str) -> Route | None:
    route = _EXACT.get(path)
    if route is not None:
        return route
    parts = path.split("/")
    if len(parts) == 5 and parts[1] == "v1" and parts[3]:
        if parts[2] == "track" and parts[4] == "audio-features":
            return Route(TRACK_AUDIO_FEATURES, parts[3])
        if parts[2] == "artist" and parts[4] == "track":
            return Route(ARTIST_TRACKS, parts[3])
        if parts[2] == "artist" and parts[4] == "album":
            return Route(ARTIST_ALBUMS, parts[3])
        if parts[2] == "album" and parts[4] == "track":
            return Route(ALBUM_TRACKS, parts[3])
    return None


def parse_query(query: str) -> Params:
    """Query string to parameters; list parameters are split on commas, blanks dropped."""
    return parse_pairs(parse_qsl(query, keep_blank_values=True))


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> Params:
    """Decoded (name, value) query pairs to parameters, as :func:`parse_query` reads them."""
    params: Params = {}
    for name, value in pairs:
        if name in _LIST_PARAMS:
            params.setdefault(name, []).extend(v for v in map(str.strip, value.split(",")) if v)
        else:
            params.setdefault(name, []).append(value)
    return params


@functools.lru_cache(maxsize=1 << 14)
def parse_canonical(query: str) -> tuple[Params, str]:
    """``parse_query(query)`` and its :func:`canonical_query`, memoised per query string. The
    parameters are shared between calls: read them, never change them."""
    params = parse_query(query)
    return params, canonical_query(params)


@functools.lru_cache(maxsize=1 << 14)
def parse_canonical_pairs(pairs: tuple[tuple[str, str], ...]) -> tuple[Params, str]:
    """:func:`parse_canonical` for a request's decoded ``pairs`` (``Request.pairs``)."""
    params = parse_pairs(pairs)
    return params, canonical_query(params)


def request_params(request: Request) -> tuple[Params, str]:
    """A request's parameters and their canonical query, from its pairs or its query string
    (memoised: read them, never change them)."""
    pairs = request.pairs
    if pairs is None:
        return parse_canonical(request.query)
    return parse_canonical_pairs(pairs)


def canonical_query(params: Params) -> str:
    """A stable text form of the parameters: names sorted, values comma-joined in request order
    (seeds and negative seeds sorted, since their order carries no meaning)."""
    items = []
    for name in sorted(params):
        values = sorted(params[name]) if name in _SET_PARAMS else params[name]
        items.append((name, ",".join(values)))
    return urlencode(items, safe=",")


class RecoBeatApi:
    """The endpoints as a pure function of a request: ``handle(request) -> Response``.

    Being pure, responses are memoised (:meth:`respond_memo`) per (method, path, raw query),
    least recently used first out, bounded in entries and body bytes."""

    def __init__(self, catalog: Catalog, recommender: Recommender | None = None) -> None:
        self.catalog = catalog
        self.recommender = recommender or Recommender(catalog)
        self.albums = Albums(catalog)
        self._memo: OrderedDict[tuple[str, str, object], Response] = OrderedDict()
        self._memo_bytes = 0
        self._handlers: dict[str, Callable[[Route, Params], Response]] = {
            RECOMMENDATION: self._recommendation,
            TRACKS: self._tracks,
            TRACK_AUDIO_FEATURES: self._track_audio_features,
            AUDIO_FEATURES: self._audio_features,
            ARTIST_SEARCH: self._artist_search,
            ARTISTS: self._artists,
            ARTIST_TRACKS: self._artist_tracks,
            ALBUMS: self._albums,
            ALBUM_TRACKS: self._album_tracks,
            ARTIST_ALBUMS: self._artist_albums,
        }

    def handle(self, request: Request) -> Response:
        pairs = request.pairs
        params = parse_query(request.query) if pairs is None else parse_pairs(pairs)
        return self.respond(request.method, request.path, params)

    def respond(
        self, method: str, path: str, params: Params, route: Route | None = None
    ) -> Response:
        """The response to ``method path?params``; ``route``: ``match_route(path)`` if known."""
        route = route or match_route(path)
        if route is None:
            return error_response(404, f"No endpoint GET {path}")
        if method != "GET":
            return error_response(405, f"Method {method} is not supported")
        try:
            return self._handlers[route.template](route, params)
        except _BadRequest as exc:
            return error_response(400, str(exc), detail=VALIDATION_DETAIL)

    def respond_memo(
        self, request: Request, params: Params | None = None, route: Route | None = None
    ) -> Response:
        """:meth:`respond` to ``request``, memoised on its method, path and raw query string
        (not on the canonical form: ``size=1,2`` and ``size=1&size=2`` answer differently).
        ``params``: ``parse_query(request.query)`` if known. A request carrying decoded
        ``pairs`` is memoised on them instead (a separate entry, the same response)."""
        pairs = request.pairs
        key = (request.method, request.path, request.query if pairs is None else pairs)
        memo = self._memo
        response = memo.get(key)
        if response is not None:
            memo.move_to_end(key)
            return response
        if params is None:
            params = parse_query(request.query) if pairs is None else parse_pairs(pairs)
        response = self.respond(request.method, request.path, params, route)
        size = len(response.body)
        if size <= _MEMO_BYTES // 64:
            memo[key] = response
            self._memo_bytes += size
            while len(memo) > _MEMO_ENTRIES or self._memo_bytes > _MEMO_BYTES:
                self._memo_bytes -= len(memo.popitem(last=False)[1].body)
        return response

    # endpoints -----------------------------------------------------------------------------
    def _recommendation(self, route: Route, params: Params) -> Response:
        size = _required_int(params, "size", 1, MAX_RECOMMENDATIONS)
        seeds, negative = _seeds(params)
        targets = _targets(params)
        weight = _float(params, "featureWeight", *FEATURE_WEIGHT_RANGE, 1.0) or 1.0
        query = RecommendationQuery(
            seeds=self._known_tracks(seeds, sort=True),
            size=size,
            negative_seeds=self._known_tracks(negative, sort=True),
            targets=tuple(sorted(targets)),
            feature_weight=weight,
        )
        return _content(map(self.catalog.track_json, self.recommender.recommend(query)))

    def _tracks(self, route: Route, params: Params) -> Response:
        indices = self._known_tracks(_ids(params, "ids", MAX_IDS_PER_REQUEST))
        return _content([self.catalog.track_json(i) for i in indices])

    def _audio_features(self, route: Route, params: Params) -> Response:
        indices = self._known_tracks(_ids(params, "ids", MAX_IDS_PER_REQUEST))
        return _content([self.catalog.features_json(i) for i in indices])

    def _track_audio_features(self, route: Route, params: Params) -> Response:
        track_id = _path_id(route)
        index = self.catalog.track_index(track_id)
        if index is None:
            return error_response(404, f"Track {track_id} not found")
        return json_response(self.catalog.features_json(index))

    def _artists(self, route: Route, params: Params) -> Response:
        ids = _ids(params, "ids", MAX_IDS_PER_REQUEST)
        return _content(
            [self.catalog.artist_json(a) for a in _known(ids, self.catalog.artist_index)]
        )

    def _artist_search(self, route: Route, params: Params) -> Response:
        text = _first(params, "searchText")
        if text is None or not text.strip():
            raise _BadRequest("Required parameter 'searchText' is missing")
        if len(text) > MAX_SEARCH_TEXT:
            raise _BadRequest(f"searchText: at most {MAX_SEARCH_TEXT} characters, got {len(text)}")
        return _paged(self.catalog.search_artists(text), self.catalog.artist_json, params)

    def _artist_tracks(self, route: Route, params: Params) -> Response:
        artist_id = _path_id(route)
        _paging(params)  # a bad page or size is a 400 before an unknown artist's 404
        artist = self.catalog.artist_index(artist_id)
        if artist is None:
            return error_response(404, f"Artist {artist_id} not found")
        return _paged(self.catalog.artist_tracks(artist), self.catalog.track_json, params)

    def _albums(self, route: Route, params: Params) -> Response:
        ids = _ids(params, "ids", MAX_IDS_PER_REQUEST)
        return _content([self.albums.album_json(a) for a in _known(ids, self.albums.index)])

    def _album_tracks(self, route: Route, params: Params) -> Response:
        album_id = _path_id(route)
        _paging(params)  # a bad page or size is a 400 before an unknown album's 404
        album = self.albums.index(album_id)
        if album is None:
            return error_response(404, f"Album {album_id} not found")
        return _paged(self.albums.tracks(album), self.catalog.track_json, params)

    def _artist_albums(self, route: Route, params: Params) -> Response:
        artist_id = _path_id(route)
        _paging(params)  # a bad page or size is a 400 before an unknown artist's 404
        artist = self.catalog.artist_index(artist_id)
        if artist is None:
            return error_response(404, f"Artist {artist_id} not found")
        return _paged(self.albums.artist_albums(artist), self.albums.album_json, params)

    def _known_tracks(self, ids: list[str], *, sort: bool = False) -> tuple[int, ...]:
        known = _known(ids, self.catalog.track_index)
        return tuple(sorted(known)) if sort else known


_encode = msgspec.json.Encoder().encode
# An empty Content envelope cut where its items go: the envelope around items already encoded
# is these two halves around the items comma-joined, the bytes that encoding
# Content(tuple(map(msgspec.Raw, items))) gives, without a Raw and a struct per response.
_EMPTY_CONTENT = _encode(Content(()))
_CONTENT_OPEN = _EMPTY_CONTENT[: _EMPTY_CONTENT.index(b"[]") + 1]
_CONTENT_CLOSE = _EMPTY_CONTENT[len(_CONTENT_OPEN) :]


def _content(parts: Iterable[bytes]) -> Response:
    """The :class:`recobeat.models.Content` envelope around already encoded items."""
    return json_response(_CONTENT_OPEN + b",".join(parts) + _CONTENT_CLOSE)


def _page(parts: list[bytes], page: int, size: int, total: int) -> Response:
    """A :class:`recobeat.models.Page` of already encoded items."""
    content = tuple(map(msgspec.Raw, parts))
    return json_response(_encode(Page(content, page, size, total, -(-total // size))))


def _known(ids: Sequence[str], index_of: Callable[[str], int | None]) -> tuple[int, ...]:
    """The distinct entities ``ids`` name, in the order first named; unknown IDs left out."""
    seen: dict[int, None] = {}
    for identifier in ids:
        index = index_of(identifier)
        if index is not None:
            seen[index] = None
    return tuple(seen)


def _paged(items: Sequence[int], render: Callable[[int], bytes], params: Params) -> Response:
    """The page ``params`` ask for of ``items``, each encoded by ``render``."""
    page, size = _paging(params)
    return _page(
        [render(i) for i in items[page * size : (page + 1) * size]], page, size, len(items)
    )


# validation: every rule of every endpoint, its limits read from recobeat.contract -------------
def _path_id(route: Route) -> str:
    """The path's ``{id}``: a ReccoBeats UUID or a Spotify ID (the live API wants a UUID)."""
    value = route.path_id or ""
    if not _well_formed(value):
        raise _BadRequest(f"id: malformed ID {value!r}")
    return value


@functools.lru_cache(maxsize=1 << 14)
def _well_formed(value: str) -> bool:
    """A ReccoBeats UUID or a Spotify ID; memoised, as clients name the same (popular) tracks
    again and again."""
    return is_reccobeats_id(value) or is_spotify_id(value)


def _first(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _ids(params: Params, name: str, most: int, *, required: bool = True) -> list[str]:
    """The list ``name``: 1..``most`` well-formed IDs. Absent (or only blanks): a 400 if
    ``required``, else ``[]``; present with no value (``negativeSeeds=``) when not required: a
    400 as well, as for any size outside 1..``most``."""
    values = params.get(name)
    if not values:
        if required:
            raise _BadRequest(f"Required parameter '{name}' is missing")
        if values is None:
            return []
    if not 1 <= len(values) <= most:
        raise _BadRequest(f"{name}: size must be between 1 and {most}, got {len(values)}")
    for value in values:
        if not _well_formed(value):
            raise _BadRequest(f"{name}: malformed ID {value!r}")
    return values


def _seeds(params: Params) -> tuple[list[str], list[str]]:
    """``seeds`` (required) and ``negativeSeeds`` (optional), each 1..MAX_SEEDS IDs, with no
    ID in both."""
    seeds = _ids(params, "seeds", MAX_SEEDS)
    negative = _ids(params, "negativeSeeds", MAX_SEEDS, required=False)
    both = set(seeds).intersection(negative)
    if both:
        raise _BadRequest(f"negativeSeeds: {min(both)!r} is also in seeds")
    return seeds, negative


def _targets(params: Params) -> list[tuple[str, float]]:
    """The recommendation targets given, as (name, value), each in its documented range."""
    targets: list[tuple[str, float]] = []
    for name, lo, hi, integral in TARGET_RANGES:
        if not params.get(name):
            continue  # absent, as most are: parsing it would give None
        if integral:
            value: float | None = _int(params, name, int(lo), int(hi), None)
        else:
            value = _float(params, name, lo, hi, None)
        if value is not None:
            targets.append((name, float(value)))
    return targets


def _paging(params: Params) -> tuple[int, int]:
    """``page`` (0..MAX_PAGE, default 0) and ``size`` (1..MAX_PAGE_SIZE, default
    DEFAULT_PAGE_SIZE) of a paged endpoint."""
    page = _int(params, "page", 0, MAX_PAGE, 0) or 0
    size = _int(params, "size", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    return page, size


def _int(params: Params, name: str, lo: int, hi: int, default: int | None) -> int | None:
    """The integer parameter ``name`` in ``lo..hi``; ``default`` when absent."""
    raw = _first(params, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name}: {raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise _BadRequest(f"{name}: must be in {lo}..{hi}, got {value}")
    return value


def _required_int(params: Params, name: str, lo: int, hi: int) -> int:
    value = _int(params, name, lo, hi, None)
    if value is None:
        raise _BadRequest(f"Required parameter '{name}' is missing")
    return value


def _float(params: Params, name: str, lo: float, hi: float, default: float | None) -> float | None:
    raw = _first(params, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _BadRequest(f"{name}: {raw!r} is not a number") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise _BadRequest(f"{name}: must be in {lo:g}..{hi:g}, got {raw}")
    return value
