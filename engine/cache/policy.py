"""How long each kind of cached data stays fresh: the namespaces a cache serves, and their TTLs.

The engine knows no upstream, so it declares no namespace of its own: the configuration names
every namespace it will cache and how long its entries stay fresh, and may give a ``default``
for the names it does not list. A lookup in a namespace that is neither declared nor covered by
a default raises :class:`UnknownNamespaceError`, which says how to declare it. In TOML::

    [cache.ttl.albums]
    ttl = 3600              # seconds a value stays fresh
    missing_ttl = 600       # seconds "the upstream does not know this key" is remembered
    refresh_ahead = 1.0     # optional: hits refresh the value shortly before it expires
    stale_ttl = 30          # optional: serve it up to 30 s past expiry while one refresh runs

    [cache.default_ttl]     # optional: every other namespace
    ttl = 300

A TTL of the wrong type or <= 0 fails at construction with a message naming the field, and so
does a namespace name that could not be part of a cache key.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from engine.cache.keys import is_namespace
from engine.config import Config, ConfigError, Positive, PositiveInt

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "CacheConfig",
    "NamespaceTtl",
    "TtlPolicy",
    "UnknownNamespaceError",
]

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR


class UnknownNamespaceError(ConfigError, LookupError):
    """A cache namespace that the :class:`TtlPolicy` neither declares nor covers by a default."""


class NamespaceTtl(Config):
    """Freshness of one namespace, in seconds of wall-clock time."""

    ttl: Positive
    """How long a value stays fresh."""
    missing_ttl: Positive | None = None
    """How long a "known missing" (negative) entry stays fresh; ``None``: never cache one."""
    refresh_ahead: Positive | None = None
    """Refresh hot keys before they expire: the XFetch factor ``beta`` (1.0 is the usual
    value; larger refreshes earlier). A hit on a value with ``r`` seconds left starts one
    background refresh with probability ``exp(-r / (beta * delta))``, ``delta`` being how long
    the key's last fetch took, and never in the first half of the value's life
    (:mod:`engine.cache.refresh`). ``None`` (the default): values simply expire."""
    stale_ttl: Positive | None = None
    """Seconds past its expiry a value may still be served while one refresh of it runs (the
    lookup starts the refresh if none is running); a breaker may also serve it while its circuit
    is open. ``None`` (the default): an expired value is never served."""


class TtlPolicy(Config):
    """The namespaces a cache serves: ``namespaces`` by name, ``default`` for any other name."""

    namespaces: dict[str, NamespaceTtl] = msgspec.field(default_factory=dict)
    """The declared namespaces and their TTLs, in declaration order."""
    default: NamespaceTtl | None = None
    """TTLs of a namespace that is not declared; ``None``: such a namespace is an error."""

    def validate(self) -> None:
        _check_names("TtlPolicy.namespaces", self.namespaces)

    def for_namespace(self, name: str) -> NamespaceTtl:
        """The TTLs of namespace ``name``; :class:`UnknownNamespaceError` names the declared
        ones and how to declare another."""
        ttl = self.namespaces.get(name) if isinstance(name, str) else None
        if ttl is not None:
            return ttl
        if self.default is not None and is_namespace(name):
            return self.default
        declared = ", ".join(self.namespaces) or "none"
        raise UnknownNamespaceError(
            f"unknown cache namespace {name!r} (declared: {declared}); declare it in "
            f"CacheConfig.ttl, e.g. [cache.ttl.{name if is_namespace(name) else 'name'}] "
            "ttl = 3600, or set CacheConfig.default_ttl"
        )


class CacheConfig(Config):
    """The cache: the in-memory store's bound, and the namespaces it serves with their TTLs."""

    capacity: PositiveInt = 5000
    """Entries the in-memory store holds before it evicts the least recently used."""
    ttl: dict[str, NamespaceTtl] = msgspec.field(default_factory=dict)
    """TTLs by namespace name: each namespace the cache serves (none by default)."""
    default_ttl: NamespaceTtl | None = None
    """TTLs of any namespace ``ttl`` does not name; ``None``: an undeclared one is an error."""

    def validate(self) -> None:
        _check_names("CacheConfig.ttl", self.ttl)

    @property
    def policy(self) -> TtlPolicy:
        """:attr:`ttl` and :attr:`default_ttl` as the :class:`TtlPolicy` a cache applies."""
        return TtlPolicy(namespaces=self.ttl, default=self.default_ttl)

    def declaring(self, ttl: Mapping[str, NamespaceTtl]) -> CacheConfig:
        """This configuration with the namespaces of ``ttl`` that it does not declare added.

        For a layer that needs certain namespaces: what is declared here wins."""
        missing = {name: value for name, value in ttl.items() if name not in self.ttl}
        if not missing:
            return self
        return msgspec.structs.replace(self, ttl={**self.ttl, **missing})


def _check_names(where: str, names: Mapping[str, object]) -> None:
    for name in names:
        if not is_namespace(name):
            raise ConfigError(
                f"{where}[{name!r}]: a namespace name is letters, digits, '_', '.' or '-'"
            )
