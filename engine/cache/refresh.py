"""Refreshing hot keys before they expire, and serving stale while one refresh runs: the
decision, free of I/O.

When a popular key expires, every caller that arrives before the new value is stored lands on
the miss path and waits for the fetch (a :class:`~engine.singleflight.SingleFlight` makes it one
fetch, not one wait). Probabilistic early expiration ("XFetch", Vattani, Chierichetti and
Lowenstein, *Optimal Probabilistic Cache Stampede Prevention*, VLDB 2015) lets a *hit* start a
background refresh shortly before the expiry instead: a hit at ``now`` on an entry expiring at
``expires_at`` refreshes when

    ``expires_at - now <= -delta * beta * ln(draw)``

where ``delta`` is how long the key's last fetch took, ``beta`` the namespace's
``refresh_ahead`` (1.0 is the paper's optimum; larger refreshes earlier) and ``draw`` a number
in ``(0, 1]``. Each hit draws afresh, so a hot key is refreshed early with near certainty while
a cold one mostly expires; the window scales with ``delta``, so a slow fetch starts earlier.

Guarantees of :func:`decide` and :func:`should_refresh` (pure functions; the time is an
argument, the draw too):

- **Bounded window.** An entry with more than ``horizon`` seconds left is never refreshed,
  nor one with more left than the XFetch gap ``delta * beta * ln(1 / draw)``: with the draws of
  :func:`refresh_draw`, never earlier than ``delta * beta * 44.4`` seconds (``ln 2**64``)
  before its expiry. A ``delta`` of 0 (a fetch that took no time) never refreshes early. An
  expired entry is never *refreshed*: it is a miss, or served stale (below).
- **Monotone.** For a fixed draw, an entry refreshed at ``now`` is refreshed at every later
  instant before its expiry; over draws uniform in ``(0, 1]`` the probability,
  ``exp(-(expires_at - now) / (delta * beta))`` inside the window, grows as the expiry nears
  and reaches 1 at it.
- **Deterministic.** :func:`refresh_draw` is a keyed hash of ``(seed, key, now)`` (like
  :func:`engine.retry.jitter`), never :mod:`random`: a replay makes the same decisions on every
  run and on both event loops.
- **Bounded staleness.** With ``stale_ttl``, an entry past its expiry by less than
  ``stale_ttl`` seconds is served (``"stale"``) while one refresh runs; from
  ``expires_at + stale_ttl`` on, it is a miss.

The anyio shell is :class:`engine.cache.Cache`: it runs the refresh in the engine's background
task group, under the cache's :class:`~engine.singleflight.SingleFlight` (a refresh and a miss
for one key are one fetch), with :data:`FETCH_PRIORITY` set to ``"background"``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Literal

__all__ = [
    "Decision",
    "decide",
    "refresh_draw",
    "refresh_gap",
    "refresh_probability",
    "should_refresh",
]

Decision = Literal["hit", "refresh", "stale", "miss"]
"""What a lookup does with the entry it found: serve it (``hit``), serve it and start a
background refresh (``refresh``), serve it past its expiry while a refresh runs (``stale``),
or fetch (``miss``)."""


def refresh_draw(seed: int, key: str, now: float) -> float:
    """A uniform draw in ``(0, 1]`` fixed by ``(seed, key, now)``: 0 is excluded so that
    ``ln(draw)`` is finite."""
    digest = hashlib.blake2b(f"{seed}:{key}:{now!r}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 1) / 2**64


def refresh_gap(delta: float, beta: float, draw: float) -> float:
    """``-delta * beta * ln(draw)``: how long before the expiry this draw lets a hit refresh."""
    if delta <= 0 or beta <= 0:
        return 0.0
    return -delta * beta * math.log(draw)


def should_refresh(
    now: float,
    expires_at: float,
    delta: float,
    beta: float,
    draw: float,
    *,
    horizon: float = math.inf,
) -> bool:
    """Whether a hit at ``now`` on an entry expiring at ``expires_at`` starts a refresh.

    ``delta``: seconds the key's last fetch took; ``beta``: the XFetch factor (> 0);
    ``draw``: in ``(0, 1]``; ``horizon``: an entry with more than this left is never refreshed.
    """
    remaining = expires_at - now
    if remaining <= 0 or remaining > horizon:
        return False
    return remaining <= refresh_gap(delta, beta, draw)


def refresh_probability(remaining: float, delta: float, beta: float) -> float:
    """The probability that one hit with ``remaining`` seconds left refreshes, over uniform
    draws (ignoring the horizon): ``exp(-remaining / (delta * beta))``."""
    if remaining <= 0:
        return 0.0
    if delta <= 0 or beta <= 0:
        return 0.0
    return math.exp(-remaining / (delta * beta))


def decide(
    now: float,
    expires_at: float,
    *,
    delta: float,
    beta: float | None,
    stale_ttl: float | None,
    draw: float,
    horizon: float = math.inf,
) -> Decision:
    """What a lookup at ``now`` does with an entry expiring at ``expires_at`` (see
    :data:`Decision`). ``beta=None``: no refresh ahead; ``stale_ttl=None``: never stale."""
    if now < expires_at:
        if beta is not None and should_refresh(now, expires_at, delta, beta, draw, horizon=horizon):
            return "refresh"
        return "hit"
    if stale_ttl is not None and now < expires_at + stale_ttl:
        return "stale"
    return "miss"
