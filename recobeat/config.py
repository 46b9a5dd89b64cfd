"""The client's configuration: every optimisation of the design note is a field, with its
tuned value as the default (the engine's part in :mod:`recobeat.defaults`)."""

from __future__ import annotations

import difflib

import msgspec

from engine import Config, ConfigError, EngineConfig
from engine.config import NonNegative, Positive, PositiveInt
from recobeat.contract import MAX_IDS_PER_REQUEST, MAX_SEEDS
from recobeat.defaults import TTL_TABLE, TUNED_CONCURRENCY, TUNED_RATE, tuned_engine_config

__all__ = ["MAX_IDS_PER_REQUEST", "MAX_SEEDS", "BatchingConfig", "ClientConfig", "HttpConfig"]


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
    coalesce_linger: NonNegative | None = 0.005
    """Lookups by ID (tracks, artists, audio features) from concurrent callers travel
    together: a request waiting for its rate-limit grant keeps taking IDs until it is granted
    or full (at no cost: it was waiting anyway), and a new request when the limiter is idle
    waits this many seconds for others first. ``None``: no merging across callers; each call
    sends its own chunks, ``track_lookup_concurrency`` at once (the design note's way)."""
    audio_features_batch: bool = True
    """Audio features through ``GET /v1/audio-features``, 40 IDs a request, by ReccoBeats or
    Spotify ID. ``False``: one ``GET /v1/track/{id}/audio-features`` per ID,
    ``audio_features_concurrency`` at once (the design note's way)."""

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
    """The whole client, RecoBeat's tuned settings wherever a value is not given.

    ``engine`` defaults to :func:`~recobeat.defaults.tuned_engine_config`. An engine
    configuration given here (in code, as a mapping, or as ``[engine]`` in a file) keeps what
    it states and takes the rest from :mod:`recobeat.defaults`: the rate limit and the
    concurrency limit when it leaves them out, and each of the client's cache namespaces it
    does not declare. A declared namespace that looks like a misspelt one of the client's is
    an error.
    """

    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    engine: EngineConfig = msgspec.field(default_factory=tuned_engine_config)
    batching: BatchingConfig = msgspec.field(default_factory=BatchingConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.engine.cache.ttl:
            # The engine accepts any namespace, so a misspelt one would quietly leave the
            # client's own at the table's TTLs: refuse a near miss.
            near = difflib.get_close_matches(name, TTL_TABLE, n=1, cutoff=0.8)
            if name not in TTL_TABLE and near:
                raise ConfigError(
                    f"ClientConfig.engine.cache.ttl[{name!r}]: not a namespace the client "
                    f"uses; did you mean {near[0]!r}?"
                )
        engine = self.engine
        completed = msgspec.structs.replace(
            engine,
            rate=TUNED_RATE if engine.rate is None else engine.rate,
            concurrency=TUNED_CONCURRENCY if engine.concurrency is None else engine.concurrency,
            cache=engine.cache.declaring(TTL_TABLE),
        )
        if completed != engine:
            msgspec.structs.force_setattr(self, "engine", completed)
