"""The RecoBeat client: typed calls that go through the engine with every optimisation on.

Guarantees of :class:`RecoBeatClient`:

- Every upstream request passes the engine: one shared execution per identical in-flight request
  (canonical keys, across all callers), the rate limit (80/min, 0.75 s apart) before the
  bulkhead (6 in flight), a per-attempt deadline on the engine clock, retries (a 429 pauses
  everyone for its Retry-After, at most ``max_retry_after``, and its request goes first when the
  pause ends; 5xx, timeouts, resets and malformed bodies back off).
- Results are cached per the TTL table; ID lookups are cached per ID, so a later request with an
  overlapping set only asks for the IDs it has not seen; the ID registry remembers converted
  Spotify IDs for 60 days and unknown ones for 14 days.
- Lookups by ID are batched by the endpoint's documented maximum (40), each ID in flight at most
  once however many callers want it.
- Invalid arguments (a malformed ID, a size out of range) raise before any request is made;
  malformed responses raise :class:`~recobeat.errors.MalformedResponse`; nothing that failed is
  cached.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import msgspec

from engine import MISSING, Clock, Engine, Missing, chunked, map_bounded
from engine.batchflight import BatchFlight
from engine.coalescing import Coalescer
from engine.engine import checked_quiet
from engine.limits.priority import FETCH_PRIORITY
from engine.shared import KeyClaims, SharedBackend
from recobeat.cache_types import recobeat_types
from recobeat.config import ClientConfig
from recobeat.contract import (
    ARTIST_SEARCH,
    ARTIST_TRACKS,
    ARTISTS,
    AUDIO_FEATURES,
    CLIENT_ID_HEADER,
    MAX_IDS_PER_REQUEST,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_RECOMMENDATIONS,
    MAX_SEARCH_TEXT,
    MAX_SEEDS,
    RECOMMENDATION,
    TRACK_AUDIO_FEATURES,
    TRACKS,
)
from recobeat.defaults import PREWARM_QUIET, TTL_TABLE
from recobeat.errors import (
    BadRequest,
    MalformedResponse,
    RateLimited,
    UpstreamConnectionError,
    UpstreamServerError,
)
from recobeat.ids import check_ids, is_spotify_id
from recobeat.models import Artist, AudioFeatures, Content, Page, Track
from recobeat.stats import ClientStats, EndpointTally
from recobeat.targets import AudioTargets
from recobeat.transport import Transport, TransportError, WireResponse

__all__ = ["RecoBeatClient"]

T = TypeVar("T")

#: Lookups by ID of one kind: ``await lookup(ids, concurrency)``.
_Lookup = Callable[[list[str], int], Awaitable[dict[str, Any]]]

#: Seconds to wait after a 429 whose Retry-After is absent or unusable (not a number of seconds
#: or an HTTP date; infinite, NaN or negative).
_DEFAULT_RETRY_AFTER = 1.0
# RFC 9110 delay-seconds is 1*DIGIT; a decimal fraction is tolerated (it always was).
_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]*)?")


class RecoBeatClient:
    """Typed access to RecoBeat; an async context manager that owns what it creates.

    Pass ``engine`` to share one engine (one rate budget, one cache) between clients,
    ``shared`` (a Redis: :class:`engine.redis.CoredisBackend`) to share them with every
    instance of the service (:meth:`engine.Engine.sharing`: the client's engine keeps its LRU
    in front of the shared cache, takes its grants from the shared budget and fetches each key
    once across instances; the client does not close ``shared``), ``http`` to bring your own
    ``httpx.AsyncClient``, or ``transport`` to change how it sends: an httpx transport (the
    simulator's in-process ``SimulatorTransport``, say) keeps the configured httpx client over
    it; a :class:`recobeat.transport.Transport` (the simulator's ``DirectTransport`` in
    replays) replaces httpx altogether.
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        engine: Engine | None = None,
        shared: SharedBackend | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | Transport | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        if http is not None and transport is not None:
            raise ValueError("pass http or transport, not both: a transport belongs to a client")
        if transport is not None and not isinstance(
            transport, Transport | httpx.AsyncBaseTransport
        ):
            raise TypeError(
                "transport: a recobeat.transport.Transport or an httpx.AsyncBaseTransport, "
                f"not {type(transport).__name__}"
            )
        if engine is not None and shared is not None:
            raise ValueError("pass engine or shared, not both: shared builds the engine")
        self.config = config if config is not None else ClientConfig()
        self._engine = engine
        self._shared = shared
        self._clock = clock
        self._seed = seed
        self._http = http
        self._transport = transport
        # What _get sends through: the given Transport, else httpx (set on entry).
        self._wire: Transport | None = transport if isinstance(transport, Transport) else None
        # Headers a Transport is given with each request; httpx clients carry their own.
        self._wire_headers: dict[str, str] = self._headers() if self._wire is not None else {}
        self._stack = AsyncExitStack()
        self._endpoints: dict[str, EndpointTally] = {}
        self._decoders: dict[Any, msgspec.json.Decoder[Any]] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            if self._engine is None:
                engine = (
                    Engine(self.config.engine, clock=self._clock, seed=self._seed)
                    if self._shared is None
                    else Engine.sharing(
                        self._shared,
                        self.config.engine,
                        registry=recobeat_types(),
                        clock=self._clock,
                        seed=self._seed,
                    )
                )
                self._engine = await stack.enter_async_context(engine)
            else:
                # A shared engine must serve the client's namespaces (declared or by default).
                for namespace in TTL_TABLE:
                    self._engine.config.cache.policy.for_namespace(namespace)
            if self._wire is None:
                if self._http is None:
                    self._http = await stack.enter_async_context(self._new_http_client())
                self._wire = _HttpxWire(self._http)
            self._stack = stack.pop_all()
        engine = self._engine
        batching = self.config.batching
        self._coalescers: list[Coalescer[str, Any]] = []
        self._batch_flights: list[BatchFlight[str, Any]] = []
        self._lookups = {
            "tracks": await self._lookup(
                "tracks", self._request_tracks, self._store_tracks, batching.effective_id_chunk_size
            ),
            "artists": await self._lookup(
                "artists", self._request_artists, self._store_artists, MAX_IDS_PER_REQUEST
            ),
            "audio_features": await self._lookup(
                "audio_features",
                self._request_audio_features,
                self._store_audio_features,
                MAX_IDS_PER_REQUEST,
            ),
        }
        # Instances sharing the flights' backend also share who fetches which ID: the flights
        # hand out the claims (SingleFlight.key_claims; None when there is no one to share with).
        self._claims: dict[str, KeyClaims] = {
            namespace: claims
            for namespace in self._lookups
            if (claims := engine.flights.key_claims(namespace)) is not None
        }
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._stack.__aexit__(exc_type, exc, tb)

    async def _lookup(
        self,
        name: str,
        request: Callable[[list[str]], Awaitable[dict[str, Any]]],
        store: Callable[[list[str], Mapping[str, Any]], Awaitable[None]],
        max_batch: int,
    ) -> _Lookup:
        """How lookups by ID reach ``request`` (one upstream request for up to ``max_batch``
        IDs, run inside the engine's limits) and ``store`` (caches its answer).

        With ``BatchingConfig.coalesce_linger`` set, concurrent callers' IDs travel together (a
        :class:`~engine.coalescing.Coalescer`, owned by this client); without it each call
        sends its own chunks, deduplicated per ID (a :class:`~engine.batchflight.BatchFlight`).
        """
        engine = self.engine
        # The circuit (EngineConfig.breaker) of the endpoint these lookups call.
        endpoint = {"tracks": TRACKS, "artists": ARTISTS, "audio_features": AUDIO_FEATURES}[name]
        linger = self.config.batching.coalesce_linger
        if linger is not None:
            coalescer = Coalescer[str, Any](
                name,
                request,
                through=lambda key, attempt: engine.upstream(key, attempt, endpoint=endpoint),
                max_batch=max_batch,
                linger=linger,
                answered=store,
            )
            await self._stack.enter_async_context(coalescer)
            self._coalescers.append(coalescer)
            return lambda ids, concurrency: coalescer.get_many(ids)

        async def fetch(ids: list[str]) -> dict[str, Any]:
            found = await engine.deduplicated(
                f"{name}:{','.join(sorted(ids))}", lambda: request(ids), endpoint=endpoint
            )
            await store(ids, found)
            return found

        rate = engine.config.rate
        flight = BatchFlight[str, Any](
            name,
            fetch,
            flights=engine.flights,
            max_batch=max_batch,
            concurrency=self.config.batching.track_lookup_concurrency,
            clock=engine.clock,
            settle=rate.settle if rate is not None else 0.0,
        )
        self._batch_flights.append(flight)
        return lambda ids, concurrency: flight.get_many(ids, concurrency=concurrency)

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.config.http.client_id is not None:
            headers[CLIENT_ID_HEADER] = self.config.http.client_id
        return headers

    def _new_http_client(self) -> httpx.AsyncClient:
        http = self.config.http
        return httpx.AsyncClient(
            base_url=http.base_url,
            headers=self._headers(),
            timeout=httpx.Timeout(http.timeout, connect=http.connect_timeout),
            limits=httpx.Limits(
                max_keepalive_connections=http.max_keepalive_connections,
                max_connections=http.max_connections,
                keepalive_expiry=http.keepalive_expiry,
            ),
            http2=http.http2,
            http1=http.http1,
            transport=self._transport,  # an httpx transport or None, never a Transport here
        )

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the client is not open: use it in `async with`")
        return self._engine

    # -- recommendations ----------------------------------------------------------------------

    async def recommendations(
        self,
        seeds: Sequence[str],
        size: int,
        *,
        negative_seeds: Sequence[str] = (),
        targets: AudioTargets | None = None,
    ) -> tuple[Track, ...]:
        """``GET /v1/track/recommendation`` for 1..5 seeds (cached 15 min)."""
        seeds = check_ids(seeds, what="seed")
        negative = check_ids(negative_seeds, what="negative seed")
        _check_range("size", size, 1, MAX_RECOMMENDATIONS)
        _check_range("number of seeds", len(seeds), 1, MAX_SEEDS)
        _check_range("number of negative seeds", len(negative), 0, MAX_SEEDS)
        params: dict[str, Any] = {"seeds": seeds, "size": size}
        if negative:
            params["negativeSeeds"] = negative
        if targets is not None:
            params.update(targets.params())
        page = await self.engine.cached(
            "recommendations",
            params,
            lambda: self._get("recommendation", RECOMMENDATION, params, Content[Track]),
            endpoint=RECOMMENDATION,
        )
        return () if isinstance(page, Missing) else page.content

    async def recommend_from_seeds(
        self, seeds: Sequence[str], size: int, *, targets: AudioTargets | None = None
    ) -> tuple[Track, ...]:
        """Recommendations for any number of seeds, the way the MoodList backend does it:
        chunks of at most 5 seeds, at most 3 chunks at once, chunk ``i`` starting
        ``0.2 s * i`` after the first; candidates merged in chunk order without duplicates."""
        batching = self.config.batching
        chunks = chunked(check_ids(seeds, what="seed"), batching.seed_chunk_size)
        pages = await map_bounded(
            lambda chunk: self.recommendations(chunk, size, targets=targets),
            chunks,
            limit=batching.seed_chunk_concurrency,
            stagger=batching.seed_chunk_stagger,
        )
        merged: dict[str, Track] = {}
        for page in pages:
            for track in page:
                merged.setdefault(track.id, track)
        return tuple(merged.values())

    # -- tracks and the ID registry -----------------------------------------------------------

    async def tracks(self, ids: Iterable[str]) -> dict[str, Track]:
        """Track details by ReccoBeats or Spotify ID (cached 2 h per ID); unknown IDs absent."""
        return await self._lookup_tracks(
            check_ids(ids, what="track id"), self.config.batching.track_lookup_concurrency
        )

    async def convert_ids(self, spotify_ids: Iterable[str]) -> dict[str, str | None]:
        """Spotify ID -> ReccoBeats ID, or ``None`` where RecoBeat does not know the track.

        The ID registry answers first (validated IDs 60 days, missing IDs 14 days); only the
        rest is looked up, in chunks of at most 40, four chunks at once.
        """
        wanted = check_ids(spotify_ids, what="Spotify id")
        if bad := [i for i in wanted if not is_spotify_id(i)]:
            raise ValueError(f"not Spotify IDs: {bad[:5]}")
        known = await self.engine.cache.lookup_many("ids", wanted)
        rest = [i for i in wanted if i not in known]
        if rest:
            found = await self._lookup_tracks(rest, self.config.batching.id_chunk_concurrency)
            known.update({i: found[i].id if i in found else MISSING for i in rest})
        return {i: None if known[i] is MISSING else known[i] for i in wanted}

    async def _lookup_tracks(self, ids: list[str], concurrency: int) -> dict[str, Track]:
        return await self._cached_by_id("tracks", ids, concurrency)

    async def _request_tracks(self, ids: list[str]) -> dict[str, Any]:
        """One ``GET /v1/track`` for up to 40 IDs, answers keyed by the ID asked for."""
        return await self._request_by_ids("tracks", TRACKS, ids, Track)

    async def _store_tracks(self, ids: list[str], found: Mapping[str, Any]) -> None:
        """Caches each track per ID, and fills the ID registry for the Spotify IDs asked for
        that it does not hold yet (a fresh entry is not written again: it keeps its TTL)."""
        cache = self.engine.cache
        await cache.store_many("tracks", found)
        spotify = [i for i in ids if is_spotify_id(i)]
        if spotify:
            held = await cache.lookup_many("ids", spotify, count=False)
            await cache.store_many(
                "ids", {i: found[i].id if i in found else MISSING for i in spotify if i not in held}
            )

    async def _cached_by_id(
        self, namespace: str, ids: list[str], concurrency: int, *, missed: Collection[str] = ()
    ) -> dict[str, Any]:
        """Per-ID cache entries first; the rest through the namespace's lookups (batched,
        each ID in flight at most once, across instances too where the flights share).
        ``missed``: IDs the caller has just looked up in vain (not looked up again)."""
        looked = [i for i in ids if i not in missed] if missed else ids
        found: dict[str, Any] = await self.engine.cache.lookup_many(namespace, looked)
        rest = [i for i in ids if i not in found]
        if rest:
            lookup = self._lookups[namespace]

            async def fetch(keys: list[str]) -> dict[str, Any]:
                return await lookup(keys, concurrency)

            claims = self._claims.get(namespace)
            if claims is None:
                found.update(await fetch(rest))
            else:
                found.update(
                    await claims.fetch(rest, fetch, lambda keys: self._answered(namespace, keys))
                )
        return {i: found[i] for i in ids if i in found and found[i] is not MISSING}

    async def _answered(self, namespace: str, ids: list[str]) -> dict[str, Any]:
        """What another instance's lookup left in the shared store for ``ids``: entries, and
        Spotify IDs the ID registry knows to be missing (as MISSING)."""
        cache = self.engine.cache
        found: dict[str, Any] = await cache.lookup_many(namespace, ids, count=False)
        spotify = [i for i in ids if i not in found and is_spotify_id(i)]
        if namespace in ("tracks", "audio_features") and spotify:
            registry = await cache.lookup_many("ids", spotify, count=False)
            found.update({i: MISSING for i, rid in registry.items() if rid is MISSING})
        return found

    async def _request_by_ids(
        self, endpoint: str, path: str, ids: list[str], item: type[Any]
    ) -> dict[str, Any]:
        """One ``GET path?ids=`` (inside the engine's limits); rows keyed by the ID asked
        for, whether a ReccoBeats or a Spotify ID (rows map back by ``href``, never by
        position: the API omits the IDs it does not know)."""
        page = await self._get(endpoint, path, {"ids": ids}, Content[item])  # type: ignore[valid-type]
        by_id: dict[str, Any] = {}
        for entity in () if isinstance(page, Missing) else page.content:
            by_id[entity.id] = entity
            by_id[entity.spotify_id] = entity
        return {i: by_id[i] for i in ids if i in by_id}

    # -- audio features -----------------------------------------------------------------------

    async def audio_features(self, track_id: str) -> AudioFeatures | None:
        """``GET /v1/track/{id}/audio-features`` (cached 2 h); ``None`` when the track is
        unknown (a 404)."""
        (track_id,) = check_ids([track_id], what="track id", uuid_only=True)
        features = await self.engine.cached(
            "audio_features",
            track_id,
            lambda: self._get(
                "audio_features", TRACK_AUDIO_FEATURES.format(id=track_id), {}, AudioFeatures
            ),
            endpoint=TRACK_AUDIO_FEATURES,
        )
        return None if isinstance(features, Missing) else features

    async def audio_features_many(self, track_ids: Iterable[str]) -> dict[str, AudioFeatures]:
        """Audio features of many tracks, by ReccoBeats or Spotify ID; unknown IDs absent.

        Cached per ID (2 h). With ``BatchingConfig.audio_features_batch`` (the default) the rest
        go through ``GET /v1/audio-features``, 40 IDs a request, Spotify IDs as they are (no
        conversion first: the answer converts them, and the ID registry records it). A Spotify
        ID the registry knows is asked for by its ReccoBeats ID, one it knows to be unknown is
        not asked for, and one the answer omits is recorded there as unknown (14 days). Without
        it, one ``GET /v1/track/{id}/audio-features`` per ID, at most
        ``audio_features_concurrency`` at once (the design note's way; Spotify IDs are
        converted first).
        """
        ids = check_ids(track_ids, what="track id")
        batching = self.config.batching
        if not batching.audio_features_batch:
            spotify = [i for i in ids if is_spotify_id(i)]
            converted = await self.convert_ids(spotify) if spotify else {}
            targets = {i: converted.get(i) or i for i in ids if converted.get(i, i) is not None}
            results = await map_bounded(
                self.audio_features,
                list(targets.values()),
                limit=batching.audio_features_concurrency,
            )
            by_target = dict(zip(targets.values(), results, strict=True))
            return {i: f for i, t in targets.items() if (f := by_target[t]) is not None}
        cache = self.engine.cache
        cached = await cache.lookup_many("audio_features", ids)
        rest = [i for i in ids if i not in cached]
        # A Spotify ID not cached as such but known to the ID registry is asked for by its
        # ReccoBeats ID (no registry write, and the entry other callers find by that ID); one
        # the registry knows to be unknown is not asked for.
        spotify = [i for i in rest if is_spotify_id(i)]
        registry = await cache.lookup_many("ids", spotify, count=False) if spotify else {}
        targets = {i: registry.get(i, i) for i in rest}
        wanted = list(dict.fromkeys(t for t in targets.values() if t is not MISSING))
        fetched = (
            await self._cached_by_id(
                "audio_features", wanted, batching.audio_features_concurrency, missed=set(rest)
            )
            if wanted
            else {}
        )
        result: dict[str, AudioFeatures] = {}
        for i in ids:
            if i in cached:
                if cached[i] is not MISSING:
                    result[i] = cached[i]
            elif (target := targets[i]) is not MISSING and target in fetched:
                result[i] = fetched[target]
        return result

    async def _request_audio_features(self, ids: list[str]) -> dict[str, Any]:
        return await self._request_by_ids(
            "audio_features_batch", AUDIO_FEATURES, ids, AudioFeatures
        )

    async def _store_audio_features(self, ids: list[str], found: Mapping[str, Any]) -> None:
        """Caches the features per ID asked for; records the Spotify IDs asked for in the ID
        registry (known, or unknown when the answer omits them)."""
        cache = self.engine.cache
        await cache.store_many("audio_features", found)
        await cache.store_many(
            "ids", {i: found[i].id if i in found else MISSING for i in ids if is_spotify_id(i)}
        )

    async def prewarm(self, spotify_ids: Iterable[str], *, quiet: float = PREWARM_QUIET) -> int:
        """Fill the ID registry and the audio features of ``spotify_ids`` ahead of need, with
        spare budget only: each request waits until the engine's rate limiter has served no
        interactive request for ``quiet`` seconds (:meth:`engine.Engine.until_quiet`: nobody
        is being served), then goes at background priority (behind the requests someone waits
        for, where the engine's rate limit has priority classes,
        ``RateLimitConfig.background_share``; without them, in the one line like any other).
        So while this instance serves people, pre-warming stays off the budget: the first
        request of a generation that arrives within one spacing of a pre-warm grant waits that
        spacing, and it is not pre-emptive in a few more ways (a pre-warm request answered 429
        retries at the head of the line; a request sleeping out a 5xx backoff is not waiting
        in the limiter; with a shared limiter other instances' requests are not seen).

        IDs whose features are cached, or that the registry knows to be unknown, are skipped
        (looked up without counting: these are not lookups anyone needed); the rest go through
        the audio-features lookups every caller uses (``GET /v1/audio-features``, 40 IDs a
        request, each ID in flight at most once), one chunk of 40 at a time, each by its
        ReccoBeats ID where the registry knows it. An interactive caller that needs an ID
        while its pre-warm request waits in line joins that request, and so waits at
        background priority (one request at most, granted within the background share).
        Returns the IDs asked for.
        """
        checked_quiet(quiet)
        wanted = check_ids(spotify_ids, what="Spotify id")
        if bad := [i for i in wanted if not is_spotify_id(i)]:
            raise ValueError(f"not Spotify IDs: {bad[:5]}")
        cache = self.engine.cache
        lookup = self._lookups["audio_features"]
        asked = 0
        for chunk in chunked(wanted, MAX_IDS_PER_REQUEST):
            await self.engine.until_quiet(quiet)
            # Looked up chunk by chunk: callers may have fetched some meanwhile.
            cached = await cache.lookup_many("audio_features", chunk, count=False)
            rest = [i for i in chunk if i not in cached]
            registry = await cache.lookup_many("ids", rest, count=False) if rest else {}
            targets = [
                t for t in dict.fromkeys(registry.get(i, i) for i in rest) if t is not MISSING
            ]
            if targets:
                known = await cache.lookup_many("audio_features", targets, count=False)
                targets = [t for t in targets if t not in known]
            if not targets:
                continue
            token = FETCH_PRIORITY.set("background")
            try:
                await lookup(targets, 1)
            finally:
                FETCH_PRIORITY.reset(token)
            asked += len(targets)
        return asked

    # -- artists ------------------------------------------------------------------------------

    async def artists(self, ids: Iterable[str]) -> dict[str, Artist]:
        """Artists by ReccoBeats or Spotify ID (cached 1 h per ID); unknown IDs absent."""
        wanted = check_ids(ids, what="artist id")
        concurrency = self.config.batching.track_lookup_concurrency
        return await self._cached_by_id("artists", wanted, concurrency)

    async def _request_artists(self, ids: list[str]) -> dict[str, Any]:
        return await self._request_by_ids("artists", ARTISTS, ids, Artist)

    async def _store_artists(self, ids: list[str], found: Mapping[str, Any]) -> None:
        await self.engine.cache.store_many("artists", found)

    async def search_artists(self, text: str, *, page: int = 0, size: int = 25) -> Page[Artist]:
        """``GET /v1/artist/search`` (cached 1 h)."""
        if not text or len(text) > MAX_SEARCH_TEXT:
            raise ValueError(f"searchText must hold 1 to {MAX_SEARCH_TEXT} characters")
        _check_range("page", page, 0, MAX_PAGE)
        _check_range("size", size, 1, MAX_PAGE_SIZE)
        params = {"searchText": text, "page": page, "size": size}
        return await self._cached_page("artists", "artist_search", ARTIST_SEARCH, params, Artist)

    async def artist_tracks(self, artist_id: str, *, page: int = 0, size: int = 25) -> Page[Track]:
        """``GET /v1/artist/{id}/track`` (cached 2 h)."""
        (artist_id,) = check_ids([artist_id], what="artist id")
        _check_range("page", page, 0, MAX_PAGE)
        _check_range("size", size, 1, MAX_PAGE_SIZE)
        params = {"page": page, "size": size}
        return await self._cached_page(
            "tracks", "artist_tracks", ARTIST_TRACKS.format(id=artist_id), params, Track
        )

    async def _cached_page(
        self, namespace: str, endpoint: str, path: str, params: dict[str, Any], item: type[T]
    ) -> Page[T]:
        result = await self.engine.cached(
            namespace,
            {"path": path, **params},
            lambda: self._get(endpoint, path, params, Page[item]),  # type: ignore[valid-type]
            endpoint={"artist_search": ARTIST_SEARCH, "artist_tracks": ARTIST_TRACKS}[endpoint],
        )
        if isinstance(result, Missing):
            return Page(
                content=(),
                page=params["page"],
                size=params["size"],
                total_elements=0,
                total_pages=0,
            )
        return result

    # -- the wire -----------------------------------------------------------------------------

    async def _get(self, endpoint: str, path: str, params: Mapping[str, Any], type_: Any) -> Any:
        """One attempt: GET, then the answer as ``type_``, :data:`MISSING` for a 404, or a
        typed error. Runs inside the engine's gate and retry loop."""
        wire = self._wire
        assert wire is not None, "the client is not open"
        clock = self.engine.clock
        tally = self._endpoints.setdefault(endpoint, EndpointTally())
        started = clock.monotonic()
        try:
            response = await wire.request("GET", path, _query(params), self._wire_headers)
        except TransportError as exc:
            tally.record(clock.monotonic() - started, "error")
            raise UpstreamConnectionError(f"{endpoint}: {exc}") from exc
        status = response.status
        tally.record(clock.monotonic() - started, status)
        if status == 200:
            try:
                return self._decoder(type_).decode(response.body)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise MalformedResponse(f"{endpoint}: {exc}") from None
        if status == 404:
            return MISSING
        if status == 429:
            raise RateLimited(
                f"{endpoint}: 429",
                retry_after=parse_retry_after(response.headers.get("retry-after"), clock.wall()),
            )
        if status >= 500:
            raise UpstreamServerError(f"{endpoint}: {status}")
        raise BadRequest(status, f"{endpoint}: {_error_message(response)}")

    def _decoder(self, type_: Any) -> msgspec.json.Decoder[Any]:
        decoder = self._decoders.get(type_)
        if decoder is None:
            decoder = self._decoders[type_] = msgspec.json.Decoder(type_)
        return decoder

    # -- statistics ---------------------------------------------------------------------------

    def stats(self) -> ClientStats:
        engine = self.engine.stats()
        registry = engine.cache.namespaces["ids"]
        batching = self.config.batching
        return ClientStats(
            engine=engine,
            endpoints={name: tally.snapshot() for name, tally in sorted(self._endpoints.items())},
            upstream_requests=sum(t.calls for t in self._endpoints.values()),
            rate_limited=engine.rate_limited,
            dedup_saved=engine.flights.shared
            + sum(flight.joined for flight in self._batch_flights)
            + sum(coalescer.joined for coalescer in self._coalescers),
            registry_lookups_avoided=registry.hits + registry.negative_hits,
            id_chunk_size=batching.effective_id_chunk_size,
            id_chunk_size_clamped=batching.effective_id_chunk_size < batching.id_chunk_size,
        )


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, not {value!r}")


def _query(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Repeated query values for lists (``ids=a&ids=b``), as the API's own examples do."""
    query: list[tuple[str, str]] = []
    for name, value in params.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            query.append((name, str(item)))
    return query


def parse_retry_after(value: str | None, now: float) -> float:
    """Seconds a ``Retry-After`` header asks to wait, never infinite, NaN or negative.

    ``value`` is delay-seconds (``120``; a decimal is accepted) or an HTTP date (``Wed, 21 Oct
    2015 07:28:00 GMT``), measured from ``now`` (epoch seconds: the engine clock's ``wall()``,
    never the system's); a date in the past is 0. Anything else (absent, malformed, ``inf``,
    ``1e999``, ``NaN``, negative) is :data:`_DEFAULT_RETRY_AFTER`. A finite value is not capped
    here: the engine decides how long it waits (``RetryConfig.max_retry_after``) and bounds the
    pause every other caller sees by the same value.
    """
    if value is None:
        return _DEFAULT_RETRY_AFTER
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        seconds = float(text)  # 400 digits are inf
        return seconds if math.isfinite(seconds) else _DEFAULT_RETRY_AFTER
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return _DEFAULT_RETRY_AFTER
    if when.tzinfo is None:  # "-0000": UTC, with no claim about the local zone
        when = when.replace(tzinfo=UTC)
    try:
        at = when.timestamp()
    except (OverflowError, OSError, ValueError):
        return _DEFAULT_RETRY_AFTER
    return max(0.0, at - now) if math.isfinite(now) else _DEFAULT_RETRY_AFTER


class _HttpxWire(Transport):
    """The default wire: an ``httpx.AsyncClient`` (its base URL, default headers, timeouts and
    transport), its transport errors named by their httpx class (``ReadError: ...``)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> WireResponse:
        try:
            response = await self.http.request(method, path, params=query, headers=headers or None)
        except httpx.TransportError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc
        return WireResponse(response.status_code, response.headers, response.content)


def _error_message(response: WireResponse) -> str:
    """An error body's message on one line of at most 200 characters: ``errors[0].message``
    (the live API's ``{"status", "errors": [{"message"}]}``), else a top-level ``message``, else
    ``error``, else the body's text. Runs of whitespace become one space; longer text is cut
    and ends in an ellipsis."""
    most = 200
    text = None
    try:
        body = msgspec.json.decode(response.body)
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        nested = first.get("message") if isinstance(first, dict) else None
        for candidate in (nested, body.get("message"), body.get("error")):
            if isinstance(candidate, str) and candidate.strip():
                text = candidate
                break
    line = " ".join((response.text if text is None else text).split())
    return line if len(line) <= most else line[: most - 1] + "\u2026"
