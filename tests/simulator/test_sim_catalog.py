from __future__ import annotations

import collections
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import ConfigError
from recobeat.ids import is_reccobeats_id as is_uuid
from recobeat.ids import is_spotify_id
from simulator import Catalog, CatalogConfig, SeedPool
from simulator.upstream.ids import EntityIds, Feistel, IndexPermutation

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@given(st.integers(0, 2**48 - 1), st.integers(0, 2**64 - 1))
def test_feistel_is_a_bijection(x: int, key: int) -> None:
    f = Feistel(key, 48)
    y = f.encrypt(x)
    assert 0 <= y < 2**48
    assert f.decrypt(y) == x


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 1000])
def test_index_permutation_permutes_exactly_range_n(n: int) -> None:
    p = IndexPermutation(12345, n)
    image = [p.forward(i) for i in range(n)]
    assert sorted(image) == list(range(n))
    assert [p.inverse(y) for y in image] == list(range(n))


@given(st.integers(0, 999_999))
def test_ids_map_back_to_their_index(index: int) -> None:
    ids = EntityIds(seed=3, kind="track", count=1_000_000)
    uuid, spotify = ids.uuid(index), ids.spotify_id(index)
    assert UUID4.fullmatch(uuid)
    assert is_spotify_id(spotify) and len(spotify) == 22
    assert ids.index_of(uuid) == index
    assert ids.index_of(uuid.upper()) == index
    assert ids.index_of(spotify) == index


def test_foreign_malformed_and_out_of_range_ids_are_unknown() -> None:
    ids = EntityIds(seed=3, kind="track", count=1000)
    foreign = [ids.foreign_spotify_id(n) for n in range(2000)]
    assert all(is_spotify_id(f) for f in foreign)
    assert all(ids.index_of(f) is None for f in foreign)
    big = EntityIds(seed=3, kind="track", count=10_000)
    assert ids.index_of(big.uuid(5000)) is None  # well-formed, beyond this catalog
    assert ids.index_of(big.spotify_id(5000)) is None
    other_seed = EntityIds(seed=4, kind="track", count=1000)
    assert ids.index_of(other_seed.uuid(5)) is None
    artist = EntityIds(seed=3, kind="artist", count=1000)
    assert ids.index_of(artist.uuid(5)) is None
    for bad in ["", "x", "0" * 21, "!" * 22, "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"]:
        assert ids.index_of(bad) is None
    assert is_uuid(ids.uuid(1)) and not is_uuid(ids.spotify_id(1))


def test_catalog_is_a_function_of_its_seed(catalog: Catalog) -> None:
    same = Catalog(catalog.config, seed=catalog.seed)
    other = Catalog(catalog.config, seed=catalog.seed + 1)
    for i in (0, 1, 999, 150_000):
        assert same.track_json(i) == catalog.track_json(i)
        assert same.features_json(i) == catalog.features_json(i)
    assert other.track(0).id != catalog.track(0).id
    assert other.spotify_id(0) != catalog.spotify_id(0)
    assert [other.audio_features(i).energy for i in range(20)] != [
        catalog.audio_features(i).energy for i in range(20)
    ]


def test_track_and_features_ranges(catalog: Catalog) -> None:
    indices = [*range(300), *range(100_000, 100_300)]
    for i in indices:
        t, f = catalog.track(i), catalog.audio_features(i)
        assert catalog.track_index(t.id) == i
        assert t.href == f.href == f"https://open.spotify.com/track/{catalog.spotify_id(i)}"
        assert f.id == t.id
        for name in ("acousticness", "danceability", "energy", "instrumentalness"):
            assert 0.0 <= getattr(f, name) <= 1.0
        for name in ("liveness", "speechiness", "valence"):
            assert 0.0 <= getattr(f, name) <= 1.0
        assert -1 <= f.key <= 11 and f.mode in (0, 1)
        assert -60.0 <= f.loudness <= 2.0 and 0.0 < f.tempo <= 250.0
        assert 0 <= t.popularity <= 100 and 60_000 <= t.duration_ms <= 600_000
        assert len(t.isrc) == 12
        assert len(t.artists) == 1
        assert catalog.artist_index(t.artists[0].id) == catalog.artist_of(i)
    energies = [catalog.audio_features(i).energy for i in indices]
    assert 0.4 < sum(energies) / len(energies) < 0.75  # realistic, not uniform noise
    assert min(energies) < 0.2 and max(energies) > 0.9


def test_popularity_falls_with_rank(catalog: Catalog) -> None:
    assert catalog.popularity(0) >= 97
    ranks = [0, 10, 100, 1000, 10_000, 100_000, 199_999]
    pops = [catalog.popularity(r) for r in ranks]
    assert pops == sorted(pops, reverse=True)
    assert pops[-1] <= 3


def test_artist_tracks_are_the_artists_tracks(catalog: Catalog) -> None:
    for i in (0, 5, 777, 123_456):
        artist = catalog.artist_of(i)
        tracks = catalog.artist_tracks(artist)
        assert i in tracks and tracks == sorted(tracks)
        assert len(tracks) == 10
        assert all(catalog.artist_of(t) == artist for t in tracks)
        assert catalog.artist_index(catalog.artist_spotify_id(artist)) == artist


def test_seed_pool_is_deterministic_zipf_and_mixes_unknown_ids(catalog: Catalog) -> None:
    pool = SeedPool(catalog, size=10_000, unknown_share=0.15, seed=1)
    assert pool.draw("gen-1", 20) == SeedPool(catalog, size=10_000, seed=1).draw("gen-1", 20)
    assert pool.draw("gen-1", 20) != pool.draw("gen-2", 20)
    counts: collections.Counter[int | None] = collections.Counter()
    drawn = 0
    for g in range(400):
        ids = pool.draw(g, 10)
        assert len(set(ids)) == 10 and all(is_spotify_id(s) for s in ids)
        drawn += len(ids)
        counts.update(catalog.track_index(s) for s in ids)
    unknown_share = counts[None] / drawn
    assert 0.10 < unknown_share < 0.20
    assert counts[0] > counts[100] > 0 or counts[0] > 50
    assert max(k for k in counts if k is not None) < 10_000


def test_catalog_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"CatalogConfig\.materialised"):
        CatalogConfig(tracks=10, materialised=11)
    with pytest.raises(ConfigError, match=r"CatalogConfig\.tracks"):
        CatalogConfig(tracks=0)
    with pytest.raises(ConfigError, match=r"CatalogConfig\.tracks_per_artist"):
        CatalogConfig(tracks_per_artist=0)
