"""How to reach Redis, with the design note's connection settings as defaults."""

from __future__ import annotations

import os
from typing import Annotated

import msgspec

from engine.config import Config, Positive
from engine.shared.config import SharedTierConfig

__all__ = ["DEFAULT_URL", "RedisConfig"]

#: Used when neither ``RedisConfig.url`` nor ``REDIS_URL`` is set.
DEFAULT_URL = "redis://localhost:6379/0"


class RedisConfig(Config):
    """A Redis connection pool and the shared tier that uses it.

    The design note's settings and their coredis equivalents (see
    :class:`engine.redis.CoredisBackend`): a pool of 50 connections (``max_connections``),
    keep-alive (``socket_keepalive``), retry on timeout (coredis's ``ConstantRetryPolicy`` on
    its connection and timeout errors, ``retries`` times), a health check every 30 s (coredis 6
    has no periodic health check; ``max_idle_time`` closes a connection idle that long, so an
    idle, possibly dead connection is never reused). :class:`engine.redis.RedisPyBackend` uses
    ``command_timeout`` and ``shared`` only: its pool is the application's, set up by it.
    """

    url: str | None = None
    """``redis://[:password@]host:port/db`` or ``rediss://`` (TLS); ``None`` reads
    ``REDIS_URL``, else :data:`DEFAULT_URL`."""
    max_connections: Annotated[int, msgspec.Meta(ge=1)] = 50
    keepalive: bool = True
    retries: Annotated[int, msgspec.Meta(ge=0)] = 1
    """Retries of a command that failed on a connection error or a timeout."""
    max_idle_time: Annotated[int, msgspec.Meta(ge=1)] = 30
    """Seconds after which an idle connection is closed (the design note's 30 s health check)."""
    connect_timeout: Positive = 1.0
    command_timeout: Positive = 0.5
    """Deadline of one call to Redis, retries included (``anyio.fail_after``)."""
    shared: SharedTierConfig = msgspec.field(default_factory=SharedTierConfig)

    def resolved_url(self) -> str:
        """The URL to connect to: ``url``, else ``$REDIS_URL``, else :data:`DEFAULT_URL`."""
        return self.url or os.environ.get("REDIS_URL") or DEFAULT_URL
