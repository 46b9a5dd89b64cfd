"""The root of every error this package raises, engine and client alike.

One tree, so that ``except EngineError`` (or its RecoBeat name, ``recobeat.RecoBeatError``,
which is the same class) catches whatever the library raised and nothing the caller's own code
raised. Each error also derives from the built-in its meaning matches (``TimeoutError``,
``ValueError``, ...), so code written against the built-ins keeps working::

    EngineError
    ├── ConfigError (ValueError)              a configuration value is invalid
    │   ├── UnknownNamespaceError (LookupError)  a cache namespace the configuration lacks
    │   ├── ScenarioError                     a scenario file that cannot be run (simulator)
    │   └── PlanError                         a capacity plan that cannot be run (simulator)
    ├── RateLimitTimeout (TimeoutError)       no grant before the caller's deadline
    ├── SingleFlightClosed (RuntimeError)     the singleflight closed under a waiting caller
    ├── CoalescerClosed (RuntimeError)        a coalescer closed under a waiting caller
    ├── SharedTierUnavailable (ConnectionError)  the shared (Redis) tier cannot be reached
    ├── CircuitOpen (ConnectionError)         an endpoint's circuit is open: refused, not sent
    ├── CorruptValue (ValueError)             stored bytes that decode into no allowed type
    ├── VirtualTimeDeadlock (RuntimeError)    every task blocked in a virtual-time run
    ├── Retryable                             worth another attempt; the engine retries it
    │   ├── RateLimited                       429: wait Retry-After (everyone)
    │   ├── UpstreamTimeout (TimeoutError)    an attempt passed its deadline
    │   ├── UpstreamServerError               5xx (client)
    │   ├── UpstreamConnectionError           connect failure or reset (client)
    │   └── MalformedResponse                 a 200 whose body is not the documented shape (client)
    ├── BadRequest                            4xx other than 429: the request was wrong (client)
    └── InvalidId (ValueError)                neither a ReccoBeats UUID nor a Spotify ID (client)

The classes live beside the code that raises them; this module holds only the root.
"""

from __future__ import annotations

__all__ = ["EngineError"]


class EngineError(Exception):
    """Base of every exception this package raises."""
