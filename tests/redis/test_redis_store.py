"""RedisStore on a real Redis and on the in-process twin: same semantics on both."""

from __future__ import annotations

import msgspec
import pytest
from conftest import FAST, Tier

from engine.cache.store import Entry
from engine.shared import RedisStore, TypeRegistry
from recobeat.models import Artist, AudioFeatures, Content, Page, Track
from tests.samples import ARTIST, FEATURES, TRACK

pytestmark = pytest.mark.anyio

TYPES = TypeRegistry(
    {
        "Track": Track,
        "Artist": Artist,
        "AudioFeatures": AudioFeatures,
        "Content[Track]": Content[Track],
        "Page[Artist]": Page[Artist],
        "Page[Track]": Page[Track],
    }
)


def store(tier: Tier, backend: object) -> RedisStore:
    return RedisStore(backend, clock=tier.clock, registry=TYPES, config=FAST)  # type: ignore[arg-type]


async def test_set_get_delete_and_get_many(tier: Tier) -> None:
    async with tier.connect() as backend:
        shared = store(tier, backend)
        now = tier.clock.wall()
        await shared.set("v1:ids:x", Entry("rb-1", now + 60))
        await shared.set("v1:ids:y", Entry(None, now + 30, missing=True))
        assert await shared.get("v1:ids:x") == Entry("rb-1", now + 60)
        assert await shared.get_many(["v1:ids:y", "v1:ids:nope", "v1:ids:x"]) == [
            Entry(None, now + 30, missing=True),
            None,
            Entry("rb-1", now + 60),
        ]
        await shared.delete("v1:ids:x")
        await shared.delete("v1:ids:never")
        assert await shared.get("v1:ids:x") is None
        stats = shared.stats()
        assert (stats.hits, stats.misses, stats.corrupt, stats.errors) == (3, 2, 0, 0)
        assert stats.latency.round_trips == 7


async def test_keys_are_prefixed_and_expiry_lives_in_the_value(tier: Tier) -> None:
    async with tier.connect() as backend:
        shared = store(tier, backend)
        past = tier.clock.wall() - 10  # already stale: the store keeps it, the facade judges
        await shared.set("v1:tracks:t1", Entry(TRACK, past))
        assert shared.key("v1:tracks:t1") == "test:v1:tracks:t1"
        (raw,) = await backend.get_many(["test:v1:tracks:t1"])
        assert raw is not None and b"Song" in raw
        assert await backend.get_many(["v1:tracks:t1"]) == [None]
        assert await shared.get("v1:tracks:t1") == Entry(TRACK, past)


async def test_model_types_round_trip_typed(tier: Tier) -> None:
    values = {
        "v1:tracks:t1": TRACK,
        "v1:tracks:{audioFeatures=t1}": FEATURES,
        "v1:recommendations:{seeds=[t1]}": Content(content=(TRACK,)),
        "v1:artists:a1": ARTIST,
        "v1:artists:{page=0}": Page(
            content=(ARTIST,), page=0, size=1, total_elements=1, total_pages=1
        ),
        "v1:tracks:{page=0}": Page(
            content=(TRACK,), page=0, size=1, total_elements=1, total_pages=1
        ),
        "v1:ids:sp1": "t1",
    }
    async with tier.connect() as backend:
        shared = store(tier, backend)
        expires = tier.clock.wall() + 60
        for key, value in values.items():
            await shared.set(key, Entry(value, expires))
        found = await shared.get_many(list(values))
        for (key, value), entry in zip(values.items(), found, strict=True):
            assert entry is not None, key
            assert entry.value == value and type(entry.value) is type(value), key
        page = found[4].value  # type: ignore[union-attr]
        assert type(page.content[0]) is Artist


async def test_unregistered_types_are_refused(tier: Tier) -> None:
    class Unknown(msgspec.Struct):
        x: int

    async with tier.connect() as backend:
        shared = store(tier, backend)
        with pytest.raises(TypeError):
            await shared.set("v1:tracks:u", Entry(Unknown(1), tier.clock.wall() + 60))
        assert await backend.get_many(["test:v1:tracks:u"]) == [None]


async def test_corrupt_values_are_misses_deleted_and_counted(tier: Tier) -> None:
    encode = msgspec.msgpack.encode
    wrong_schema = encode(("Track", msgspec.Raw(encode({"id": 1})), 2e9, False))
    unknown_tag = encode(("Pickle", msgspec.Raw(encode(1)), 2e9, False))
    async with tier.connect() as backend:
        shared = store(tier, backend)
        await tier.write_raw("test:v1:tracks:garbage", b"\xc1\xff not msgpack")
        await tier.write_raw("test:v1:tracks:schema", wrong_schema)
        await tier.write_raw("test:v1:tracks:tag", unknown_tag)
        await shared.set("v1:tracks:good", Entry(TRACK, tier.clock.wall() + 60))
        keys = ["v1:tracks:garbage", "v1:tracks:schema", "v1:tracks:tag", "v1:tracks:good"]
        found = await shared.get_many(keys)
        assert found[:3] == [None, None, None] and found[3] is not None
        assert await shared.get("v1:tracks:garbage") is None
        raw = await backend.get_many(["test:" + key for key in keys])
        assert raw[:3] == [None, None, None] and raw[3] is not None
        stats = shared.stats()
        assert (stats.corrupt, stats.hits) == (3, 1)


async def test_no_keys_is_no_call_and_no_error(tier: Tier) -> None:
    """Redis refuses a bare ``MGET`` or ``DEL``; the adapters answer as the twin does."""
    async with tier.connect() as backend:
        assert await backend.get_many([]) == []
        await backend.delete([])
