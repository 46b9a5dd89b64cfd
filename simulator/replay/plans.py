"""Every arrival of a scenario, with all of its random choices fixed in advance.

Arrival instants are strictly increasing (ties are moved 1 us apart) and each arrival's choices
come from a generator seeded by (the scenario's random seed, stream, index): no draw depends on
what the concurrent replay did, so the schedule of tasks cannot change what is asked, and
planning each arrival only when it is reached (:func:`iter_arrivals`) gives the same arrivals as
up front.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

import msgspec

from recobeat.targets import AudioTargets
from simulator import Catalog, SeedPool
from simulator.replay.arrivals import iter_arrival_times, rng_for
from simulator.replay.scenario import (
    PlaylistStream,
    RequestStream,
    Scenario,
    SeedPoolSpec,
    TraceStream,
)
from simulator.replay.trace import MOOD_TARGETS, TraceEntry, TraceRecord, iter_trace
from simulator.workload import PlaylistPlan

__all__ = ["Arrival", "RequestPlan", "iter_arrivals", "plan_arrivals"]

_TIE = 1e-6


class RequestPlan(msgspec.Struct, frozen=True):
    """One raw client call."""

    call: str
    ids: tuple[str, ...]


class Arrival(msgspec.Struct, frozen=True):
    id: str
    at: float
    stream: str
    instance: int
    work: PlaylistPlan | RequestPlan


def plan_arrivals(scenario: Scenario, catalog: Catalog) -> list[Arrival]:
    """All arrivals of ``scenario``, in order of their (strictly increasing) instants."""
    return list(iter_arrivals(scenario, catalog))


def iter_arrivals(scenario: Scenario, catalog: Catalog) -> Iterator[Arrival]:
    """The arrivals of :func:`plan_arrivals`, one at a time: a replay holds only the next one.

    Each stream's instants come lazily from its own generator and are merged by
    ``(instant, stream, index)``, the order a full sort gives; an arrival's work is planned
    when it is reached, from its own generator, so the result is the same as up front.
    """
    pools: dict[SeedPoolSpec, SeedPool] = {}
    streams: list[Iterator[tuple[float, int, int, TraceEntry | None]]] = []
    for s, stream in enumerate(scenario.workload):
        if isinstance(stream, TraceStream):
            streams.append(_traced(stream, s, scenario.duration))
            continue
        spec = stream.seed_pool
        if spec not in pools:
            pools[spec] = SeedPool(
                catalog,
                size=spec.size,
                exponent=spec.exponent,
                unknown_share=spec.unknown_share,
                unknown_size=spec.unknown_size,
                seed=scenario.seed,
            )
        times = iter_arrival_times(
            stream.arrivals, duration=scenario.duration, rng=rng_for(scenario.seed, "arrivals", s)
        )
        streams.append(_tagged(times, s))
    last = -1.0
    count = scenario.instances.count
    for k, (at, s, i, entry) in enumerate(heapq.merge(*streams)):
        stream = scenario.workload[s]
        name = f"{stream.name}-{i}"
        work: PlaylistPlan | RequestPlan
        if isinstance(stream, TraceStream):
            assert entry is not None
            work = _from_trace(scenario.seed, s, i, name, stream, entry.record)
        elif isinstance(stream, PlaylistStream):
            work = _playlist(scenario.seed, s, i, name, stream, pools[stream.seed_pool])
        else:
            work = _request(scenario.seed, s, i, stream, pools[stream.seed_pool], catalog)
        at = max(at, last + _TIE)
        last = at
        yield Arrival(name, at, stream.name, k % count, work)


def _tagged(times: Iterator[float], s: int) -> Iterator[tuple[float, int, int, None]]:
    # A function, not a generator expression in the loop: that one would read ``s`` late.
    for i, at in enumerate(times):
        yield at, s, i, None


def _traced(
    stream: TraceStream, s: int, duration: float
) -> Iterator[tuple[float, int, int, TraceEntry]]:
    """A trace's records at ``offset + at / speed``, read as they are reached; reading stops
    at the first record past ``duration``."""
    for i, entry in enumerate(iter_trace(stream.path, stream.format)):
        at = stream.offset + entry.at / stream.speed
        if at > duration:
            return
        yield at, s, i, entry


def _from_trace(
    seed: int, s: int, i: int, name: str, stream: TraceStream, record: TraceRecord
) -> PlaylistPlan | RequestPlan:
    """A record's work: its call as recorded, or its generation with the recorded seeds (and
    mood targets, when recorded) and the rest drawn as for ``kind = "playlists"``."""
    if record.call is not None:
        ids = record.ids
        return RequestPlan(record.call, (ids,) if isinstance(ids, str) else tuple(ids or ()))
    rng = rng_for(seed, "playlist", s, i)
    mood = _zipf(rng, stream.moods)
    recorded = {t: getattr(record, t) for t in MOOD_TARGETS if getattr(record, t) is not None}
    if recorded:
        targets = AudioTargets(**recorded)
        shifted = _shift(targets, 0.1)
    else:
        targets, shifted = _mood(seed, s, mood, shift=0.0), _mood(seed, s, mood, shift=0.1)
    refine = rng.random() < stream.refine_share
    return PlaylistPlan(
        id=name,
        seeds=tuple(dict.fromkeys(record.seeds or ())),
        targets=targets,
        mood_think=round(_between(rng, stream.think), 6),
        recommendation_size=rng.randint(*stream.recommendation_size),
        candidates=rng.randint(*stream.candidates),
        playlist_size=stream.playlist_size,
        artist_searches=tuple(
            _artist_name(rng_for(seed, "search", s, mood, n))
            for n in range(rng.randint(*stream.artist_searches))
        ),
        refine=shifted if refine else None,
        refine_think=round(_between(rng, stream.refine_think), 6),
    )


def _shift(targets: AudioTargets, shift: float) -> AudioTargets:
    """A refinement of recorded targets: energy up and valence down by ``shift``, as a mood's."""

    def q(x: float | None, by: float) -> float | None:
        return None if x is None else round(min(1.0, max(0.0, x + by)) * 20) / 20

    return msgspec.structs.replace(
        targets, energy=q(targets.energy, shift), valence=q(targets.valence, -shift)
    )


def _between(rng, bounds: Sequence[float]) -> float:  # type: ignore[no-untyped-def]
    return bounds[0] + rng.random() * (bounds[1] - bounds[0])


def _playlist(
    seed: int, s: int, i: int, name: str, stream: PlaylistStream, pool: SeedPool
) -> PlaylistPlan:
    rng = rng_for(seed, "playlist", s, i)
    user = rng.randrange(stream.users)
    # A user's seeds are theirs for the whole run: their own generator, not this arrival's.
    user_rng = rng_for(seed, "user", s, user)
    seeds = pool.draw(f"{s}-user-{user}", user_rng.randint(*stream.seeds))
    mood = _zipf(rng, stream.moods)
    refine = rng.random() < stream.refine_share
    return PlaylistPlan(
        id=name,
        seeds=tuple(seeds),
        targets=_mood(seed, s, mood, shift=0.0),
        mood_think=round(_between(rng, stream.think), 6),
        recommendation_size=rng.randint(*stream.recommendation_size),
        candidates=rng.randint(*stream.candidates),
        playlist_size=stream.playlist_size,
        artist_searches=tuple(
            _artist_name(rng_for(seed, "search", s, mood, n))
            for n in range(rng.randint(*stream.artist_searches))
        ),
        refine=_mood(seed, s, mood, shift=0.1) if refine else None,
        refine_think=round(_between(rng, stream.refine_think), 6),
    )


def _mood(seed: int, s: int, mood: int, *, shift: float) -> AudioTargets:
    """Targets of a mood, quantised to 0.05 so that identical moods make identical requests;
    a refinement shifts them by ``shift``."""
    rng = rng_for(seed, "mood", s, mood)

    def q(x: float) -> float:
        return round(min(1.0, max(0.0, x)) * 20) / 20

    return AudioTargets(
        energy=q(rng.random() + shift),
        valence=q(rng.random() - shift),
        danceability=q(rng.random()),
        acousticness=q(rng.random()),
    )


def _artist_name(rng) -> str:  # type: ignore[no-untyped-def]
    """A short search text; searches for the same mood repeat, as LLM suggestions do."""
    return "".join(rng.choice("aeiourstnl") for _ in range(2))


def _zipf(rng, n: int) -> int:  # type: ignore[no-untyped-def]
    weights = [1 / (k + 1) for k in range(n)]
    return rng.choices(range(n), weights=weights)[0]


def _request(
    seed: int, s: int, i: int, stream: RequestStream, pool: SeedPool, catalog: Catalog
) -> RequestPlan:
    if stream.call == "artist_search":
        # Built only here: a seeded generator costs more than the rest of a plan.
        return RequestPlan(stream.call, (_artist_name(rng_for(seed, "request", s, i)),))
    ids = pool.draw(f"{s}-request-{0 if stream.repeat else i}", stream.ids)
    if stream.call in ("audio_features", "recommendations"):
        # These take ReccoBeats IDs; unknown tracks get a UUID the service never issued.
        ids = [_uuid_of(catalog, sid, seed) for sid in ids]
    return RequestPlan(stream.call, tuple(ids))


def _uuid_of(catalog: Catalog, spotify_id: str, seed: int) -> str:
    index = catalog.track_index(spotify_id)
    if index is not None:
        return catalog.track_uuid(index)
    # Seeded only when needed: a generator of its own costs more than the rest of a lookup.
    rng = rng_for(seed, "uuid", spotify_id)
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"
