"""The endpoints against the reference: shapes, bounds, unknown IDs, recommendations."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec
import pytest

from simulator import Catalog, RecoBeatApi, Request

TRACK_FIELDS = {
    "id": str,
    "trackTitle": str,
    "artists": list,
    "durationMs": int,
    "isrc": str,
    "ean": str,
    "upc": str,
    "href": str,
    "availableCountries": str,
    "popularity": int,
}
FEATURE_FIELDS = {
    "id": str,
    "href": str,
    "acousticness": float,
    "danceability": float,
    "energy": float,
    "instrumentalness": float,
    "liveness": float,
    "speechiness": float,
    "valence": float,
    "key": int,
    "loudness": float,
    "mode": int,
    "tempo": float,
}


@pytest.fixture(scope="module")
def api(catalog: Catalog) -> RecoBeatApi:
    return RecoBeatApi(catalog)


def get(api: RecoBeatApi, path: str, params: object = ()) -> tuple[int, object]:
    query = urlencode(params, doseq=True)  # type: ignore[arg-type]
    response = api.handle(Request("GET", path, query))
    assert ("content-type", "application/json") in response.headers
    return response.status, msgspec.json.decode(response.body)


def assert_bad_request(api: RecoBeatApi, path: str, params: object, mentions: str) -> None:
    """A 400 in the live API's shape, ``{"status": 4004, "errors": [{"message"}]}``."""
    status, body = get(api, path, params)
    assert status == 400, body
    assert set(body) == {"status", "errors"} and body["status"] == 4004  # type: ignore[arg-type,index]
    [error] = body["errors"]  # type: ignore[index]
    assert set(error) == {"message"} and mentions in error["message"]


def assert_shape(obj: dict[str, object], fields: dict[str, type]) -> None:
    assert set(obj) == set(fields)
    for name, kind in fields.items():
        assert type(obj[name]) is kind or (kind is float and type(obj[name]) is int), name


def test_track_lookup_shape_and_both_id_kinds(api: RecoBeatApi, catalog: Catalog) -> None:
    ids = [catalog.spotify_id(3), catalog.track_uuid(4)]
    status, body = get(api, "/v1/track", {"ids": ids})
    assert status == 200
    content = body["content"]  # type: ignore[index]
    assert [t["id"] for t in content] == [catalog.track_uuid(3), catalog.track_uuid(4)]
    for track in content:
        assert_shape(track, TRACK_FIELDS)
        assert 0 <= track["popularity"] <= 100
        assert track["href"].startswith("https://open.spotify.com/track/")
        for artist in track["artists"]:
            assert set(artist) == {"id", "name", "href"}
            assert artist["href"].startswith("https://open.spotify.com/artist/")
    assert content[0]["href"].endswith(catalog.spotify_id(3))


def test_list_params_repeat_or_comma_separate_and_unknown_ids_are_absent(
    api: RecoBeatApi, catalog: Catalog
) -> None:
    a, b, unknown = catalog.spotify_id(1), catalog.spotify_id(2), catalog.unknown_spotify_id(9)
    repeated = get(api, "/v1/track", [("ids", a), ("ids", unknown), ("ids", b)])
    comma = get(api, "/v1/track", {"ids": f"{a},{unknown},{b}"})
    assert repeated == comma
    assert [t["href"][-22:] for t in repeated[1]["content"]] == [a, b]  # type: ignore[index]
    assert get(api, "/v1/track", {"ids": [unknown]}) == (200, {"content": []})
    assert len(get(api, "/v1/track", {"ids": [a, a, b]})[1]["content"]) == 2  # type: ignore[index]


def test_audio_features_single_and_multiple(api: RecoBeatApi, catalog: Catalog) -> None:
    status, single = get(api, f"/v1/track/{catalog.track_uuid(5)}/audio-features")
    assert status == 200
    assert_shape(single, FEATURE_FIELDS)  # type: ignore[arg-type]
    status, by_spotify = get(api, f"/v1/track/{catalog.spotify_id(5)}/audio-features")
    assert (status, by_spotify) == (200, single)
    status, many = get(
        api, "/v1/audio-features", {"ids": [catalog.spotify_id(5), catalog.spotify_id(6)]}
    )
    assert status == 200 and many["content"][0] == single  # type: ignore[index]
    status, missing = get(api, f"/v1/track/{catalog.unknown_spotify_id(1)}/audio-features")
    assert status == 404 and missing["status"] == 4040  # type: ignore[index]
    assert catalog.unknown_spotify_id(1) in missing["errors"][0]["message"]  # type: ignore[index]
    assert_bad_request(api, "/v1/track/not-an-id/audio-features", (), "malformed")


def test_multiple_audio_features_take_both_kinds_of_id_and_omit_unknown_ones(
    api: RecoBeatApi, catalog: Catalog
) -> None:
    """As the live API does: ReccoBeats and Spotify IDs mixed in one request, unknown IDs
    omitted, every row carrying its ``id`` and its Spotify ``href`` (how a row maps back to a
    Spotify ID asked for)."""
    asked = [
        catalog.track_uuid(1),
        catalog.spotify_id(2),
        catalog.unknown_spotify_id(3),
        catalog.spotify_id(4),
    ]
    status, many = get(api, "/v1/audio-features", {"ids": asked})
    assert status == 200
    rows = many["content"]  # type: ignore[index]
    assert len(rows) == 3
    for row in rows:
        assert_shape(row, FEATURE_FIELDS)
    by_href = {row["href"].rsplit("/", 1)[-1]: row for row in rows}
    assert set(by_href) == {catalog.spotify_id(i) for i in (1, 2, 4)}
    assert by_href[catalog.spotify_id(1)]["id"] == catalog.track_uuid(1)
    assert by_href[catalog.spotify_id(2)]["id"] == catalog.track_uuid(2)


@pytest.mark.parametrize("path", ["/v1/track", "/v1/audio-features", "/v1/artist"])
def test_ids_bounds(api: RecoBeatApi, catalog: Catalog, path: str) -> None:
    forty = [catalog.spotify_id(i) for i in range(40)]
    assert get(api, path, {"ids": forty})[0] == 200
    too_many = {"ids": [*forty, catalog.spotify_id(40)]}
    assert_bad_request(api, path, too_many, "size must be between 1 and 40")
    assert_bad_request(api, path, {}, "Required parameter 'ids'")
    assert_bad_request(api, path, {"ids": ""}, "Required parameter 'ids'")
    assert_bad_request(api, path, {"ids": [forty[0], "abc"]}, "malformed ID 'abc'")


def seeds(catalog: Catalog, n: int) -> list[str]:
    return [catalog.spotify_id(i) for i in range(10, 10 + n)]


@pytest.mark.parametrize(
    ("name", "ok", "bad"),
    [
        ("size", ["1", "100"], ["0", "101", "x", "1.5"]),
        ("energy", ["0", "1", "0.5"], ["-0.01", "1.5", "nan", "inf", "high"]),
        ("acousticness", ["0", "1"], ["1.01"]),
        ("danceability", ["0", "1"], ["-1"]),
        ("instrumentalness", ["0", "1"], ["2"]),
        ("liveness", ["0", "1"], ["1.0001"]),
        ("speechiness", ["0", "1"], ["-0.5"]),
        ("valence", ["0", "1"], ["1.1"]),
        ("key", ["-1", "11"], ["-2", "12", "C"]),
        ("loudness", ["-60", "2"], ["-60.1", "2.1"]),
        ("mode", ["0", "1"], ["-1", "2"]),
        ("tempo", ["0", "250"], ["-1", "250.5"]),
        ("popularity", ["0", "100"], ["-1", "101"]),
        ("featureWeight", ["1", "5"], ["0.99", "5.01"]),
    ],
)
def test_recommendation_parameter_bounds(
    api: RecoBeatApi, catalog: Catalog, name: str, ok: list[str], bad: list[str]
) -> None:
    base = {"size": "10", "seeds": seeds(catalog, 2)}
    for value in ok:
        assert get(api, "/v1/track/recommendation", {**base, name: value})[0] == 200, value
    for value in bad:
        assert_bad_request(api, "/v1/track/recommendation", {**base, name: value}, name)


def test_recommendation_seed_bounds(api: RecoBeatApi, catalog: Catalog) -> None:
    path = "/v1/track/recommendation"
    assert get(api, path, {"size": 5, "seeds": seeds(catalog, 5)})[0] == 200
    six = {"size": 5, "seeds": seeds(catalog, 6)}
    assert_bad_request(api, path, six, "seeds: size must be between 1 and 5")
    assert_bad_request(api, path, {"size": 5}, "Required parameter 'seeds'")
    assert_bad_request(api, path, {"seeds": seeds(catalog, 1)}, "Required parameter 'size'")
    negative = [catalog.spotify_id(i) for i in range(20, 26)]  # none of them a seed
    ok = {"size": 5, "seeds": seeds(catalog, 1), "negativeSeeds": negative[:5]}
    assert get(api, path, ok)[0] == 200
    too_many = {**ok, "negativeSeeds": negative}
    assert_bad_request(api, path, too_many, "negativeSeeds: size must be between 1 and 5")


def test_recommendations_are_deterministic_and_ignore_seed_order(
    api: RecoBeatApi, catalog: Catalog
) -> None:
    s = seeds(catalog, 3)
    path = "/v1/track/recommendation"
    first = get(api, path, {"size": 30, "seeds": s, "valence": 0.3})
    assert first == get(api, path, {"size": 30, "seeds": s[::-1], "valence": 0.3})
    assert first == get(api, path, {"size": 30, "seeds": ",".join(s), "valence": 0.3})
    content = first[1]["content"]  # type: ignore[index]
    ids = [t["id"] for t in content]
    assert len(ids) == 30 == len(set(ids))
    assert not {catalog.track_uuid(i) for i in range(10, 13)} & set(ids)
    other = get(api, path, {"size": 30, "seeds": seeds(catalog, 4)[1:], "valence": 0.3})
    assert other != first  # other seeds, other list


def test_recommendations_follow_the_energy_target(api: RecoBeatApi, catalog: Catalog) -> None:
    def mean_energy(target: float) -> float:
        status, body = get(
            api,
            "/v1/track/recommendation",
            {"size": 50, "seeds": seeds(catalog, 3), "energy": target},
        )
        assert status == 200
        energies = [
            catalog.audio_features(catalog.track_index(t["id"])).energy for t in body["content"]
        ]  # type: ignore[index,arg-type]
        return sum(energies) / len(energies)

    high, low = mean_energy(0.95), mean_energy(0.05)
    assert high > 0.75 and low < 0.35 and high - low > 0.5


def test_recommendations_avoid_negative_seeds_and_unknown_seeds_give_nothing(
    api: RecoBeatApi, catalog: Catalog
) -> None:
    path = "/v1/track/recommendation"
    base = {"size": 100, "seeds": seeds(catalog, 2)}
    plain = [t["id"] for t in get(api, path, base)[1]["content"]]  # type: ignore[index]
    negative = [catalog.track_uuid(catalog.track_index(plain[0]) or 0)]  # type: ignore[arg-type]
    pushed = [t["id"] for t in get(api, path, {**base, "negativeSeeds": negative})[1]["content"]]  # type: ignore[index]
    assert plain[0] not in pushed
    unknown = {"size": 10, "seeds": [catalog.unknown_spotify_id(1)]}
    assert get(api, path, unknown) == (200, {"content": []})


def test_artist_search_paging_and_bounds(api: RecoBeatApi, catalog: Catalog) -> None:
    path = "/v1/artist/search"
    status, page0 = get(api, path, {"searchText": "a", "size": 5})
    assert status == 200
    assert set(page0) == {"content", "page", "size", "totalElements", "totalPages"}  # type: ignore[arg-type]
    total = page0["totalElements"]  # type: ignore[index]
    assert total > 5 and page0["totalPages"] == -(-total // 5)  # type: ignore[index]
    page1 = get(api, path, {"searchText": "a", "size": 5, "page": 1})[1]
    assert not {a["id"] for a in page0["content"]} & {a["id"] for a in page1["content"]}  # type: ignore[index]
    name = page0["content"][0]["name"]  # type: ignore[index]
    exact = get(api, path, {"searchText": name.upper()})[1]
    assert exact["content"][0]["name"] == name  # type: ignore[index]
    # No catalog artist matches: only artists derived from the text (test_sim_open_ids.py).
    derived = get(api, path, {"searchText": "zzqqxx"})[1]["content"]  # type: ignore[index]
    assert derived and all("zzqqxx" in a["name"].lower() for a in derived)
    assert get(api, path, {"searchText": "a", "page": 1000, "size": 50})[0] == 200
    assert_bad_request(api, path, {}, "searchText")
    assert_bad_request(api, path, {"searchText": "a" * 1001}, "1000")
    assert get(api, path, {"searchText": "a" * 1000})[0] == 200
    assert_bad_request(api, path, {"searchText": "a", "page": 1001}, "page")
    assert_bad_request(api, path, {"searchText": "a", "page": -1}, "page")
    assert_bad_request(api, path, {"searchText": "a", "size": 0}, "size")
    assert_bad_request(api, path, {"searchText": "a", "size": 51}, "size")


def test_artists_and_artist_tracks(api: RecoBeatApi, catalog: Catalog) -> None:
    artist = catalog.artist_of(3)
    status, body = get(api, "/v1/artist", {"ids": [catalog.artist_spotify_id(artist)]})
    assert status == 200 and body["content"][0]["id"] == catalog.artist_uuid(artist)  # type: ignore[index]
    path = f"/v1/artist/{catalog.artist_uuid(artist)}/track"
    status, page = get(api, path, {"size": 4})
    assert status == 200
    assert page["totalElements"] == 10 and page["totalPages"] == 3  # type: ignore[index]
    assert page["content"][0]["id"] == catalog.track_uuid(catalog.artist_tracks(artist)[0])  # type: ignore[index]
    assert len(get(api, path, {"size": 4, "page": 2})[1]["content"]) == 2  # type: ignore[index]
    assert_bad_request(api, path, {"size": 51}, "size")
    unknown = catalog.unknown_artist_spotify_id(2)
    assert get(api, f"/v1/artist/{unknown}/track")[0] == 404


def test_unknown_route_and_method(api: RecoBeatApi) -> None:
    assert get(api, "/v1/nothing")[0] == 404
    assert api.handle(Request("POST", "/v1/track", "ids=x")).status == 405
