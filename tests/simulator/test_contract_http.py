"""The upstream contract of docs/recobeat-api.md, rule by rule, against the simulator over HTTP.

One test per documented rule, in the order the document states them (its sections are marked
below); each docstring quotes or closely paraphrases the rule, so the two read side by side.
The simulator (seed 7, the session's small catalog, no latency) is served over real sockets on
loopback, once per module and event loop, from a thread (an anyio blocking portal), and the tests
call it with a plain synchronous ``httpx.Client`` over HTTP/1.1: REAL time, a few requests each.

The module's main server has a limit high enough never to answer 429; the rate-limiting rules
are checked against a second one with a small limit (3 per 60 s, a penalty box of 2 strikes),
each test as its own client (``X-Client-Id``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from engine.clock import SystemClock
from recobeat.contract import MAX_PAGE, MAX_SEARCH_TEXT, TARGET_RANGES
from simulator import (
    Catalog,
    EndpointProfile,
    FaultRates,
    LatencyModel,
    PenaltyBox,
    RateLimitConfig,
    RateLimitRule,
    RecoBeatSimulator,
)
from tests.conftest import quiet_config
from tests.simulator.test_sim_open_ids import KNOWN_AT_SEED_7, REAL

SPOTIFY_TRACK = "https://open.spotify.com/track/"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
TRACK_FIELDS = {
    "id",
    "trackTitle",
    "artists",
    "durationMs",
    "isrc",
    "ean",
    "upc",
    "href",
    "availableCountries",
    "popularity",
}
FEATURE_FIELDS = {
    "id",
    "href",
    "acousticness",
    "danceability",
    "energy",
    "instrumentalness",
    "liveness",
    "speechiness",
    "valence",
    "key",
    "loudness",
    "mode",
    "tempo",
}
ALBUM_FIELDS = {
    "id",
    "albumTitle",
    "artists",
    "releaseDate",
    "totalTracks",
    "href",
    "availableCountries",
    "popularity",
}
PAGE_FIELDS = {"content", "page", "size", "totalElements", "totalPages"}
RECOMMENDATION = "/v1/track/recommendation"

#: The main server's limit: far above what the module sends (no test here may see a 429).
GENEROUS = RateLimitConfig(rules=(RateLimitRule(limit=100_000, window=1.0),), penalty_box=None)
#: The limited server: 3 requests per 60 s per client; 2 strikes block for 60 s.
LIMITED = RateLimitConfig(
    rules=(RateLimitRule(limit=3, window=60.0),),
    penalty_box=PenaltyBox(strikes=2, block=60.0, grace=0.0),
    rejection_latency=0.0,
)
ALWAYS_FAILS = EndpointProfile(
    latency=LatencyModel(median=0.0, p99=0.0), faults=FaultRates(error=1.0)
)


@contextmanager
def serving(sim: RecoBeatSimulator, backend: str) -> Iterator[str]:
    """Serve ``sim`` over real sockets on loopback from a thread; yield its base URL."""
    from simulator import serve_http

    with start_blocking_portal(backend) as portal:
        stop = portal.call(anyio.Event)

        async def server(*, task_status: Any) -> None:
            await serve_http(sim, shutdown_trigger=stop.wait, task_status=task_status)

        done, url = portal.start_task(server)
        try:
            yield url
        finally:
            portal.call(stop.set)
            done.result(timeout=20)


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def sim(catalog: Catalog) -> RecoBeatSimulator:
    return RecoBeatSimulator(
        quiet_config(rate_limit=GENEROUS), clock=SystemClock(), catalog=catalog
    )


@pytest.fixture(scope="module")
def http(sim: RecoBeatSimulator, backend: str) -> Iterator[httpx.Client]:
    with serving(sim, backend) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def limited(catalog: Catalog, backend: str) -> Iterator[httpx.Client]:
    config = quiet_config(rate_limit=LIMITED, endpoints={"/v1/artist/search": ALWAYS_FAILS})
    sim = RecoBeatSimulator(config, clock=SystemClock(), catalog=catalog)
    with serving(sim, backend) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


# helpers -------------------------------------------------------------------------------------
def ok(http: httpx.Client, path: str, params: Any = None) -> Any:
    """The JSON body of a 200."""
    response = http.get(path, params=params)
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


def content(http: httpx.Client, path: str, params: Any = None) -> list[dict[str, Any]]:
    body = ok(http, path, params)
    assert set(body) == {"content"}
    return body["content"]  # type: ignore[no-any-return]


def bad(http: httpx.Client, path: str, params: Any = None) -> str:
    """A 400 with the live error body; returns its one message."""
    response = http.get(path, params=params)
    assert response.status_code == 400, (path, params, response.text)
    return error_message(response, 4004)


def error_message(response: httpx.Response, code: int) -> str:
    """The live API's error body, ``{"status": code, "errors": [{"message": ...}]}``: its one
    message."""
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "errors"} and body["status"] == code, body
    (error,) = body["errors"]
    assert set(error) == {"message"} and isinstance(error["message"], str) and error["message"]
    return error["message"]  # type: ignore[no-any-return]


def spotify(catalog: Catalog, rank: int) -> str:
    return catalog.spotify_id(rank)


def uuid(catalog: Catalog, rank: int) -> str:
    index = catalog.track_index(catalog.spotify_id(rank))
    assert index is not None
    return catalog.track_uuid(index)


def seeds(catalog: Catalog, n: int, start: int = 0) -> list[str]:
    return [spotify(catalog, rank) for rank in range(start, start + n)]


# ## Endpoints ---------------------------------------------------------------------------------
def test_list_parameters_repeated_or_comma_separated(http: httpx.Client, catalog: Catalog) -> None:
    """ "List parameters (`ids`, `seeds`, `negativeSeeds`) may be sent as repeated values
    (`ids=a&ids=b`) or comma-separated (`ids=a,b`)." **[doc]**"""
    a, b, c = seeds(catalog, 3)
    repeated = content(http, "/v1/track", [("ids", a), ("ids", b)])
    assert len(repeated) == 2
    assert content(http, "/v1/track", {"ids": f"{a},{b}"}) == repeated
    assert content(http, "/v1/audio-features", [("ids", f"{a},{b}")]) == content(
        http, "/v1/audio-features", [("ids", a), ("ids", b)]
    )
    recommend = {"size": 5}
    one = ok(http, RECOMMENDATION, {**recommend, "seeds": [a, b], "negativeSeeds": [c]})
    other = ok(http, RECOMMENDATION, {**recommend, "seeds": f"{a},{b}", "negativeSeeds": c})
    assert one == other and len(one["content"]) == 5


def test_recommendation_size_is_1_to_100(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/track/recommendation`: "`size` (required) ... `size` 1..100" **[doc]**."""
    seed = seeds(catalog, 1)
    assert len(content(http, RECOMMENDATION, {"size": 1, "seeds": seed})) == 1
    assert len(content(http, RECOMMENDATION, {"size": 100, "seeds": seed})) == 100
    for size in (0, 101, -1):
        assert "size" in bad(http, RECOMMENDATION, {"size": size, "seeds": seed})


def test_recommendation_takes_1_to_5_seeds(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/track/recommendation`: "`seeds` (required): track IDs ... 1..5 `seeds`" **[doc]**."""
    assert len(content(http, RECOMMENDATION, {"size": 3, "seeds": seeds(catalog, 5)})) == 3
    assert "seeds" in bad(http, RECOMMENDATION, {"size": 3, "seeds": seeds(catalog, 6)})
    assert "seeds" in bad(http, RECOMMENDATION, {"size": 3})


def test_recommendation_negative_seeds_1_to_5_when_given(
    http: httpx.Client, catalog: Catalog
) -> None:
    """`/v1/track/recommendation`: "`negativeSeeds` (optional): track IDs ... 1..5
    `negativeSeeds` when given" **[doc]**."""
    seed = seeds(catalog, 1)
    for n in (1, 5):
        params = {"size": 3, "seeds": seed, "negativeSeeds": seeds(catalog, n, start=10)}
        assert len(content(http, RECOMMENDATION, params)) == 3
    params = {"size": 3, "seeds": seed, "negativeSeeds": seeds(catalog, 6, start=10)}
    assert "negativeSeeds" in bad(http, RECOMMENDATION, params)


def test_recommendation_no_id_both_seed_and_negative_seed(
    http: httpx.Client, catalog: Catalog
) -> None:
    """`/v1/track/recommendation`: "no ID both in `seeds` and in `negativeSeeds`"
    **[assumed]**."""
    a, b = seeds(catalog, 2)
    message = bad(http, RECOMMENDATION, {"size": 3, "seeds": [a, b], "negativeSeeds": [b]})
    assert "negativeSeeds" in message and b in message


@pytest.mark.parametrize(("name", "lo", "hi", "integral"), TARGET_RANGES)
def test_recommendation_targets_in_their_ranges(
    http: httpx.Client, catalog: Catalog, name: str, lo: float, hi: float, integral: bool
) -> None:
    """`/v1/track/recommendation`: "optional targets `acousticness`, `danceability`, `energy`,
    `instrumentalness`, `liveness`, `speechiness`, `valence` (0..1), `key` (-1..11), `loudness`
    (-60..2), `mode` (0 or 1), `tempo` (0..250), `popularity` (0..100)" **[doc]**."""
    params = {"size": 2, "seeds": seeds(catalog, 1)}
    for value in (lo, hi):
        given = int(value) if integral else value
        assert len(content(http, RECOMMENDATION, {**params, name: given})) == 2
    step = 1 if integral else 0.5
    for value in (lo - step, hi + step):
        given = int(value) if integral else value
        assert name in bad(http, RECOMMENDATION, {**params, name: given})


def test_recommendation_feature_weight_1_to_5(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/track/recommendation`: "`featureWeight` (1..5)" **[doc]**."""
    params = {"size": 2, "seeds": seeds(catalog, 1), "energy": 0.9}
    for weight in (1, 5):
        assert len(content(http, RECOMMENDATION, {**params, "featureWeight": weight})) == 2
    for weight in (0.5, 5.5):
        assert "featureWeight" in bad(http, RECOMMENDATION, {**params, "featureWeight": weight})


def test_tracks_1_to_40_ids_unknown_left_out(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/track`: "`ids` (required) ... 1..40 IDs ... only the IDs it knows; unknown IDs are
    left out without an error" **[doc]**, **[obs]**."""
    known = seeds(catalog, 39)
    tracks = content(http, "/v1/track", {"ids": [*known, catalog.unknown_spotify_id(0)]})
    assert [t["href"] for t in tracks] == [SPOTIFY_TRACK + s for s in known]
    message = bad(http, "/v1/track", {"ids": seeds(catalog, 41)})
    assert "between 1 and 40" in message
    assert "ids" in bad(http, "/v1/track")


def test_one_tracks_audio_features_404_when_unknown(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/track/{id}/audio-features`: "path `id`: a ReccoBeats track ID ... an
    audio-features object; `404` when the track is unknown" **[doc]**, **[obs]**."""
    features = ok(http, f"/v1/track/{uuid(catalog, 0)}/audio-features")
    assert set(features) == FEATURE_FIELDS
    response = http.get(f"/v1/track/{catalog.unknown_uuid(0)}/audio-features")
    assert response.status_code == 404
    error_message(response, 4040)


def test_audio_features_1_to_40_ids_41_is_a_400(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/audio-features`: "1..40 IDs; 41 is a `400`" **[doc]**, with the body observed on the
    live API, `{"status": 4004, "errors": [{"message": "size must be between 1 and 40"}]}`
    **[obs]**."""
    assert len(content(http, "/v1/audio-features", {"ids": seeds(catalog, 1)})) == 1
    assert len(content(http, "/v1/audio-features", {"ids": seeds(catalog, 40)})) == 40
    response = http.get("/v1/audio-features", params={"ids": seeds(catalog, 41)})
    assert response.status_code == 400
    assert error_message(response, 4004) == "ids: size must be between 1 and 40, got 41"
    assert "ids" in bad(http, "/v1/audio-features")


def test_artist_search_parameters(http: httpx.Client) -> None:
    """`/v1/artist/search`: "`searchText` (required, at most 1000 characters), `page` (0..1000,
    default 0), `size` (1..50, default 25)" **[doc]**."""
    path = "/v1/artist/search"
    default = ok(http, path, {"searchText": "a"})
    assert (default["page"], default["size"]) == (0, 25)
    assert ok(http, path, {"searchText": "x" * MAX_SEARCH_TEXT})["content"] == []
    assert "searchText" in bad(http, path, {"searchText": "x" * (MAX_SEARCH_TEXT + 1)})
    assert "searchText" in bad(http, path)
    for page in (0, MAX_PAGE):
        assert ok(http, path, {"searchText": "a", "page": page})["page"] == page
    for size in (1, 50):
        assert ok(http, path, {"searchText": "a", "size": size})["size"] == size
    assert "page" in bad(http, path, {"searchText": "a", "page": -1})
    assert "page" in bad(http, path, {"searchText": "a", "page": MAX_PAGE + 1})
    for size in (0, 51):
        assert "size" in bad(http, path, {"searchText": "a", "size": size})


def test_artist_search_pages_add_up(http: httpx.Client) -> None:
    """`/v1/artist/search`: "a page: `{"content": [artist, ...], "page", "size",
    "totalElements", "totalPages"}`" **[doc]**: the pages hold `totalElements` artists in all,
    `totalPages` of them not empty."""
    path = "/v1/artist/search"
    whole = ok(http, path, {"searchText": "chill", "size": 50})
    total = whole["totalElements"]
    assert set(whole) == PAGE_FIELDS and 3 <= total == len(whole["content"]) <= 50
    paged = []
    pages = math.ceil(total / 2)
    for page in range(pages + 1):
        body = ok(http, path, {"searchText": "chill", "size": 2, "page": page})
        assert (body["page"], body["size"], body["totalElements"]) == (page, 2, total)
        assert body["totalPages"] == pages
        assert len(body["content"]) == (min(2, total - 2 * page) if page < pages else 0)
        paged.extend(body["content"])
    assert paged == whole["content"]


def test_artists_1_to_40_ids(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/artist`: "`ids`: artist IDs ... 1..40 IDs" **[doc]**; "`{"content": [artist,
    ...]}`"."""
    ids = [catalog.artist_uuid(a) for a in range(40)]
    artists = content(http, "/v1/artist", {"ids": ids})
    assert [a["id"] for a in artists] == ids
    assert "between 1 and 40" in bad(
        http, "/v1/artist", {"ids": [catalog.artist_uuid(a) for a in range(41)]}
    )


def test_artist_tracks_paged_size_1_to_50(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/artist/{id}/track`: "path `id`; `page`, `size` ... `size` 1..50 ... a page of
    tracks" **[doc]**."""
    path = f"/v1/artist/{catalog.artist_uuid(0)}/track"
    whole = ok(http, path, {"size": 50})
    total = whole["totalElements"]
    assert set(whole) == PAGE_FIELDS and total == len(catalog.artist_tracks(0))
    paged = []
    for page in range(math.ceil(total / 3)):
        body = ok(http, path, {"size": 3, "page": page})
        assert (body["totalElements"], body["totalPages"]) == (total, math.ceil(total / 3))
        paged.extend(body["content"])
    assert paged == whole["content"]
    for size in (0, 51):
        assert "size" in bad(http, path, {"size": size})


def test_albums_by_id_1_to_40_known_only(
    http: httpx.Client, sim: RecoBeatSimulator, catalog: Catalog
) -> None:
    """`/v1/album`: "`ids`: album IDs ... 1..40 IDs ... `{"content": [album, ...]}`, only the
    IDs it knows" **[assumed]**."""
    albums = sim.api.albums
    ids = [albums.uuid(g) for g in range(39)]
    found = content(http, "/v1/album", {"ids": [*ids, catalog.unknown_uuid(0)]})
    assert [a["id"] for a in found] == ids
    assert content(http, "/v1/album", {"ids": [albums.spotify_id(3)]}) == [found[3]]
    assert "between 1 and 40" in bad(
        http, "/v1/album", {"ids": [albums.uuid(g) for g in range(41)]}
    )


def test_album_tracks_paged_404_when_unknown(
    http: httpx.Client, sim: RecoBeatSimulator, catalog: Catalog
) -> None:
    """`/v1/album/{id}/track`: "path `id`; `page`, `size` ... as an artist's tracks ... a page
    of tracks; `404` when the album is unknown" **[assumed]**."""
    album = sim.api.albums.uuid(0)
    body = ok(http, f"/v1/album/{album}/track", {"size": 50})
    assert set(body) == PAGE_FIELDS
    total_tracks = content(http, "/v1/album", {"ids": [album]})[0]["totalTracks"]
    assert body["totalElements"] == len(body["content"]) == total_tracks
    assert "size" in bad(http, f"/v1/album/{album}/track", {"size": 51})
    response = http.get(f"/v1/album/{catalog.unknown_uuid(0)}/track")
    assert response.status_code == 404
    error_message(response, 4040)


def test_artist_albums_paged_404_when_unknown(http: httpx.Client, catalog: Catalog) -> None:
    """`/v1/artist/{id}/album`: "path `id`; `page`, `size` ... as an artist's tracks ... a page
    of albums; `404` when the artist is unknown" **[assumed]**."""
    body = ok(http, f"/v1/artist/{catalog.artist_uuid(0)}/album")
    assert set(body) == PAGE_FIELDS and body["totalElements"] == len(body["content"]) >= 1
    assert all(a["artists"][0]["id"] == catalog.artist_uuid(0) for a in body["content"])
    assert "size" in bad(http, f"/v1/artist/{catalog.artist_uuid(0)}/album", {"size": 0})
    response = http.get(f"/v1/artist/{catalog.unknown_artist_spotify_id(0)}/album")
    assert response.status_code == 404
    error_message(response, 4040)


# ### Using /v1/audio-features ----------------------------------------------------------------
def test_audio_features_take_both_kinds_of_id_mixed(http: httpx.Client, catalog: Catalog) -> None:
    """ "ReccoBeats and Spotify IDs alike" **[doc]**; "The client mixes both kinds in one request
    ... the simulator allows it" **[assumed]**."""
    by_spotify = content(http, "/v1/audio-features", {"ids": seeds(catalog, 4)})
    by_uuid = content(http, "/v1/audio-features", {"ids": [uuid(catalog, r) for r in range(4)]})
    assert by_uuid == by_spotify
    mixed = [spotify(catalog, 0), uuid(catalog, 1), spotify(catalog, 2), uuid(catalog, 3)]
    assert content(http, "/v1/audio-features", {"ids": mixed}) == by_spotify


def test_audio_features_rows_map_back_by_href(http: httpx.Client, catalog: Catalog) -> None:
    """ "Only the IDs it knows are answered: an unknown ID has no row and raises no error"
    **[obs]**; "Rows come in no promised order, and each carries the track's ReccoBeats `id` and
    its `href`, the track's Spotify URL, which ends in its Spotify ID ... maps a row back ... by
    `href`, never by position" **[doc]**, **[obs]**."""
    known = seeds(catalog, 6)
    asked = [catalog.unknown_spotify_id(0), *known[:3], catalog.unknown_spotify_id(1), *known[3:]]
    rows = content(http, "/v1/audio-features", {"ids": asked})
    assert len(rows) == len(known)
    by_href = {row["href"].removeprefix(SPOTIFY_TRACK): row for row in rows}
    assert set(by_href) == set(known)
    for spotify_id, row in by_href.items():
        assert ok(http, f"/v1/track/{spotify_id}/audio-features") == row
    assert [row["href"] for row in rows] != [SPOTIFY_TRACK + s for s in asked[: len(rows)]]


def test_an_audio_features_row_converts_its_track(http: httpx.Client, catalog: Catalog) -> None:
    """ "A row converts its track: its `id` and `href` pair a Spotify ID with its ReccoBeats ID,
    exactly what a `GET /v1/track` lookup would have told." """
    ids = seeds(catalog, 5, start=100)
    rows = content(http, "/v1/audio-features", {"ids": ids})
    tracks = content(http, "/v1/track", {"ids": ids})
    assert {(r["href"], r["id"]) for r in rows} == {(t["href"], t["id"]) for t in tracks}


# ## Identifiers -------------------------------------------------------------------------------
def test_reccobeats_uuids_and_spotify_ids_are_accepted(
    http: httpx.Client, catalog: Catalog
) -> None:
    """ "A ReccoBeats ID is a UUID (`8-4-4-4-12` hexadecimal digits)"; "A Spotify ID is a base-62
    string, 22 characters long for tracks and artists"; "the multiple-ID lookups and the
    recommendation seeds take either kind" **[doc]**."""
    spotify_ids = seeds(catalog, 3)
    uuids = [uuid(catalog, r) for r in range(3)]
    assert all(UUID.match(u) for u in uuids) and all(SPOTIFY_ID.match(s) for s in spotify_ids)
    assert content(http, "/v1/track", {"ids": uuids}) == content(
        http, "/v1/track", {"ids": spotify_ids}
    )
    artists = [catalog.artist_uuid(0), catalog.artist_spotify_id(0)]
    assert len(content(http, "/v1/artist", {"ids": artists})) == 1  # the same artist twice
    by_uuid = ok(http, RECOMMENDATION, {"size": 4, "seeds": uuids})
    assert by_uuid == ok(http, RECOMMENDATION, {"size": 4, "seeds": spotify_ids})


def test_a_path_id_is_a_uuid_and_the_simulator_takes_either(
    http: httpx.Client, catalog: Catalog
) -> None:
    """ "Fetching one track by ID (a path parameter) takes a ReccoBeats ID" **[doc]**; the
    simulator also accepts a Spotify ID there (more lenient than the API)."""
    by_uuid = ok(http, f"/v1/track/{uuid(catalog, 7)}/audio-features")
    assert ok(http, f"/v1/track/{spotify(catalog, 7)}/audio-features") == by_uuid
    assert by_uuid["id"] == uuid(catalog, 7)


def test_href_is_the_spotify_url_converting_an_id(http: httpx.Client, catalog: Catalog) -> None:
    """ "A track's or artist's `href` is its Spotify URL, which ends in the Spotify ID ...
    converting a Spotify track ID into a ReccoBeats ID means looking it up with `GET /v1/track`
    and matching the results by `href`." **[doc]**"""
    asked = [catalog.unknown_spotify_id(2), *seeds(catalog, 4, start=50)]
    tracks = content(http, "/v1/track", {"ids": asked})
    converted = {t["href"].removeprefix(SPOTIFY_TRACK): t["id"] for t in tracks}
    assert converted == {s: uuid(catalog, 50 + i) for i, s in enumerate(asked[1:])}
    for track in tracks:
        (artist,) = track["artists"]
        spotify_artist = artist["href"].removeprefix("https://open.spotify.com/artist/")
        assert SPOTIFY_ID.match(spotify_artist)
        assert content(http, "/v1/artist", {"ids": [spotify_artist]}) == [artist]


def test_real_spotify_ids_about_85_percent_known(http: httpx.Client, catalog: Catalog) -> None:
    """ "Many Spotify IDs are unknown to ReccoBeats: about 15 % of real track IDs [obs]. A lookup
    simply leaves them out; a single-ID audio-features request for one is a `404`." Forty
    well-known tracks' IDs, over HTTP: the same ones resolve as in-process, each to a track
    whose `href` is that ID's Spotify URL."""
    assert len(REAL) == 40
    rows = content(http, "/v1/audio-features", {"ids": REAL})
    tracks = content(http, "/v1/track", {"ids": REAL})
    resolved = [t["href"].removeprefix(SPOTIFY_TRACK) for t in tracks]
    assert 0.70 <= len(resolved) / len(REAL) <= 0.97
    in_process = [s for s in REAL if catalog.track_index(s) is not None]
    assert resolved == in_process == KNOWN_AT_SEED_7
    assert [r["href"] for r in rows] == [t["href"] for t in tracks]
    assert [r["id"] for r in rows] == [t["id"] for t in tracks]
    unknown = sorted(set(REAL) - set(resolved))[0]
    assert http.get(f"/v1/track/{unknown}/audio-features").status_code == 404
    assert http.get(f"/v1/track/{resolved[0]}/audio-features").status_code == 200


# ## Response shapes ---------------------------------------------------------------------------
def test_a_tracks_shape(http: httpx.Client, catalog: Catalog) -> None:
    """ "**track**: `id` (ReccoBeats UUID), `trackTitle`, `artists` (a list of artists),
    `durationMs` (integer), `isrc`, `ean`, `upc` (strings, possibly empty or null), `href` (the
    track's Spotify URL), `availableCountries` (a comma-separated string of country codes),
    `popularity` (0..100)" **[doc]**; "Field names are camelCase"."""
    for track in content(http, "/v1/track", {"ids": seeds(catalog, 10)}):
        assert set(track) == TRACK_FIELDS
        assert UUID.match(track["id"]) and isinstance(track["trackTitle"], str)
        assert isinstance(track["artists"], list) and track["artists"]
        assert isinstance(track["durationMs"], int) and track["durationMs"] > 0
        assert all(track[f] is None or isinstance(track[f], str) for f in ("isrc", "ean", "upc"))
        assert SPOTIFY_ID.match(track["href"].removeprefix(SPOTIFY_TRACK))
        assert re.fullmatch(r"[A-Z]{2}(,[A-Z]{2})*", track["availableCountries"])
        assert isinstance(track["popularity"], int) and 0 <= track["popularity"] <= 100


def test_an_artists_shape(http: httpx.Client, catalog: Catalog) -> None:
    """ "**artist**: `id` (ReccoBeats UUID), `name`, `href` (the artist's Spotify URL)"
    **[doc]**."""
    for artist in content(http, "/v1/artist", {"ids": [catalog.artist_uuid(a) for a in range(5)]}):
        assert set(artist) == {"id", "name", "href"}
        assert UUID.match(artist["id"]) and isinstance(artist["name"], str) and artist["name"]
        assert re.fullmatch(r"https://open\.spotify\.com/artist/[0-9A-Za-z]{22}", artist["href"])


def test_audio_features_shape(http: httpx.Client, catalog: Catalog) -> None:
    """ "**audio features**: `id`, `href`, `acousticness`, `danceability`, `energy`,
    `instrumentalness`, `liveness`, `speechiness`, `valence` (0..1), `key` (-1..11), `loudness`
    (dB), `mode` (0 or 1), `tempo` (BPM)" **[doc]**; no `time_signature` **[obs]**. (The live
    rows also carry `isrc` **[obs]**; the simulator's do not: "What the simulator models".)"""
    for row in content(http, "/v1/audio-features", {"ids": seeds(catalog, 10)}):
        assert set(row) == FEATURE_FIELDS  # no time_signature, no isrc
        assert UUID.match(row["id"]) and row["href"].startswith(SPOTIFY_TRACK)
        for unit in FEATURE_FIELDS - {"id", "href", "key", "loudness", "mode", "tempo"}:
            assert 0.0 <= row[unit] <= 1.0, unit
        assert isinstance(row["key"], int) and -1 <= row["key"] <= 11
        assert row["mode"] in (0, 1)
        assert isinstance(row["loudness"], float) and row["tempo"] >= 0


def test_an_albums_shape(http: httpx.Client, sim: RecoBeatSimulator) -> None:
    """ "**album** [assumed]: `id` (ReccoBeats UUID), `albumTitle`, `artists` (a list of
    artists), `releaseDate` (`YYYY-MM-DD`), `totalTracks` (integer), `href` (the album's
    Spotify URL), `availableCountries` (a comma-separated string of country codes),
    `popularity` (0..100)."""
    for album in content(http, "/v1/album", {"ids": [sim.api.albums.uuid(g) for g in range(5)]}):
        assert set(album) == ALBUM_FIELDS
        assert UUID.match(album["id"]) and isinstance(album["albumTitle"], str)
        assert [set(a) for a in album["artists"]] == [{"id", "name", "href"}]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", album["releaseDate"])
        assert isinstance(album["totalTracks"], int) and album["totalTracks"] >= 1
        assert re.fullmatch(r"https://open\.spotify\.com/album/[0-9A-Za-z]{22}", album["href"])
        assert re.fullmatch(r"[A-Z]{2}(,[A-Z]{2})*", album["availableCountries"])
        assert 0 <= album["popularity"] <= 100


def test_envelopes(http: httpx.Client, sim: RecoBeatSimulator, catalog: Catalog) -> None:
    """ "**envelopes**: lists come as `{"content": [...]}`; searches and an artist's tracks as a
    page with `page`, `size`, `totalElements` and `totalPages` [doc] (an album's tracks and an
    artist's albums too [assumed])."""
    ids = {"ids": seeds(catalog, 2)}
    for path in ("/v1/track", "/v1/audio-features"):
        assert set(ok(http, path, ids)) == {"content"}
    assert set(ok(http, RECOMMENDATION, {"size": 2, "seeds": ids["ids"]})) == {"content"}
    assert set(ok(http, "/v1/artist", {"ids": [catalog.artist_uuid(0)]})) == {"content"}
    assert set(ok(http, "/v1/album", {"ids": [sim.api.albums.uuid(0)]})) == {"content"}
    artist, album = catalog.artist_uuid(0), sim.api.albums.uuid(0)
    for path in (f"/v1/artist/{artist}/track", f"/v1/artist/{artist}/album"):
        assert set(ok(http, path)) == PAGE_FIELDS
    assert set(ok(http, f"/v1/album/{album}/track")) == PAGE_FIELDS
    assert set(ok(http, "/v1/artist/search", {"searchText": "a"})) == PAGE_FIELDS


# ## Statuses and error bodies -----------------------------------------------------------------
def test_a_parameter_out_of_range_is_a_400_with_the_live_body(
    http: httpx.Client, catalog: Catalog
) -> None:
    """ "A parameter outside its range (`size` 0 or 101, six seeds, 41 IDs, `energy` 1.5, a
    malformed ID) is a `400` with a JSON body" **[doc]**, of the observed shape `{"status":
    4004, "errors": [{"message": ...}]}` **[obs]**; "The messages name the parameter and the
    rule: `ids: size must be between 1 and 40, got 41`" **[assumed]**."""
    seed = seeds(catalog, 1)
    cases = [
        (RECOMMENDATION, {"size": 0, "seeds": seed}, "size"),
        (RECOMMENDATION, {"size": 101, "seeds": seed}, "size"),
        (RECOMMENDATION, {"size": 5, "seeds": seeds(catalog, 6)}, "seeds"),
        ("/v1/track", {"ids": seeds(catalog, 41)}, "ids"),
        (RECOMMENDATION, {"size": 5, "seeds": seed, "energy": 1.5}, "energy"),
        ("/v1/track", {"ids": ["not-an-id"]}, "ids"),
    ]
    for path, params, parameter in cases:
        assert bad(http, path, params).startswith(f"{parameter}: "), (path, params)


def test_every_error_body_has_the_live_shape_and_code(http: httpx.Client, catalog: Catalog) -> None:
    """ "Every error body the simulator sends has that shape, one message in the list, and the
    codes follow one rule [assumed] ... the HTTP status times ten plus a detail digit": `4004`
    a failed validation, `4040` an unknown path or an unknown track, artist or album, `4050`
    another method. (`4290` and `4291`: "Rate limiting" below.)"""
    cases = [
        (http.get("/v1/track", params={"ids": "x"}), 400, 4004),
        (http.get("/v1/nothing"), 404, 4040),
        (http.get(f"/v1/track/{catalog.unknown_uuid(3)}/audio-features"), 404, 4040),
        (http.get(f"/v1/artist/{catalog.unknown_artist_spotify_id(3)}/track"), 404, 4040),
        (http.get(f"/v1/album/{catalog.unknown_uuid(3)}/track"), 404, 4040),
        (http.post("/v1/track", params={"ids": spotify(catalog, 0)}), 405, 4050),
    ]
    for response, status, code in cases:
        assert response.status_code == status
        error_message(response, code)


def test_reason_phrases_over_http1(
    http: httpx.Client, limited: httpx.Client, catalog: Catalog
) -> None:
    """ "Responses over HTTP/1.1 carry the standard reason phrase in the status line
    (`HTTP/1.1 400 Bad Request`, `404 Not Found`, `429 Too Many Requests`, `503 Service
    Unavailable`)" **[assumed]**."""
    responses = [
        http.get("/v1/track", params={"ids": spotify(catalog, 0)}),
        http.get("/v1/track", params={"ids": "x"}),
        http.get("/v1/nothing"),
        http.post("/v1/track"),
    ]
    headers = {"X-Client-Id": "phrases"}
    responses += [limited.get("/v1/artist/search", params={"searchText": "a"}, headers=headers)]
    responses += [limited.get("/v1/track", params={"ids": "x"}, headers=headers) for _ in range(3)]
    statuses = [r.status_code for r in responses]
    assert statuses[:5] == [200, 400, 404, 405, responses[4].status_code]
    assert responses[4].status_code in (500, 502, 503, 504) and statuses[-1] == 429
    for response in responses:
        assert response.http_version == "HTTP/1.1"
        assert response.reason_phrase == HTTPStatus(response.status_code).phrase


# ## Rate limiting -----------------------------------------------------------------------------
def test_over_the_limit_is_a_429_with_retry_after(limited: httpx.Client, catalog: Catalog) -> None:
    """ "Exceeding them gives `429 Too Many Requests` with a `Retry-After` header: how long to
    wait before the next request" **[doc]**; "The limit is per client ..., and `Retry-After` is a
    number of seconds" **[assumed]** (the simulator: "the exact wait rounded up to whole seconds
    (at least 1)"; `x-ratelimit-reset-after` to the millisecond). Limit here: 3 per 60 s."""
    me, other = {"X-Client-Id": "over-the-limit"}, {"X-Client-Id": "someone-else"}
    params = {"ids": spotify(catalog, 0)}
    assert [limited.get("/v1/track", params=params, headers=me).status_code for _ in range(3)] == [
        200
    ] * 3
    refused = limited.get("/v1/track", params=params, headers=me)
    assert refused.status_code == 429
    error_message(refused, 4290)
    retry_after = int(refused.headers["retry-after"])
    exact = float(refused.headers["x-ratelimit-reset-after"])
    assert 1 <= retry_after == max(1, math.ceil(exact)) and 30 < exact <= 60
    assert limited.get("/v1/track", params=params, headers=other).status_code == 200


def test_a_client_that_floods_is_blocked_temporarily(
    limited: httpx.Client, catalog: Catalog
) -> None:
    """ "A client that floods the API may be blocked temporarily" **[doc]**; the simulator's
    penalty box: requests sent during a `Retry-After` are strikes, and `strikes` of them in a
    row block the client for `block` seconds (here 2 strikes, 60 s), with the code `4291`."""
    me = {"X-Client-Id": "flooder"}
    params = {"ids": spotify(catalog, 0)}
    statuses = [limited.get("/v1/track", params=params, headers=me) for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429, 429]
    error_message(statuses[3], 4290)  # announces the wait
    error_message(statuses[4], 4290)  # strike 1
    error_message(statuses[5], 4291)  # strike 2: blocked
    assert statuses[5].headers["retry-after"] == "60"
    blocked = limited.get("/v1/track", params=params, headers=me)
    assert blocked.status_code == 429 and error_message(blocked, 4291)


# ## Validation --------------------------------------------------------------------------------
def test_a_missing_required_parameter_is_a_400(http: httpx.Client, catalog: Catalog) -> None:
    """ "A request breaks a rule when [doc] a required parameter is missing": `size` and `seeds`
    of a recommendation, `ids` of a lookup, `searchText` of a search."""
    seed = seeds(catalog, 1)
    assert "'size'" in bad(http, RECOMMENDATION, {"seeds": seed})
    assert "'seeds'" in bad(http, RECOMMENDATION, {"size": 5})
    for path in ("/v1/track", "/v1/audio-features", "/v1/artist", "/v1/album"):
        assert "'ids'" in bad(http, path)
    assert "'searchText'" in bad(http, "/v1/artist/search", {"searchText": ""})


def test_a_malformed_id_in_a_path_or_a_list_is_a_400(http: httpx.Client, catalog: Catalog) -> None:
    """ "... or an ID is malformed, in a path or in a list (a ReccoBeats UUID or a 22-character
    Spotify ID ...)" **[doc]**."""
    malformed = [
        "x",
        spotify(catalog, 0)[:21],  # 21 characters
        spotify(catalog, 0) + "a",  # 23 characters
        spotify(catalog, 0)[:21] + "-",  # not base 62
        uuid(catalog, 0)[:-1],  # a UUID one digit short
        uuid(catalog, 0).replace("-", ""),  # no dashes
    ]
    for value in malformed:
        assert "malformed ID" in bad(http, "/v1/track", {"ids": [spotify(catalog, 1), value]})
        assert "malformed ID" in bad(http, RECOMMENDATION, {"size": 2, "seeds": value})
        assert "malformed ID" in bad(http, f"/v1/track/{value}/audio-features")
        assert "malformed ID" in bad(http, f"/v1/artist/{value}/track")


def test_empty_negative_seeds_are_a_400(http: httpx.Client, catalog: Catalog) -> None:
    """ "`negativeSeeds` is optional, but when given it holds 1..5 IDs [doc], so `negativeSeeds=`
    with no value is a `400` as well [assumed]"; "An ID that is both a seed and a negative seed
    (the same string) is a `400` [assumed]"."""
    seed = seeds(catalog, 1)
    assert "negativeSeeds" in bad(
        http, RECOMMENDATION, {"size": 2, "seeds": seed, "negativeSeeds": ""}
    )
    assert "negativeSeeds" in bad(
        http, RECOMMENDATION, {"size": 2, "seeds": seed, "negativeSeeds": seed}
    )


# ## What the simulator models ------------------------------------------------------------------
def test_other_paths_are_404_and_other_methods_405(http: httpx.Client) -> None:
    """ "the seven `GET` endpoints ...: yes, every parameter range checked; other paths are
    `404`, other methods `405`"."""
    for path in ("/", "/v1", "/v1/tracks", "/v2/track", "/v1/track/x/features"):
        response = http.get(path)
        assert response.status_code == 404, path
        error_message(response, 4040)
    for method in ("POST", "PUT", "DELETE"):
        response = http.request(method, "/v1/audio-features")
        assert response.status_code == 405, method
        error_message(response, 4050)


def test_list_responses_keep_request_order_without_duplicates(
    http: httpx.Client, catalog: Catalog
) -> None:
    """ "unknown IDs left out of list responses; a single unknown track or artist is `404`: yes
    (list responses keep request order, without duplicates)"."""
    a, b, c = seeds(catalog, 3, start=20)
    asked = [c, catalog.unknown_spotify_id(4), a, uuid(catalog, 22), b, a]
    tracks = content(http, "/v1/track", {"ids": asked})
    assert [t["href"].removeprefix(SPOTIFY_TRACK) for t in tracks] == [c, a, b]
    response = http.get(f"/v1/artist/{catalog.unknown_artist_spotify_id(5)}/track")
    assert response.status_code == 404


def test_the_client_is_x_client_id_else_the_peer(
    http: httpx.Client, sim: RecoBeatSimulator, catalog: Catalog
) -> None:
    """ "per-client limits: the client is the `X-Client-Id` header ..., else the peer
    address"."""
    params = {"ids": spotify(catalog, 0)}
    http.get("/v1/track", params=params, headers={"X-Client-Id": "contract-me"})
    http.get("/v1/track", params=params)
    assert [r.client for r in sim.log.records()[-2:]] == ["contract-me", "127.0.0.1"]
