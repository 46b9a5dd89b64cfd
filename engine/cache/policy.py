"""How long each kind of cached data stays fresh: one :class:`NamespaceTtl` per namespace.

The defaults are the tuned values of the design note (backend performance optimizations):

=================  ============  ====================
namespace          ttl           missing_ttl
=================  ============  ====================
recommendations    15 minutes    not cached
tracks             2 hours       not cached
ids                60 days       14 days
artists            1 hour        not cached
seeds              2 hours       not cached
=================  ============  ====================

A namespace is a field of :class:`TtlPolicy`, so an unknown namespace in a TOML or JSON file is
an error (``forbid_unknown_fields``), and a TTL of the wrong type or <= 0 fails at construction
with a message naming the field.
"""

from __future__ import annotations

import msgspec

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
    """A cache namespace that the :class:`TtlPolicy` does not define."""


class NamespaceTtl(Config):
    """Freshness of one namespace, in seconds of wall-clock time."""

    ttl: Positive
    """How long a value stays fresh."""
    missing_ttl: Positive | None = None
    """How long a "known missing" (negative) entry stays fresh; ``None``: never cache one."""


class TtlPolicy(Config):
    """One :class:`NamespaceTtl` per cache namespace (the field name is the namespace)."""

    recommendations: NamespaceTtl = msgspec.field(
        default_factory=lambda: NamespaceTtl(ttl=15 * MINUTE)
    )
    """Track recommendations for a set of parameters."""
    tracks: NamespaceTtl = msgspec.field(default_factory=lambda: NamespaceTtl(ttl=2 * HOUR))
    """Track details (metadata rarely changes)."""
    ids: NamespaceTtl = msgspec.field(
        default_factory=lambda: NamespaceTtl(ttl=60 * DAY, missing_ttl=14 * DAY)
    )
    """The ID registry: validated IDs, and IDs the upstream does not know."""
    artists: NamespaceTtl = msgspec.field(default_factory=lambda: NamespaceTtl(ttl=HOUR))
    """Artist enrichment."""
    seeds: NamespaceTtl = msgspec.field(default_factory=lambda: NamespaceTtl(ttl=2 * HOUR))
    """Validated seeds."""

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces this policy defines, in declaration order."""
        return self.__struct_fields__

    def for_namespace(self, name: str) -> NamespaceTtl:
        """The TTLs of namespace ``name``; :class:`UnknownNamespaceError` names the known ones."""
        if isinstance(name, str) and name in self.__struct_fields__:
            ttl: NamespaceTtl = getattr(self, name)
            return ttl
        raise UnknownNamespaceError(
            f"unknown cache namespace {name!r}; known namespaces: "
            + ", ".join(self.__struct_fields__)
        )


class CacheConfig(Config):
    """Configuration of the cache: the in-memory store's bound and the TTL policy."""

    capacity: PositiveInt = 5000
    """Entries the in-memory store holds before it evicts the least recently used."""
    ttl: TtlPolicy = msgspec.field(default_factory=TtlPolicy)
