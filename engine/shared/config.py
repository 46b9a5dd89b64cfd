"""Settings of the shared tier (store, limiter, flight), whichever backend holds it."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from engine.config import Config, NonNegative, Positive

__all__ = ["SharedTierConfig"]


class SharedTierConfig(Config):
    """How the engine uses a shared (Redis or in-process) tier. Defaults suit production."""

    prefix: str = "engine"
    """First part of every key: ``<prefix>:v1:<namespace>:<key>``, ``<prefix>:rate:<name>``.
    Applications that share one Redis each name their own."""
    gc_margin: NonNegative = 3600.0
    """Seconds a cache key outlives its ``expires_at`` (the key TTL only bounds collection)."""
    retry_after: Positive = 5.0
    """Seconds the cache tier is left alone after a failure before it is tried again. The
    limiter tries the backend again with each request, and every this many seconds while a
    caller waits for a local grant."""
    warn_interval: Positive = 60.0
    """At most one warning per this many seconds about a failing tier."""
    time_source: Literal["server", "client"] = "server"
    """Where the limiter's script reads the time: ``server`` (Redis ``TIME``: immune to client
    clock skew; production) or ``client`` (the engine clock's ``wall()``, passed in: replays
    and tests that control time)."""
    fallback_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    """Share of the budget an instance uses on its own while the tier is down, counting every
    grant it made in the current windows (``1 / instances`` keeps the budget while all are
    down; the default suits two instances)."""
    lock_ttl: Positive = 10.0
    """Seconds a cross-instance fetch lock lives: the longest a dead holder delays others."""
    poll_interval: Positive = 0.05
    """Seconds between two looks at the store while another instance fetches."""
