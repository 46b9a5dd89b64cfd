"""Audits that fold what a replay observes as it happens, so that a long replay keeps counts and
a few lines of evidence instead of every event."""

from __future__ import annotations

from engine.cache import NamespaceTtl, TtlPolicy, namespace_of
from engine.cache.events import CacheEvent

__all__ = ["EVIDENCE", "TtlAudit"]

EVIDENCE = 5
"""Lines of evidence a failed check shows."""
_EPS = 1e-9


class TtlAudit:
    """The TTL rules over one store's :class:`CacheEvent` stream, as a cache observer: entries
    are never served past their TTL, and a key is never stored again before its TTL unless it
    was evicted or its namespace refreshes ahead (then not in the first half of its life). The
    TTL is the policy's (checked against the store's expiry). It keeps the latest store of each
    key, the counts and the first :data:`EVIDENCE` problems. Misses say nothing about TTLs:
    they are neither checked nor counted."""

    __slots__ = ("_policy", "_stored", "_ttls", "checked", "evidence", "violations")

    def __init__(self, policy: TtlPolicy) -> None:
        self._policy = policy
        self._stored: dict[str, tuple[float, float]] = {}
        self._ttls: dict[str, NamespaceTtl] = {}  # the policy's, per namespace stored in
        self.checked = 0
        self.violations = 0
        self.evidence: list[str] = []

    def __call__(self, event: CacheEvent) -> None:
        kind = event.kind
        if kind == "hit":  # most events
            self.checked += 1
            previous = self._stored.get(event.key)
            if previous is None or event.at >= previous[1] - _EPS:
                self._problem(f"{event.key}: served at {event.at:.3f} past its TTL")
            return
        if kind == "miss":
            return
        self.checked += 1
        stored = self._stored
        if kind == "evict":
            stored.pop(event.key, None)
            return
        # A store.
        namespace = namespace_of(event.key)
        ttl = self._ttls.get(namespace)
        if ttl is None:
            ttl = self._ttls[namespace] = self._policy.for_namespace(namespace)
        applied = event.expires_at - event.at
        # Its TTL or its missing TTL (written out: a generator per store cost more than the
        # check itself).
        # "not <" rather than ">=": an infinite TTL gives NaN, which is not its TTL.
        if not abs(applied - ttl.ttl) < 1e-6 and (
            ttl.missing_ttl is None or not abs(applied - ttl.missing_ttl) < 1e-6
        ):
            self._problem(f"{event.key}: stored for {applied:.3f} s, not its TTL")
        previous = stored.get(event.key)
        if (
            previous is not None
            and event.at < previous[1] - _EPS
            and not self._refreshed_ahead(ttl.refresh_ahead, previous, event.at)
        ):
            self._problem(
                f"{event.key}: stored at {previous[0]:.3f} and again at {event.at:.3f}, "
                f"before its expiry at {previous[1]:.3f}"
            )
        stored[event.key] = (event.at, event.expires_at)

    @staticmethod
    def _refreshed_ahead(beta: float | None, previous: tuple[float, float], at: float) -> bool:
        """A namespace refreshed ahead (``refresh_ahead``) stores a hot key again before it
        expires, but never in the first half of its value's life (engine/cache/refresh.py)."""
        stored_at, expires_at = previous
        return beta is not None and at >= stored_at + (expires_at - stored_at) / 2 - _EPS

    def _problem(self, line: str) -> None:
        self.violations += 1
        if len(self.evidence) < EVIDENCE:
            self.evidence.append(line)
