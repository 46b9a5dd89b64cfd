"""Scenario files: what to replay, against what, and what must hold.

A scenario is a TOML file decoded with msgspec into the Structs below. Decoding fails before
anything runs, with the file, the field path and the reason (and the line, for TOML syntax
errors). See ``scenarios/README.md`` for the format with examples.
"""

from __future__ import annotations

import tomllib
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from engine.config import ConfigError, read_toml_file
from recobeat.config import ClientConfig
from recobeat.defaults import PREWARM_QUIET
from simulator import SimulatorConfig
from simulator.profiles import PROFILES

__all__ = [
    "Arrivals",
    "Bound",
    "Burst",
    "Expect",
    "HotKeysExpect",
    "Instances",
    "PlaylistStream",
    "Poisson",
    "Prewarm",
    "Ramp",
    "RequestStream",
    "Scenario",
    "ScenarioError",
    "SeedPoolSpec",
    "Times",
    "TraceStream",
    "WindowExpect",
    "load_scenario",
]

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Count = Annotated[int, msgspec.Meta(ge=1)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
Backend = Literal["asyncio", "trio"]


class ScenarioError(ConfigError):
    """A scenario file that cannot be run; the message names the file, the field and why."""


class _Spec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


def _range(value: tuple[float, float], name: str) -> None:
    if value[0] > value[1]:
        raise ValueError(f"{name}: the low end {value[0]} is above the high end {value[1]}")


# -- arrival processes --------------------------------------------------------------------------


class Burst(_Spec, tag="burst", tag_field="process", kw_only=True):
    """``count`` arrivals at random instants within ``within`` seconds from ``start``."""

    count: Count
    within: NonNegative = 0.0
    start: NonNegative = 0.0


class Poisson(_Spec, tag="poisson", tag_field="process", kw_only=True):
    """Arrivals at ``per_minute`` on average, from ``start`` to ``end`` (default: duration)."""

    per_minute: Positive
    start: NonNegative = 0.0
    end: Positive | None = None


class Ramp(_Spec, tag="ramp", tag_field="process", kw_only=True):
    """A Poisson process whose rate moves linearly from ``from_per_minute`` to
    ``to_per_minute`` between ``start`` and ``end`` (default: duration)."""

    from_per_minute: NonNegative
    to_per_minute: NonNegative
    start: NonNegative = 0.0
    end: Positive | None = None


class Times(_Spec, tag="times", tag_field="process", kw_only=True):
    """Arrivals at the given instants (seconds from the start)."""

    at: list[NonNegative]


Arrivals = Burst | Poisson | Ramp | Times


# -- workload streams ---------------------------------------------------------------------------


class SeedPoolSpec(_Spec, kw_only=True):
    """The Spotify IDs users draw seeds from: Zipf-popular, a share unknown to RecoBeat."""

    size: Count = 5_000
    exponent: Positive = 1.0
    unknown_share: Share = 0.15
    unknown_size: Count = 1_000


class PlaylistStream(_Spec, tag="playlists", tag_field="kind", kw_only=True):
    """Playlist generations (the workload of docs/workload.md), one per arrival."""

    name: str = "playlists"
    arrivals: Arrivals
    users: Count = 100
    """Population size; each arrival is a user drawn uniformly; a user's seeds never change."""
    seeds: tuple[int, int] = (5, 20)
    moods: Count = 12
    """Distinct moods; each arrival draws one Zipf-popular mood (same mood, same targets)."""
    think: tuple[NonNegative, NonNegative] = (2.0, 8.0)
    recommendation_size: tuple[int, int] = (20, 50)
    candidates: tuple[int, int] = (50, 150)
    playlist_size: Count = 25
    artist_searches: tuple[int, int] = (0, 3)
    refine_share: Share = 0.3
    refine_think: tuple[NonNegative, NonNegative] = (1.0, 3.0)
    seed_pool: SeedPoolSpec = msgspec.field(default_factory=SeedPoolSpec)

    def __post_init__(self) -> None:
        for name in ("seeds", "think", "recommendation_size", "candidates", "artist_searches"):
            _range(getattr(self, name), name)
        # Both ends, each compared on its own: ``not a >= 1 and b <= 200`` let [1, 500] through.
        if not (self.seeds[0] >= 1 and self.seeds[1] <= 200):
            raise ValueError(f"seeds: between 1 and 200 seeds per user, not {list(self.seeds)}")
        if not (self.recommendation_size[0] >= 1 and self.recommendation_size[1] <= 100):
            raise ValueError(
                f"recommendation_size: the API takes 1..100, not {list(self.recommendation_size)}"
            )


class RequestStream(_Spec, tag="requests", tag_field="kind", kw_only=True):
    """Raw calls to one client method, one per arrival, with IDs drawn from the seed pool."""

    name: str = "requests"
    arrivals: Arrivals
    call: Literal["tracks", "convert_ids", "audio_features", "recommendations", "artist_search"]
    ids: Count = 1
    """IDs per call (seeds for recommendations: at most 5)."""
    repeat: bool = False
    """Every call asks for the same IDs (to watch one key across its TTL)."""
    seed_pool: SeedPoolSpec = msgspec.field(default_factory=SeedPoolSpec)

    def __post_init__(self) -> None:
        if self.call == "recommendations" and self.ids > 5:
            raise ValueError("ids: a recommendation takes at most 5 seeds")


class TraceStream(_Spec, tag="trace", tag_field="kind", kw_only=True):
    """A recorded trace replayed: one arrival per record, at the record's time, ``offset +
    at / speed`` (records past ``duration`` are left out). A record is a raw call or a playlist
    generation with its seeds and, optionally, mood targets; what a generation's record does not
    say (think times, sizes, searches, refinement, untargeted moods) is drawn per generation as
    ``kind = "playlists"`` draws it. The format: scenarios/README.md, "Traces"."""

    name: str = "trace"
    path: str
    """The trace file; a relative path is relative to the scenario file (see load_scenario)."""
    format: Literal["jsonl", "csv"] | None = None
    """Inferred from the suffix: ``.jsonl`` (or ``.ndjson``), ``.csv``."""
    speed: Positive = 1.0
    """Time scale: 2.0 replays the same traffic in half the time."""
    offset: NonNegative = 0.0
    """Seconds of virtual time before the trace's first instant."""
    moods: Count = 12
    think: tuple[NonNegative, NonNegative] = (2.0, 8.0)
    recommendation_size: tuple[int, int] = (20, 50)
    candidates: tuple[int, int] = (50, 150)
    playlist_size: Count = 25
    artist_searches: tuple[int, int] = (0, 3)
    refine_share: Share = 0.3
    refine_think: tuple[NonNegative, NonNegative] = (1.0, 3.0)

    def __post_init__(self) -> None:
        for name in ("think", "recommendation_size", "candidates", "artist_searches"):
            _range(getattr(self, name), name)
        if not (self.recommendation_size[0] >= 1 and self.recommendation_size[1] <= 100):
            raise ValueError(
                f"recommendation_size: the API takes 1..100, not {list(self.recommendation_size)}"
            )
        if self.format is None and Path(self.path).suffix.lower() not in _TRACE_SUFFIXES:
            raise ValueError(f"format: cannot tell from {self.path!r}; say jsonl or csv")

    @property
    def seed_pool(self) -> SeedPoolSpec:
        """The default pool: a trace draws no seeds, but ``[prewarm]`` reads the first
        stream's pool when no playlist stream has one."""
        return SeedPoolSpec()


_TRACE_SUFFIXES = (".jsonl", ".ndjson", ".csv")

Stream = PlaylistStream | RequestStream | TraceStream


class Instances(_Spec, kw_only=True):
    """Backend instances, each with its own engine and memory cache unless they share."""

    count: Count = 1
    shared_store: bool = False
    """One store for all (as Redis would be; in a replay, in-process with the same semantics)."""
    shared_budget: bool = False
    """One rate budget for all (as a Redis limiter would be); else each has the full budget."""
    same_client: bool = False
    """The upstream sees one client (one egress address) instead of one per instance."""


# -- expectations -------------------------------------------------------------------------------


class Bound(_Spec, kw_only=True):
    min: float | None = None
    max: float | None = None

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self, fmt: str = "g") -> str:
        """``>= 3``, ``<= 0.5``, ``1..4``; ``fmt`` formats the numbers (``".0%"``: shares)."""
        if self.min is not None and self.max is not None:
            return f"{self.min:{fmt}}..{self.max:{fmt}}"
        return f">= {self.min:{fmt}}" if self.min is not None else f"<= {self.max:{fmt}}"


class WindowExpect(_Spec, kw_only=True):
    """At most ``limit`` requests in any ``window`` seconds (sliding, exact), per upstream
    client or over all of them, counted at arrival at the upstream or when sent."""

    limit: Count
    window: Positive
    scope: Literal["client", "all"] = "client"
    at: Literal["arrival", "sent"] = "arrival"


class PhasesExpect(_Spec, kw_only=True):
    """How much of the upstream's true limit each phase used, and how little it was told 429
    (see simulator/replay/phases.py), judged from ``settle`` seconds after each phase's start
    (the time allowed to learn a limit)."""

    settle: NonNegative = 0.0
    used: Share | None = None
    """Minimum share of the true limit admitted (keep demand above every phase's limit)."""
    refused: Share | None = None
    """Maximum share of requests answered 429."""


class BreakerExpect(_Spec, kw_only=True):
    """Bounds on what the circuit breakers show (simulator/replay/outage.py), judged only when
    the run's engine has a breaker: a compared profile without one shows its figures unjudged."""

    opened: Bound | None = None
    """Times circuits opened, summed over endpoints and instances."""
    failed_fast: Bound | None = None
    """Calls refused without being sent."""
    stale_answers: Bound | None = None
    sent: Bound | None = None
    """Upstream requests that arrived during the outage."""
    recovered_after: Bound | None = None
    """Seconds from the outage's end until every endpoint called during it answered again."""
    failure_latency: Bound | None = None
    """Mean seconds from an upstream call to its error, over the calls that failed."""


class HotKeysExpect(_Spec, kw_only=True):
    """Hot keys across their expiries (simulator/replay/hotkeys.py): the figures are reported
    under every profile, the bounds judged only when the engine refreshes some namespace
    ahead (a compared profile that does not shows its figures unjudged)."""

    expiry_miss_burst: Bound | None = None
    """The most callers on the miss path for one key at once while its fetch replaced an
    expired value."""
    stale_served: Bound | None = None
    """Lookups answered by a value past its expiry while one refresh ran."""
    request_latency: dict[Literal["p50", "p95", "p99", "max"], Positive] = {}
    """Maximum latency percentiles of the raw calls (``kind = "requests"``), seconds."""


class PrewarmExpect(_Spec, kw_only=True):
    """Pre-warming against the same profile without it (``[prewarm] baseline = true``)."""

    not_slower: list[str] = []
    """Streams none of whose generations may take longer than without pre-warming, at the
    p50, the p95 and the max (the people pre-warming competed with)."""
    faster_p95: list[str] = []
    """Streams whose p95 must be lower than without pre-warming (those it was for)."""


class Expect(_Spec, kw_only=True):
    profiles: list[str] = []
    """The profiles these expectations judge (none: every run). A ``compare`` run under another
    profile is shown beside them, judged only on finishing (e.g. the fixed budget beside the
    adaptive one, which is expected to miss the adaptive targets)."""
    max_in_window: list[WindowExpect] = []
    min_spacing: NonNegative | None = None
    """Seconds between consecutive requests an instance sends."""
    max_concurrency: int | None = None
    """Peak upstream requests in flight in one instance."""
    rate_limited: Bound | None = None
    """429 answers."""
    retry_after_honoured: bool = False
    """After a 429, its client sends nothing until the Retry-After has passed, and is never
    put in the upstream's penalty box."""
    retries: Bound | None = None
    upstream_calls: Bound | None = None
    upstream_calls_by_endpoint: dict[str, Bound] = {}
    ttl: bool = False
    """No entry served after its TTL; no key stored again before its TTL unless evicted."""
    no_duplicate_in_flight: bool = False
    """No two identical requests of one client in flight at once."""
    playlist_latency: dict[Literal["p50", "p95", "p99", "max"], Positive] = {}
    """Maximum latency percentiles of playlist generations, seconds."""
    hit_rate: dict[str, Share] = {}
    """Minimum hit rate per cache namespace."""
    failed: Bound | None = None
    """Generations or calls that ended in an error; unset means none may (``max = 0``)."""
    floor_ratio: Bound | None = None
    """Upstream calls over the floor, the fewest requests any client could have made for the
    workload (see scenarios/README.md)."""
    budget_utilisation: Bound | None = None
    """Share (0..1) of the grants the rate budget allowed while work waited that it made."""
    breaker: BreakerExpect | None = None
    hot_keys: HotKeysExpect | None = None
    """Hot keys across their expiries: the callers on the miss path at once, stale answers and
    the raw calls' latency (judged when the engine refreshes ahead)."""
    """What the circuit breakers show in an outage (judged when the engine has a breaker)."""
    prewarm: PrewarmExpect | None = None
    """Each stream's latency with the ``[prewarm]`` step against the same profile without."""
    phases: PhasesExpect | None = None
    """Per phase of the upstream's limit: the share used and the share refused."""


# -- pre-warming --------------------------------------------------------------------------------


class Prewarm(_Spec, kw_only=True):
    """Pre-warm the most popular seeds at background priority (simulator/replay/prewarm.py):
    every instance calls ``RecoBeatClient.prewarm`` at each instant of ``at``."""

    at: list[NonNegative] = msgspec.field(default_factory=lambda: [0.0])
    seeds: Annotated[int, msgspec.Meta(ge=0)] = 200
    """The most popular known tracks of the first playlist stream's seed pool, by rank."""
    unknown: Annotated[int, msgspec.Meta(ge=0)] = 0
    """The most popular of its unknown IDs (the registry then knows them to be unknown)."""
    profiles: list[str] = []
    """The profiles the step runs under (none: every run)."""
    quiet: NonNegative = PREWARM_QUIET
    """Seconds without an interactive request served before a pre-warm request may go
    (``RecoBeatClient.prewarm(quiet=...)``)."""
    baseline: bool = False
    """Also replay the workload under the same profile with the step off, and report each
    stream's latency beside it (what ``[expect.prewarm]`` judges)."""


# -- the scenario -------------------------------------------------------------------------------

_ENGINE_KEYS = frozenset({"rate", "concurrency", "cache", "retry", "attempt_timeout", "breaker"})


class Scenario(_Spec, kw_only=True):
    name: str
    description: str
    seed: int = 0
    duration: Positive
    """Seconds of virtual time during which arrivals happen."""
    drain: NonNegative = 3600.0
    """Extra seconds granted for work in flight at the end; past it the replay fails."""
    backends: list[Backend] = msgspec.field(default_factory=lambda: ["asyncio", "trio"])
    engine: dict[str, Any] = {}
    """``profile`` ("tuned" or "original") plus overrides of any engine or batching field."""
    upstream: SimulatorConfig = msgspec.field(default_factory=SimulatorConfig)
    workload: list[Stream]
    instances: Instances = msgspec.field(default_factory=Instances)
    expect: Expect = msgspec.field(default_factory=Expect)
    compare: list[str] = []
    """Two profiles (``["tuned", "original"]``) to run the workload under and compare."""
    prewarm: Prewarm | None = None
    """Pre-warm the most popular seeds at background priority (off: ``None``)."""

    def __post_init__(self) -> None:
        if self.compare and (len(self.compare) != 2 or not set(self.compare) <= set(PROFILES)):
            raise ValueError(f"compare: two of {sorted(PROFILES)}, not {self.compare}")
        if unknown := sorted(set(self.expect.profiles) - set(PROFILES)):
            raise ValueError(f"expect.profiles: unknown {unknown}; known: {sorted(PROFILES)}")
        if self.prewarm is not None and (
            unknown := sorted(set(self.prewarm.profiles) - set(PROFILES))
        ):
            raise ValueError(f"prewarm.profiles: unknown {unknown}; known: {sorted(PROFILES)}")
        if (judged := self.expect.prewarm) is not None:
            if self.prewarm is None or not self.prewarm.baseline:
                raise ValueError("expect.prewarm: needs [prewarm] with baseline = true")
            names = {stream.name for stream in self.workload}
            if unknown := sorted(set(judged.not_slower + judged.faster_p95) - names):
                raise ValueError(
                    f"expect.prewarm: unknown streams {unknown}; known: {sorted(names)}"
                )
        if not self.workload:
            raise ValueError("workload: at least one stream")
        if not self.backends:
            raise ValueError("backends: at least one backend")
        client_config(self.engine)  # fails here, before anything runs

    @property
    def horizon(self) -> float:
        return self.duration + self.drain

    def client_config(self, profile: str | None = None) -> ClientConfig:
        """The engine configuration, optionally under another profile (``--compare``)."""
        engine = dict(self.engine)
        if profile is not None:
            engine["profile"] = profile
        return client_config(engine)


def client_config(engine: dict[str, Any]) -> ClientConfig:
    """Resolve an ``[engine]`` section: a profile, with any field overridden."""
    overrides = dict(engine)
    name = overrides.pop("profile", "tuned")
    if name not in PROFILES:
        raise ValueError(f"engine.profile: unknown profile {name!r}; known: {sorted(PROFILES)}")
    unknown = sorted(set(overrides) - _ENGINE_KEYS - {"batching"})
    if unknown:
        raise ValueError(
            f"engine: unknown field(s) {unknown}; known: {sorted(_ENGINE_KEYS | {'batching'})}"
        )
    merged: dict[str, Any] = msgspec.to_builtins(PROFILES[name])
    for key, value in overrides.items():
        target = merged if key == "batching" else merged["engine"]
        target[key] = _merge(target.get(key), value)
    try:
        return msgspec.convert(merged, ClientConfig)
    except msgspec.ValidationError as exc:
        message = (
            str(exc)
            .replace("`$.engine.", "`$.engine.")
            .replace("`$.batching", "`$.engine.batching")
        )
        raise ValueError(message) from None


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


def load_scenario(path: str | Path | Traversable) -> Scenario:
    """Read and validate a scenario file (a path, or a bundled one from
    :func:`~simulator.replay.library.bundled_scenarios`); raises :class:`ScenarioError` saying
    where and why."""
    if isinstance(path, str):
        path = Path(path)
    scenario = _with_preset(path) or read_toml_file(
        path, Scenario, what="scenario", error=ScenarioError
    )
    if any(isinstance(stream, TraceStream) for stream in scenario.workload):
        scenario = _with_traces(scenario, path)
    return scenario


def _with_preset(path: Path | Traversable) -> Scenario | None:
    """The scenario, when its ``[upstream]`` names a ``preset`` (``recobeat serve --preset``'s):
    the preset, with the section's other fields merged over it
    (:func:`simulator.upstream.presets.preset_config`). ``None`` otherwise, or when the file
    cannot be read as TOML (the plain reader then says why)."""
    from simulator.upstream.presets import PRESETS, preset_config

    try:
        raw = path.read_bytes()
        # Most scenarios name no preset: no second parse of the file for them.
        if b"preset" not in raw:
            return None
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    upstream = data.get("upstream")
    if not isinstance(upstream, dict) or "preset" not in upstream:
        return None
    overrides = {k: v for k, v in upstream.items() if k != "preset"}
    name = upstream["preset"]
    if not isinstance(name, str) or name not in PRESETS:
        known = ", ".join(PRESETS)
        raise ScenarioError(f"{path}: upstream.preset: {name!r} is not a preset; known: {known}")
    try:
        data["upstream"] = msgspec.to_builtins(preset_config(name, overrides))
    except ConfigError as exc:
        # An override the preset refused: name its field from the scenario's root.
        where = str(exc).replace("`$.", "`$.upstream.")
        raise ScenarioError(f"{path}: invalid scenario: {where}") from None
    try:
        return msgspec.convert(data, Scenario)
    except msgspec.ValidationError as exc:
        raise ScenarioError(f"{path}: invalid scenario: {exc}") from None


def _with_traces(scenario: Scenario, path: Path | Traversable) -> Scenario:
    """Each trace's path made absolute, relative to the scenario file's folder (so a bundled
    scenario finds its trace wherever it was installed), and every record checked, one at a
    time, before anything runs."""
    from simulator.replay.trace import TraceError, iter_trace

    folder = getattr(path, "parent", None)
    streams: list[Stream] = []
    for k, stream in enumerate(scenario.workload):
        if isinstance(stream, TraceStream):
            trace = Path(stream.path)
            if not trace.is_absolute():
                if not isinstance(folder, Path):
                    raise ScenarioError(
                        f"{path}: workload[{k}].path: a relative trace path needs a scenario "
                        "file on disk"
                    )
                trace = folder / trace
            stream = msgspec.structs.replace(stream, path=str(trace.resolve()))
            try:
                for _ in iter_trace(stream.path, stream.format):
                    pass
            except TraceError as exc:
                raise ScenarioError(f"{path}: workload[{k}]: invalid trace: {exc}") from None
        streams.append(stream)
    return msgspec.structs.replace(scenario, workload=streams)
