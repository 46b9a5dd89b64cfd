"""The client's configuration: every optimisation of the design note is a field, with its
tuned value as the default."""

from __future__ import annotations

import msgspec

from engine import Config, ConfigError, EngineConfig
from engine.config import NonNegative, Positive, PositiveInt

__all__ = ["MAX_IDS_PER_REQUEST", "MAX_SEEDS", "BatchingConfig", "ClientConfig", "HttpConfig"]

#: The API's documented maximum of ``ids`` per request (tracks, artists, audio features).
MAX_IDS_PER_REQUEST = 40
#: The API's documented maximum of ``seeds`` per recommendation request.
MAX_SEEDS = 5


class HttpConfig(Config):
    """The shared httpx client, as the design note configures it."""

    base_url: str = "https://api.reccobeats.com"
    timeout: Positive = 30.0
    connect_timeout: Positive = 10.0
    max_keepalive_connections: PositiveInt = 50
    max_connections: PositiveInt = 200
    keepalive_expiry: Positive = 30.0
    http2: bool = True
    http1: bool = True
    """Set it to False to speak HTTP/2 over plain ``http://`` (h2c with prior knowledge, as
    ``recobeat serve`` accepts); over https, HTTP/2 is negotiated either way."""
    client_id: str | None = None
    """Sent as ``X-Client-Id`` (the simulator tells clients apart by it; harmless upstream)."""


class BatchingConfig(Config):
    """How lookups fan out. ``id_chunk_size`` keeps the design note's 50, but requests never
    carry more than the API's documented 40 IDs: :attr:`effective_id_chunk_size` is what is
    sent, and the client's stats report the clamp."""

    id_chunk_size: PositiveInt = 50
    id_chunk_concurrency: PositiveInt = 4
    """Chunks in flight at once when converting Spotify IDs."""
    track_lookup_concurrency: PositiveInt = 4
    """Chunks in flight at once when looking up track details or artists."""
    audio_features_concurrency: PositiveInt = 10
    seed_chunk_size: PositiveInt = MAX_SEEDS
    seed_chunk_concurrency: PositiveInt = 3
    seed_chunk_stagger: NonNegative = 0.2
    """Chunk ``i`` of a seed-based recommendation starts ``stagger * i`` seconds after the first."""

    @property
    def effective_id_chunk_size(self) -> int:
        return min(self.id_chunk_size, MAX_IDS_PER_REQUEST)

    def validate(self) -> None:
        if self.seed_chunk_size > MAX_SEEDS:
            raise ConfigError(
                f"BatchingConfig.seed_chunk_size: the API takes at most {MAX_SEEDS} seeds "
                f"per request, not {self.seed_chunk_size}"
            )


class ClientConfig(Config):
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    engine: EngineConfig = msgspec.field(default_factory=EngineConfig)
    batching: BatchingConfig = msgspec.field(default_factory=BatchingConfig)
