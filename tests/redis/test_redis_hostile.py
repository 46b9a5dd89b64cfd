"""Whatever a key holds, reading it never raises, never takes the shared tier offline, and is
served only if it decodes to an allowed type: on a real Redis and on the twin."""

from __future__ import annotations

import datetime
from typing import Any

import msgspec
import pytest
from conftest import FAST, Tier

from engine.cache import Cache, MemoryStore
from engine.cache.store import Entry
from engine.limits import RateLimitConfig, WindowRule
from engine.shared import (
    CorruptValue,
    EntryCodec,
    RedisRateLimiter,
    RedisStore,
    SharedBackend,
    TieredStore,
    TypeRegistry,
)
from engine.singleflight import SingleFlight
from recobeat.models import Artist
from tests.engine_configs import POLICY

pytestmark = pytest.mark.anyio

encode = msgspec.msgpack.encode
FAR = 4e9  # an expiry far in the future (epoch seconds)
DEEP = b"\x91" * 2000 + b"\xc0"  # [[[...[nil]...]]], 2,000 arrays deep
TIMESTAMP = b"\xd6\xff\x00\x00\x00\x01"  # the MessagePack timestamp extension (type -1)


def envelope(value: bytes, tag: str = "", expires_at: float = FAR) -> bytes:
    """An entry as the codec lays it out, around any MessagePack ``value``."""
    return encode((tag, msgspec.Raw(value), expires_at, False))


HOSTILE: dict[str, bytes] = {
    "deep-envelope": b"\x94" + DEEP,  # the envelope's first field nested 2,000 deep
    "deep-value": envelope(DEEP),
    "deep-map": envelope(b"\x81\xa1k" * 2000 + b"\xc0"),  # {"k": {"k": ...}}
    "extension": envelope(encode(msgspec.msgpack.Ext(5, b"pickle?"))),
    "timestamp": envelope(TIMESTAMP),
    "extension-in-list": envelope(encode(["ok", msgspec.msgpack.Ext(1, b"x")])),
    "timestamp-in-map": envelope(b"\x81\xa1t" + TIMESTAMP),
    "extension-as-struct": envelope(encode(msgspec.msgpack.Ext(3, b"")), tag="artist"),
    "nan-expiry": envelope(encode("x"), expires_at=float("nan")),
    "infinite-expiry": envelope(encode("x"), expires_at=float("inf")),
    "extension-as-expiry": b"\x94"
    + encode("")
    + encode(1)
    + encode(msgspec.msgpack.Ext(2, b""))
    + b"\xc2",
}


def registry() -> TypeRegistry:
    return TypeRegistry({"artist": Artist})


def test_the_codec_raises_only_corrupt_value_whatever_the_bytes() -> None:
    codec = EntryCodec(registry())
    for name, data in HOSTILE.items():
        with pytest.raises(CorruptValue):
            codec.decode(data)
        assert name  # (the name tells which case failed in the traceback)


def test_plain_values_still_round_trip_and_a_declared_datetime_is_expected() -> None:
    class Stamped(msgspec.Struct):
        at: datetime.datetime

    codec = EntryCodec(TypeRegistry({"stamped": Stamped}))
    stamped = Stamped(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
    nested: Any = {"a": [1, 2.5, None, True, b"\x00", {"b": ["c"]}]}
    for value in ("x", 3, None, nested, stamped):
        entry = Entry(value, FAR)
        assert codec.decode(codec.encode(entry)) == entry


def test_types_whose_schema_accepts_anything_are_not_registered() -> None:
    class Loose(msgspec.Struct):
        extra: dict  # type: ignore[type-arg]

    class Anything(msgspec.Struct):
        value: Any

    class Extension(msgspec.Struct):
        raw: msgspec.msgpack.Ext

    for type_ in (Loose, Anything, Extension):
        with pytest.raises(TypeError, match="could not be validated"):
            TypeRegistry({"t": type_})


async def test_hostile_values_are_counted_corrupt_misses_and_deleted(tier: Tier) -> None:
    async with tier.connect() as backend:
        shared = RedisStore(backend, clock=tier.clock, registry=registry(), config=FAST)
        keys = [f"v1:h:{name}" for name in HOSTILE]
        for key, data in zip(keys, HOSTILE.values(), strict=True):
            await tier.write_raw(shared.key(key), data)
        await shared.set("v1:h:good", Entry("fine", FAR))
        assert await shared.get(keys[0]) is None  # one at a time (GET), ...
        assert await shared.get_many([*keys[1:], "v1:h:good"]) == [None] * (len(keys) - 1) + [
            Entry("fine", FAR)
        ]  # ... and all at once (MGET)
        stats = shared.stats()
        assert (stats.corrupt, stats.misses, stats.hits, stats.errors) == (len(keys),) * 2 + (1, 0)
        assert await backend.get_many([shared.key(key) for key in keys]) == [None] * len(keys)


async def test_a_hostile_value_is_fetched_and_keeps_the_tier_online(tier: Tier) -> None:
    """The value is never served (the fetch runs), and the shared tier stays in use: another
    instance's value is found there right after."""
    async with tier.connect() as first, tier.connect() as second:

        def tiered(backend: SharedBackend) -> TieredStore:
            shared = RedisStore(backend, clock=tier.clock, registry=registry(), config=FAST)
            return TieredStore(MemoryStore(clock=tier.clock), shared, clock=tier.clock, config=FAST)

        store, other = tiered(first), tiered(second)
        fetched: list[str] = []

        async def fetch(key: str) -> str:
            fetched.append(key)
            return f"fresh {key}"

        async with SingleFlight() as flights:
            cache = Cache(store, flights=flights, clock=tier.clock, policy=POLICY)
            for name, data in HOSTILE.items():
                await tier.write_raw(f"{FAST.prefix}:v1:ids:{name}", data)
                await other.set(f"v1:ids:after-{name}", Entry(f"shared {name}", FAR))
                got = await cache.get_or_fetch("ids", name, lambda name=name: fetch(name))
                assert got == f"fresh {name}"
                assert await store.get(f"v1:ids:after-{name}") == Entry(f"shared {name}", FAR)
        assert fetched == list(HOSTILE)
        stats = store.stats()
        assert stats.shared_available and stats.shared_errors == 0 and stats.fallbacks == 0
        assert stats.shared_hits == len(HOSTILE)
        assert store.shared.stats().corrupt == len(HOSTILE)  # type: ignore[attr-defined]
        assert cache.stats().store_errors == 0


RULES = RateLimitConfig(rules=(WindowRule(limit=3, window=0.3),), min_interval=0.0)

HOSTILE_STATES = [
    b"\xc1 not json",
    b"[1, 2, 3]",
    b'{"last": "soon", "paused": [1], "logs": "none"}',
    b'{"last": 1e300, "paused": -1e300, "logs": [[1e300, "x", null, {}]]}',
    b'{"logs": [' + b"[" * 2000 + b"]" * 2000 + b"]}",
]


async def test_a_hostile_limiter_state_is_read_as_no_state(tier: Tier) -> None:
    async with tier.connect() as backend:
        for i, state in enumerate(HOSTILE_STATES):
            limiter = RedisRateLimiter(
                backend, RULES, clock=tier.clock, name=f"h{i}", settings=FAST
            )
            await tier.write_raw(limiter.key, state)
            for _ in range(3):
                await limiter.acquire()
            stats = limiter.stats()
            assert (stats.shared_grants, stats.errors, stats.fallbacks) == (3, 0, 0), state
            (raw,) = await backend.get_many([limiter.key])
            if tier.real:  # the script replaced the value with its own state
                assert raw is not None and raw.startswith(b"{")


async def test_keys_of_another_redis_type_fail_no_call(real_tier: Tier) -> None:
    """A hash where a value, a lock or the limiter's state is expected (WRONGTYPE on GET)."""
    async with real_tier.connect() as backend:
        client = backend.client  # type: ignore[attr-defined]
        keys = ["test:v1:ids:hash", "test:lock:hash", "test:rate:hash"]
        for key in keys:
            if real_tier.kind == "redis-py":
                await client.hset(key, mapping={"field": "value"})
            else:
                await client.hset(key, {"field": "value"})
        shared = RedisStore(backend, clock=real_tier.clock, config=FAST)
        assert await shared.get("v1:ids:hash") is None
        assert not await backend.delete_if_equal("test:lock:hash", b"token")
        assert not await backend.extend_if_equal("test:lock:hash", b"token", ttl_ms=1000)
        limiter = RedisRateLimiter(
            backend, RULES, clock=real_tier.clock, name="hash", settings=FAST
        )
        await limiter.acquire()
        assert (limiter.stats().shared_grants, limiter.stats().errors) == (1, 0)
        assert await client.type("test:rate:hash") == b"string"  # replaced by the state
        await shared.set("v1:ids:hash", Entry("x", FAR))  # SET replaces any type
        assert await shared.get("v1:ids:hash") == Entry("x", FAR)
