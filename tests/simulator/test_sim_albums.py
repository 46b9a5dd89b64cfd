"""The album endpoints over albums derived from the catalog; one test over real HTTP."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import msgspec
import pytest

from engine.clock import SystemClock
from simulator import Catalog, RecoBeatApi, RecoBeatSimulator, Request
from simulator.upstream.albums import MAX_ALBUM_TRACKS, Albums

ALBUM_FIELDS = {
    "id": str,
    "albumTitle": str,
    "artists": list,
    "releaseDate": str,
    "totalTracks": int,
    "href": str,
    "availableCountries": str,
    "popularity": int,
}
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
#: Well-formed, but its value is past 2**128, which no Spotify ID has: no artist has it.
UNKNOWN_SPOTIFY = "z" * 22


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param  # the HTTP test runs in REAL time; the others are synchronous


@pytest.fixture(scope="module")
def api(catalog: Catalog) -> RecoBeatApi:
    return RecoBeatApi(catalog)


def get(api: RecoBeatApi, path: str, params: object = ()) -> tuple[int, object]:
    response = api.handle(Request("GET", path, urlencode(params, doseq=True)))  # type: ignore[arg-type]
    return response.status, msgspec.json.decode(response.body)


def test_an_artists_tracks_are_dealt_into_albums_of_at_most_14(catalog: Catalog) -> None:
    albums = Albums(catalog)
    assert albums.per_artist == 1  # 10 tracks an artist in the small catalog
    for artist in (0, 1, 17, catalog.artists - 1):
        tracks = [t for a in albums.artist_albums(artist) for t in albums.tracks(a)]
        assert sorted(tracks) == catalog.artist_tracks(artist)
        for album in albums.artist_albums(artist):
            assert 1 <= len(albums.tracks(album)) <= MAX_ALBUM_TRACKS
            assert all(albums.album_of(t) == album for t in albums.tracks(album))
    assert albums.artist_albums(catalog.artists) == []  # not one of the catalog's own


def test_albums_split_evenly_when_artists_have_more_tracks() -> None:
    from simulator import CatalogConfig

    big = Catalog(CatalogConfig(tracks=3_000, materialised=10, tracks_per_artist=30), seed=3)
    albums = Albums(big)
    assert albums.per_artist == 3
    sizes = [len(albums.tracks(a)) for a in albums.artist_albums(5)]
    assert sizes == [10, 10, 10]
    order = [t for a in albums.artist_albums(5) for t in albums.tracks(a)]
    assert order != sorted(order)  # dealt in a seeded order, not by popularity
    assert Albums(big).album(albums.artist_albums(5)[1]) == albums.album(albums.artist_albums(5)[1])


def test_album_shape_and_both_kinds_of_id(api: RecoBeatApi, catalog: Catalog) -> None:
    albums = api.albums
    a, b = albums.artist_albums(3)[0], albums.artist_albums(4)[0]
    ids = [albums.uuid(a), UNKNOWN_UUID, albums.spotify_id(b), albums.uuid(a)]
    status, body = get(api, "/v1/album", {"ids": ids})
    assert status == 200
    content = body["content"]  # type: ignore[index]
    assert [x["id"] for x in content] == [albums.uuid(a), albums.uuid(b)]  # request order, once
    album = content[0]
    assert set(album) == set(ALBUM_FIELDS)
    for name, kind in ALBUM_FIELDS.items():
        assert type(album[name]) is kind, name
    assert album["href"] == "https://open.spotify.com/album/" + albums.spotify_id(a)
    assert album["artists"] == [msgspec.to_builtins(catalog.artist(3))]
    tracks = [catalog.track(i) for i in albums.tracks(a)]
    assert album["totalTracks"] == len(tracks)
    assert album["albumTitle"] == tracks[0].track_title
    assert album["popularity"] == max(t.popularity for t in tracks)
    assert "1960-01-01" <= album["releaseDate"] <= "2024-12-31"
    assert len(album["releaseDate"]) == 10
    countries = set(album["availableCountries"].split(","))
    assert countries == {c for t in tracks for c in t.available_countries.split(",") if c}


def test_album_ids_bounds(api: RecoBeatApi) -> None:
    forty = [api.albums.uuid(i) for i in range(40)]
    assert len(get(api, "/v1/album", {"ids": forty})[1]["content"]) == 40  # type: ignore[index]
    status, body = get(api, "/v1/album", {"ids": [*forty, api.albums.uuid(40)]})
    assert (status, body) == (
        400,
        {"status": 4004, "errors": [{"message": "ids: size must be between 1 and 40, got 41"}]},
    )
    assert get(api, "/v1/album")[0] == 400
    assert get(api, "/v1/album", {"ids": "nope"})[0] == 400


def test_album_tracks_paged(api: RecoBeatApi, catalog: Catalog) -> None:
    album = api.albums.artist_albums(7)[0]
    tracks = api.albums.tracks(album)
    path = f"/v1/album/{api.albums.spotify_id(album)}/track"
    status, page = get(api, path, {"size": 4, "page": 1})
    assert status == 200
    assert set(page) == {"content", "page", "size", "totalElements", "totalPages"}  # type: ignore[arg-type]
    assert (page["page"], page["size"], page["totalElements"]) == (1, 4, len(tracks))  # type: ignore[index]
    assert page["totalPages"] == -(-len(tracks) // 4)  # type: ignore[index]
    assert [t["id"] for t in page["content"]] == [catalog.track_uuid(i) for i in tracks[4:8]]  # type: ignore[index]
    everything = get(api, path)[1]
    assert len(everything["content"]) == len(tracks) and everything["size"] == 25  # type: ignore[index]
    assert get(api, path, {"size": 51})[0] == 400
    assert get(api, path, {"page": 1001})[0] == 400
    assert get(api, f"/v1/album/{UNKNOWN_UUID}/track") == (
        404,
        {"status": 4040, "errors": [{"message": f"Album {UNKNOWN_UUID} not found"}]},
    )


def test_artist_albums_paged(api: RecoBeatApi, catalog: Catalog) -> None:
    artist = catalog.artist_of(3)
    path = f"/v1/artist/{catalog.artist_uuid(artist)}/album"
    status, page = get(api, path)
    assert status == 200
    expected = [api.albums.uuid(a) for a in api.albums.artist_albums(artist)]
    assert [a["id"] for a in page["content"]] == expected  # type: ignore[index]
    assert (page["totalElements"], page["totalPages"]) == (len(expected), 1)  # type: ignore[index]
    assert get(api, f"/v1/artist/{catalog.artist_spotify_id(artist)}/album")[1] == page
    assert get(api, path, {"size": 0})[0] == 400
    assert get(api, f"/v1/artist/{UNKNOWN_SPOTIFY}/album")[0] == 404


@pytest.mark.anyio
async def test_album_endpoints_over_http(catalog, quiet, serve_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = RecoBeatSimulator(quiet(), clock=SystemClock(), catalog=catalog)
    albums = sim.api.albums
    album = albums.artist_albums(2)[0]

    async def body(url: str) -> None:
        async with httpx.AsyncClient(base_url=url) as http:
            listed = await http.get("/v1/album", params={"ids": [albums.uuid(album)]})
            assert listed.status_code == 200
            assert listed.json()["content"][0]["albumTitle"] == albums.album(album).album_title
            tracks = await http.get(f"/v1/album/{albums.uuid(album)}/track", params={"size": 2})
            assert tracks.json()["totalElements"] == len(albums.tracks(album))
            by_artist = await http.get(f"/v1/artist/{catalog.artist_uuid(2)}/album")
            assert [a["id"] for a in by_artist.json()["content"]] == [albums.uuid(album)]
            missing = await http.get(f"/v1/album/{UNKNOWN_UUID}/track")
            assert (missing.status_code, missing.reason_phrase) == (404, "Not Found")

    await serve_simulator(sim, body)
    assert [r.endpoint for r in sim.log] == [
        "/v1/album",
        "/v1/album/{id}/track",
        "/v1/artist/{id}/album",
        "/v1/album/{id}/track",
    ]
