"""The floor: the fewest upstream requests any client could have made for a replayed workload,
knowing every lookup in advance, and how much of the rate budget the client used while work
waited. scenarios/README.md ("The floor") defines both; this module computes them.

:class:`UpstreamFloor` is a cache observer: it folds the lookups (``hit`` and ``miss``
:class:`~engine.cache.events.CacheEvent` s) as they happen, keeping per cache key the instant of
its last counted fetch (and what the key counts against), so a long replay holds no record per
event. Give one instance the events
of every engine of a replay: the floor is that of one omniscient client serving the whole
workload.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Protocol

import msgspec

from engine.cache import TtlPolicy
from engine.cache.events import CacheEvent
from engine.limits import RateLimitConfig, RateLimiterStats
from recobeat.contract import (
    ARTIST_SEARCH,
    ARTIST_TRACKS,
    ARTISTS,
    AUDIO_FEATURES,
    MAX_IDS_PER_REQUEST,
    RECOMMENDATION,
    TRACK_AUDIO_FEATURES,
    TRACKS,
)
from simulator.upstream.api import match_route

__all__ = [
    "BATCHABLE",
    "SERVED_BY",
    "Knows",
    "UpstreamFloor",
    "budget_utilisation",
    "calls_by_group",
    "sustainable_rate",
]

#: The groups whose needs one request serves up to :data:`MAX_IDS_PER_REQUEST` of at once.
BATCHABLE = frozenset({TRACKS, AUDIO_FEATURES, ARTISTS})
#: The endpoints whose calls a floor group stands for (a group not named here: itself).
SERVED_BY: Mapping[str, tuple[str, ...]] = {AUDIO_FEATURES: (AUDIO_FEATURES, TRACK_AUDIO_FEATURES)}

# The group of a plain-ID key, by namespace, and whether the ID is a track's (else an artist's).
_BY_ID = {
    "tracks": (TRACKS, True),
    "ids": (TRACKS, True),
    "audio_features": (AUDIO_FEATURES, True),
    "artists": (ARTISTS, False),
}
# The group of a digested mapping key (too long to read back), by namespace.
_DIGESTED = {"recommendations": RECOMMENDATION, "artists": ARTIST_SEARCH, "tracks": ARTIST_TRACKS}
_AUDIO_FEATURES_KEY = re.compile(r'\{audioFeatures="([^"\\]*)"\}')
_PATH = re.compile(r'[{,]path="([^"\\]*)"')


class Knows(Protocol):
    """Whether the upstream knows an ID (the simulator's :class:`~simulator.Catalog`)."""

    def track_index(self, identifier: str) -> int | None: ...

    def artist_index(self, identifier: str) -> int | None: ...


class UpstreamFloor:
    """The fewest requests that serve every lookup seen, per group (see the module docstring).

    Per group member (an ID of a batchable group, a whole key otherwise), in time order: a
    lookup is covered when the member's last fetch is of the same instant or still fresh for
    the lookup's namespace (its ``ttl``, or its ``missing_ttl`` when the upstream does not know
    the ID; an unknown ID in a namespace without ``missing_ttl`` is never fresh); otherwise one
    fetch is counted at that instant. Fetching at the first uncovered lookup is optimal: a
    fetch can only serve lookups from its instant on, and an earlier one expires sooner.
    """

    __slots__ = ("_catalog", "_fetches", "_last", "_lookups", "_policy", "_windows", "needs")

    def __init__(self, policy: TtlPolicy, catalog: Knows) -> None:
        self._policy = policy
        self._catalog = catalog
        self._last: dict[str, dict[str, float]] = {}
        """Per group, per member: the instant of its last counted fetch."""
        self._fetches: dict[str, int] = {}
        self._windows: dict[str, tuple[float, float]] = {}
        """Per namespace: how long a fetch serves it, for a known and for an unknown key."""
        self._lookups: dict[str, tuple[str, str, float, dict[str, float], bool]] = {}
        """Per cache key looked up: what :meth:`_lookup` makes of it (keys are looked up again
        and again: a hit is a key seen before)."""
        self.needs = 0
        """Lookups folded (hits and misses)."""

    def __call__(self, event: CacheEvent) -> None:
        kind = event.kind
        if kind != "hit" and kind != "miss":
            return
        self.needs += 1
        lookup = self._lookups.get(event.key)
        if lookup is None:
            lookup = self._lookups[event.key] = self._lookup(event.key)
        group, member, window, last, ids = lookup
        at = event.at
        fetched = last.get(member)
        if ids:
            # A row of /v1/audio-features answers the ID registry too (its id and its href).
            rows = self._last.get(AUDIO_FEATURES)
            other = None if rows is None else rows.get(member)
            if other is not None and (fetched is None or other > fetched):
                fetched = other
        if fetched is not None and (at <= fetched or at < fetched + window):
            return
        last[member] = at
        self._fetches[group] = self._fetches.get(group, 0) + 1

    def _lookup(self, key: str) -> tuple[str, str, float, dict[str, float], bool]:
        """What a lookup of ``key`` counts against: its group, its member in the group, how long
        a fetch serves it, the group's last fetches, and whether it is in the ID registry."""
        _, namespace, part = key.split(":", 2)
        group, member, known = self._classify(namespace, part)
        windows = self._windows.get(namespace)
        if windows is None:
            ttl = self._policy.for_namespace(namespace)
            missing = ttl.missing_ttl
            windows = self._windows[namespace] = (
                float(ttl.ttl),
                0.0 if missing is None else float(missing),
            )
        last = self._last.get(group)
        if last is None:
            last = self._last[group] = {}
        return group, member, windows[0] if known else windows[1], last, namespace == "ids"

    def _classify(self, namespace: str, part: str) -> tuple[str, str, bool]:
        """The lookup's group, its member in the group, and whether the upstream knows it."""
        first = part[:1]
        if first == '"':  # a plain key quoted because it starts like a mapping
            part, first = msgspec.json.decode(part), ""
        catalog = self._catalog
        if first != "{" and first != "#":
            by_id = _BY_ID.get(namespace)
            if by_id is None:
                return f"{namespace} (other)", part, True
            group, track = by_id
            index = catalog.track_index(part) if track else catalog.artist_index(part)
            return group, part, index is not None
        member = f"{namespace}:{part}"
        if first == "#":
            return _DIGESTED.get(namespace) or f"{namespace} (other)", member, True
        if match := _AUDIO_FEATURES_KEY.fullmatch(part):
            track_id = match[1]
            return AUDIO_FEATURES, track_id, catalog.track_index(track_id) is not None
        if match := _PATH.search(part):
            route = match_route(match[1])
            if route is None:
                return f"{namespace} (other)", member, True
            if route.template == ARTIST_TRACKS:
                assert route.path_id is not None
                return ARTIST_TRACKS, member, catalog.artist_index(route.path_id) is not None
            return route.template, member, True
        if namespace == "recommendations":
            return RECOMMENDATION, member, True
        return f"{namespace} (other)", member, True

    def fetches(self) -> dict[str, int]:
        """Per group: the fewest fetches of its members (IDs, for a batchable group)."""
        return dict(sorted(self._fetches.items()))

    def by_endpoint(self) -> dict[str, int]:
        """Per group: the fewest requests, ``ceil(fetches / 40)`` for a batchable one."""
        return {
            group: math.ceil(n / MAX_IDS_PER_REQUEST) if group in BATCHABLE else n
            for group, n in self.fetches().items()
        }

    def total(self) -> int:
        return sum(self.by_endpoint().values())


def calls_by_group(calls_by_endpoint: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """The calls made per floor group, then per endpoint (``/v1/audio-features`` holds the calls
    to ``/v1/track/{id}/audio-features`` too)."""
    group_of = {endpoint: group for group, eps in SERVED_BY.items() for endpoint in eps}
    grouped: dict[str, dict[str, int]] = {}
    for endpoint, calls in sorted(calls_by_endpoint.items()):
        grouped.setdefault(group_of.get(endpoint, endpoint), {})[endpoint] = calls
    return grouped


def sustainable_rate(config: RateLimitConfig) -> float:
    """Grants per second the budget allows in the long run: the smallest of every rule's
    ``limit / window`` and ``1 / min_interval`` (``inf`` when nothing limits it)."""
    rates = [rule.limit / rule.window for rule in config.rules]
    if config.min_interval > 0:
        rates.append(1 / config.min_interval)
    return min(rates, default=math.inf)


def budget_utilisation(stats: Iterable[RateLimiterStats], config: RateLimitConfig) -> float | None:
    """Grants made while work waited over the grants the budget allowed then: ``busy_grants /
    (busy_time * rate + busy_periods)`` summed over ``stats`` (one per distinct budget), with
    the rate of :func:`sustainable_rate`. ``None`` when no caller ever waited or the budget
    has no limit."""
    rate = sustainable_rate(config)
    if math.isinf(rate):
        return None
    grants = 0
    allowed = 0.0
    for s in stats:
        grants += s.busy_grants
        allowed += s.busy_time * rate + s.busy_periods
    if not allowed:
        return None
    return grants / allowed
