"""The open ID space: every well-formed Spotify ID is known to the simulator, or deterministically
is not; search answers any text with artists that resolve by ID afterwards."""

from __future__ import annotations

import math
from urllib.parse import urlencode

import httpx
import msgspec
import pytest

from engine.config import ConfigError
from simulator import Catalog, CatalogConfig, RecoBeatApi, Request, SimulatorTransport
from simulator.upstream.ids import OPEN_SPACE, spotify_text, spotify_value

# Well-known tracks' Spotify IDs (the Rick Astley, The Killers, Ed Sheeran, The Weeknd, ... hits).
REAL = [
    "4uLU6hMCjMI75M1A2tKUQC",
    "3n3Ppam7vgaVa1iaRUc9Lp",
    "7qiZfU4dY1lWllzX7mPBI3",
    "0VjIjW4GlUZAMYd2vXMi3b",
    "11dFghVXANMlKmJXsNCbNl",
    "4iV5W9uYEdYUVa79Axb7Rh",
    "1301WleyT98MSxVHPZCA6M",
    "3AJwUDP919kvQ9QcozQPxg",
    "0nrRP2bk19rLc0orkWPQk2",
    "5ghIJDpPoe3CfHMGu71E6T",
    "6habFhsOp2NvshLv26DqMb",
    "1zi7xx7UVEFkmKfv06H8x0",
    "7qEHsqek33rTcFNT9PFqLf",
    "0e7ipj03S05BNilyu5bRzt",
    "6UelLqGlWMcVH1E5c4H7lY",
    "3KkXRkHbMCARz0aVfEt68P",
    "2XU0oxnq2qxCpomAAuJY8K",
    "0pqnGHJpmpxLKifKRmU6WP",
    "5QO79kh1waicV47BqGRL3g",
    "7MXVkk9YMctZqd1Srtv4MB",
    "2Fxmhks0bxGSBdJ92vM42m",
    "4Dvkj6JhhA12EX05fT7y2e",
    "1mea3bSkSGXuIRvnydlB5b",
    "7BKLCZ1jbUBVqRi2FVlTVw",
    "0tgVpDi06FyKpA1z0VMD4v",
    "6DCZcSspjsKoFjzjrWoCdn",
    "5CQ30WqJwcep0pYcV4AMNc",
    "7tFiyTwD0nx5a1eklYtX2J",
    "3z8h0TU7ReDPLIbEnYhWZb",
    "40riOy7x9W7GXjyGp4pjAv",
    "57bgtoPSgt236HzfBOd8kj",
    "08mG3Y1vljYA6bvDt4Wqkj",
    "2374M0fQpWi3dLnB54qaLX",
    "0DiWol3AO6WpXZgp0goxAV",
    "2Foc5Q5nqNiosCNqttzHof",
    "3ZCTVFBt2Brf31RLEnCkWJ",
    "1rqqCSm0Qe4I9rUvWncaom",
    "7ouMYWpwJ422jRcDASZB7P",
    "2takcwOaAZWiXQijPHIx7B",
    "3DamFFqW32WihKkTVlwTYQ",
]
#: Those the session catalog (seed 7) does not know: a change here changes which IDs replays know.
UNKNOWN_AT_SEED_7 = {
    "4uLU6hMCjMI75M1A2tKUQC",
    "3n3Ppam7vgaVa1iaRUc9Lp",
    "1301WleyT98MSxVHPZCA6M",
    "5ghIJDpPoe3CfHMGu71E6T",
    "3KkXRkHbMCARz0aVfEt68P",
    "7BKLCZ1jbUBVqRi2FVlTVw",
    "40riOy7x9W7GXjyGp4pjAv",
    "7ouMYWpwJ422jRcDASZB7P",
    "2takcwOaAZWiXQijPHIx7B",
}
KNOWN_AT_SEED_7 = [s for s in REAL if s not in UNKNOWN_AT_SEED_7]
SEARCHES = ["chill", "happy", "Taylor Swift"]


@pytest.fixture(scope="module")
def api(catalog: Catalog) -> RecoBeatApi:
    return RecoBeatApi(catalog)


def get(api: RecoBeatApi, path: str, params: object = ()) -> tuple[int, object]:
    query = urlencode(params, doseq=True)  # type: ignore[arg-type]
    response = api.handle(Request("GET", path, query))
    return response.status, msgspec.json.decode(response.body)


def content(api: RecoBeatApi, path: str, ids: list[str]) -> list[dict[str, object]]:
    status, body = get(api, path, {"ids": ids})
    assert status == 200, body
    return body["content"]  # type: ignore[index,no-any-return]


def known_set(catalog: Catalog) -> set[str]:
    return {s for s in REAL if catalog.track_index(s) is not None}


def test_spotify_ids_are_base_62_of_128_bit_values() -> None:
    # Spotify's digits are 0-9, a-z, A-Z (the example of the rb62 crate's README).
    assert f"{spotify_value('6GGODyP2LIdbxIfYxy5UbN'):032x}" == "dbc3d5ebe344484da3e2448712a02213"
    assert all(spotify_value(s) is not None for s in REAL)  # every real one is below 2**128
    assert spotify_text(OPEN_SPACE - 1) == "7N42dgm5tFLK9N8MT7fHC7"
    assert spotify_value(spotify_text(OPEN_SPACE)) is None
    assert spotify_value("zzzzzzzzzzzzzzzzzzzzzz") is None


def test_about_85_percent_of_real_ids_are_known_and_which_is_fixed(catalog: Catalog) -> None:
    known = known_set(catalog)
    assert 0.70 <= len(known) / len(REAL) <= 0.97
    assert known == set(KNOWN_AT_SEED_7)
    assert catalog.config.unknown_share == 0.15


def test_known_ids_resolve_alike_on_every_endpoint(api: RecoBeatApi) -> None:
    tracks = content(api, "/v1/track", REAL)
    assert [t["href"] for t in tracks] == [
        f"https://open.spotify.com/track/{s}" for s in KNOWN_AT_SEED_7
    ]
    uuids = [str(t["id"]) for t in tracks]
    assert len(set(uuids)) == len(uuids)
    assert content(api, "/v1/track", uuids) == tracks  # the UUID maps back to the same track
    by_spotify = content(api, "/v1/audio-features", REAL)
    assert content(api, "/v1/audio-features", uuids) == by_spotify
    assert [f["href"] for f in by_spotify] == [t["href"] for t in tracks]
    assert [f["id"] for f in by_spotify] == uuids
    for spotify, uuid, features in zip(KNOWN_AT_SEED_7, uuids, by_spotify, strict=True):
        assert get(api, f"/v1/track/{spotify}/audio-features") == (200, features)
        assert get(api, f"/v1/track/{uuid}/audio-features") == (200, features)
    for track in tracks:
        (artist,) = track["artists"]  # type: ignore[misc]
        assert content(api, "/v1/artist", [artist["id"]]) == [artist]
        assert content(api, "/v1/artist", [artist["href"][-22:]]) == [artist]
        status, page = get(api, f"/v1/artist/{artist['id']}/track")
        assert status == 200 and track in page["content"]  # type: ignore[index,operator]


def test_unknown_ids_are_unknown_on_every_endpoint(api: RecoBeatApi, catalog: Catalog) -> None:
    unknown = sorted(UNKNOWN_AT_SEED_7)
    beyond = [spotify_text(OPEN_SPACE), spotify_text(OPEN_SPACE + 12345), "z" * 22]
    for spotify in unknown + beyond:
        assert catalog.track_index(spotify) is None
        assert content(api, "/v1/track", [spotify]) == []
        assert content(api, "/v1/audio-features", [spotify]) == []
        assert get(api, f"/v1/track/{spotify}/audio-features")[0] == 404
    for spotify in beyond:  # no real ID is 2**128 or more: unknown as an artist too
        assert content(api, "/v1/artist", [spotify]) == []
        assert get(api, f"/v1/artist/{spotify}/track")[0] == 404
    for n in range(20):
        assert catalog.track_index(catalog.unknown_spotify_id(n)) is None
        assert catalog.track_index(catalog.unknown_uuid(n)) is None
        assert catalog.artist_index(catalog.unknown_artist_spotify_id(n)) is None
    assert len({catalog.unknown_spotify_id(n) for n in range(200)}) == 200


def test_no_stored_state_a_new_simulator_resolves_the_same(api: RecoBeatApi) -> None:
    fresh = RecoBeatApi(Catalog(api.catalog.config, seed=api.catalog.seed))
    tracks = content(api, "/v1/track", REAL)
    uuids = [str(t["id"]) for t in tracks]
    assert content(fresh, "/v1/track", uuids) == tracks  # UUIDs issued by the other instance
    assert content(fresh, "/v1/audio-features", REAL) == content(api, "/v1/audio-features", REAL)


def test_another_seed_knows_other_ids_deterministically(catalog: Catalog) -> None:
    other = Catalog(catalog.config, seed=8)
    again = Catalog(catalog.config, seed=8)
    assert known_set(other) == known_set(again) != known_set(catalog)
    assert 0.70 <= len(known_set(other)) / len(REAL) <= 0.97
    both = sorted(known_set(other) & known_set(catalog))
    assert both
    for spotify in both:
        mine, theirs = catalog.track_index(spotify), other.track_index(spotify)
        assert mine is not None and theirs is not None
        assert catalog.track(mine).id != other.track(theirs).id
        assert other.track(theirs) == again.track(theirs)


def test_unknown_share_is_configurable(catalog: Catalog) -> None:
    everything = Catalog(CatalogConfig(tracks=1000, materialised=100, unknown_share=0.0), seed=7)
    assert known_set(everything) == set(REAL)
    nothing = Catalog(CatalogConfig(tracks=1000, materialised=100, unknown_share=1.0), seed=7)
    assert known_set(nothing) == set()
    assert nothing.track_index(nothing.spotify_id(5)) == 5  # the catalog's own stay known
    assert everything.track_index(everything.unknown_spotify_id(3)) is None  # >= 2**128
    with pytest.raises(ValueError, match="unknown_share"):
        everything.unknown_uuid(0)
    with pytest.raises(ConfigError, match=r"unknown_share"):
        CatalogConfig(unknown_share=1.5)


def test_open_space_seeds_recommend_catalog_tracks(api: RecoBeatApi, catalog: Catalog) -> None:
    seeds = KNOWN_AT_SEED_7[:5]
    params = {"size": 20, "seeds": seeds}
    status, body = get(api, "/v1/track/recommendation", params)
    assert status == 200
    found = body["content"]  # type: ignore[index]
    assert len(found) == 20
    for track in found:
        index = catalog.track_index(track["id"])
        assert index is not None and index < catalog.tracks
    assert get(api, "/v1/track/recommendation", params) == (status, body)
    unknown = {"size": 5, "seeds": sorted(UNKNOWN_AT_SEED_7)[:5]}
    assert get(api, "/v1/track/recommendation", unknown) == (200, {"content": []})


@pytest.mark.parametrize("text", SEARCHES)
def test_search_derives_artists_from_any_text(api: RecoBeatApi, text: str) -> None:
    path = "/v1/artist/search"
    status, whole = get(api, path, {"searchText": text, "size": 50})
    assert status == 200
    artists = whole["content"]  # type: ignore[index]
    total = whole["totalElements"]  # type: ignore[index]
    assert 1 <= len(artists) == total <= 50 and whole["totalPages"] == 1  # type: ignore[index]
    assert all(text.lower() in a["name"].lower() for a in artists)
    if text == "Taylor Swift":
        assert artists[0]["name"] == "Taylor Swift"
    paged: list[object] = []
    for page in range(math.ceil(total / 2)):
        status, body = get(api, path, {"searchText": text, "size": 2, "page": page})
        assert status == 200 and body["totalElements"] == total  # type: ignore[index]
        assert body["totalPages"] == math.ceil(total / 2)  # type: ignore[index]
        paged.extend(body["content"])  # type: ignore[index]
    assert paged == artists
    ids = [a["id"] for a in artists]
    assert len(set(ids)) == len(ids)
    assert content(api, "/v1/artist", ids) == artists
    assert content(api, "/v1/artist", [a["href"][-22:] for a in artists]) == artists
    fresh = RecoBeatApi(Catalog(api.catalog.config, seed=api.catalog.seed))
    assert content(fresh, "/v1/artist", ids) == artists  # no stored state
    assert get(fresh, path, {"searchText": f"  {text.upper()} ", "size": 50})[1] == whole


def test_search_is_deterministic_per_seed(api: RecoBeatApi, catalog: Catalog) -> None:
    other = RecoBeatApi(Catalog(catalog.config, seed=8))
    for text in SEARCHES:
        mine = get(api, "/v1/artist/search", {"searchText": text})[1]
        theirs = get(other, "/v1/artist/search", {"searchText": text})[1]
        assert {a["id"] for a in mine["content"]}.isdisjoint(  # type: ignore[index]
            a["id"]
            for a in theirs["content"]  # type: ignore[index]
        )
    long = "a very long search text that fits no ID"
    assert get(api, "/v1/artist/search", {"searchText": long})[1]["content"] == []  # type: ignore[index]


@pytest.mark.anyio
async def test_real_ids_over_the_transport(make_simulator) -> None:  # type: ignore[no-untyped-def]
    sim = make_simulator()
    transport = SimulatorTransport(sim, client_id="c1")
    async with httpx.AsyncClient(transport=transport, base_url="http://recobeat.test") as http:
        response = await http.get("/v1/audio-features", params={"ids": REAL})
        assert response.status_code == 200
        rows = response.json()["content"]
        assert [row["href"][-22:] for row in rows] == KNOWN_AT_SEED_7
        unknown = sorted(UNKNOWN_AT_SEED_7)[0]
        response = await http.get(f"/v1/track/{unknown}/audio-features")
        assert response.status_code == 404
