"""What only the redis-py adapter has: a borrowed pool it never closes, a client it refuses, a
clear error on trio. Its semantics are the shared suite's (``tier`` runs it on asyncio)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio
from conftest import RedisServer, Tier, redis_py_client

from engine.redis import CoredisBackend, RedisConfig, RedisPyBackend
from simulator import RecoBeatSimulator, SimulatorTransport

pytestmark = pytest.mark.anyio

TRIO_ERROR = (
    "RedisPyBackend runs on asyncio only (redis.asyncio), not trio: "
    "on trio use engine.redis.CoredisBackend"
)


@pytest.mark.parametrize("real_tier", ["redis-py"], indirect=True)
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_borrowed_pool_stays_open_and_in_use(real_tier: Tier) -> None:
    client = redis_py_client(real_tier.config)
    try:
        before = await client.client_id()
        async with RedisPyBackend(client, real_tier.config) as backend:
            await backend.set("test:borrowed", b"v", ttl_ms=60_000)
        backend = RedisPyBackend(client, real_tier.config)  # not in `async with` at all
        assert await backend.get_many(["test:borrowed"]) == [b"v"]
        # The same connection, still open: the adapter closed neither it nor the pool.
        assert await client.client_id() == before
        assert await client.get("test:borrowed") == b"v"
    finally:
        await client.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_decoding_or_foreign_client_is_refused() -> None:
    decoding = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses=False"):
        RedisPyBackend(decoding)
    with pytest.raises(TypeError, match=r"takes a redis\.asyncio\.Redis, not CoredisBackend"):
        RedisPyBackend(CoredisBackend(RedisConfig()))  # type: ignore[arg-type]
    await decoding.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_repr_says_where_and_that_the_pool_is_borrowed() -> None:
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:6390/2")
    backend = RedisPyBackend(client, RedisConfig(command_timeout=0.25))
    assert repr(backend) == (
        "RedisPyBackend(127.0.0.1:6390/2, borrowed pool, command_timeout=0.25s)"
    )
    await client.aclose()


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_it_says_so_in_one_line() -> None:
    client = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(RuntimeError, match="asyncio only") as caught:
        RedisPyBackend(client)  # constructed under trio: refused at once
    assert str(caught.value) == TRIO_ERROR


def test_one_built_outside_a_loop_refuses_trio_on_first_use() -> None:
    import trio

    backend = RedisPyBackend(redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0"))

    async def use() -> None:
        with pytest.raises(RuntimeError, match=re.escape(TRIO_ERROR)):
            async with backend:
                pass  # pragma: no cover
        with pytest.raises(RuntimeError, match=re.escape(TRIO_ERROR)):
            await backend.get_many(["k"])

    trio.run(use)


async def test_a_script_the_server_forgot_is_loaded_again(real_tier: Tier) -> None:
    """``SCRIPT FLUSH`` (a restart, a failover to a replica): the next call still answers."""
    async with real_tier.connect() as backend:
        await backend.set("test:lock:k", b"me", ttl_ms=60_000)
        assert not await backend.delete_if_equal("test:lock:k", b"other")
        await backend.client.script_flush()  # type: ignore[attr-defined]
        assert await backend.extend_if_equal("test:lock:k", b"me", ttl_ms=60_000)
        assert await backend.delete_if_equal("test:lock:k", b"me")
        decision = await backend.rate_decide(
            "test:rate:k", now_ms=None, min_interval_ms=0, pause_ms=0, rules=[(1, 1000)]
        )
        assert decision.granted


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_adapters_share_one_state(redis_server: RedisServer) -> None:
    """A value one adapter wrote, the other reads; a grant one took, the other sees."""
    redis_server.flush()
    coredis_tier, redis_py_tier = Tier("coredis", redis_server), Tier("redis-py", redis_server)
    rules = [(1, 60_000)]
    async with coredis_tier.connect() as one, redis_py_tier.connect() as other:
        await one.set("test:both", b"\x00\xff binary", ttl_ms=60_000)
        assert await other.get_many(["test:both", "test:none"]) == [b"\x00\xff binary", None]
        first = await other.rate_decide(
            "test:rate:both", now_ms=None, min_interval_ms=0, pause_ms=0, rules=rules
        )
        second = await one.rate_decide(
            "test:rate:both", now_ms=None, min_interval_ms=0, pause_ms=0, rules=rules
        )
        assert first.granted and not second.granted and second.wait_ms > 0
        assert await other.delete_prefix("test:") == 2
        assert await one.get_many(["test:both"]) == [None]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_readme_example_runs_on_the_real_server(
    redis_server: RedisServer,
    make_simulator: Callable[..., RecoBeatSimulator],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """examples/redis_py_tier.py (shown by the README) needs redis-py on asyncio and a real
    server, so it runs here, in real time, against the simulator, rather than with the other
    examples in test_readme_examples.py."""
    redis_server.flush()
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.syspath_prepend(str(EXAMPLES))  # it imports `run` from redis_tier.py
    spec = importlib.util.spec_from_file_location("redis_py_tier", EXAMPLES / "redis_py_tier.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    sim = make_simulator()
    ids = [sim.catalog.spotify_id(0), sim.catalog.unknown_spotify_id(0)]
    await example.main(ids, transport=SimulatorTransport(sim))
    out = capsys.readouterr().out
    assert ids[0] in out and "None" in out
    assert sim.log
    # The tier was used: the conversions are in Redis, under the engine's prefix.
    client = redis_py_client(RedisConfig(url=redis_server.url))
    try:
        assert await client.keys("engine:*")
    finally:
        await client.aclose()
