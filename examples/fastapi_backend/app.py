"""A FastAPI service that embeds one RecoBeatClient (issue 15's example backend).

Run it from the repository's root (``pip install -e ".[example,server]"``)::

    hypercorn examples.fastapi_backend.app:app      # or: uvicorn examples.fastapi_backend.app:app

Settings come from the environment (:meth:`Settings.from_env`): ``RECOBEAT_CONFIG`` (a TOML
file holding a ``ClientConfig``: ``[http]``, ``[engine]``, ``[batching]``), ``REDIS_URL`` (the
shared tier: one rate budget and one cache for every instance; needs the ``redis`` extra) and
``PLAYLIST_TIMEOUT`` (seconds a playlist request may wait for the upstream, 60 by default).

Routes:

- ``POST /api/playlists`` ``{"seeds": [...], "size": 25, "mood": {"energy": 0.7}}``: a
  playlist (:mod:`.playlist`);
- ``GET /api/cache/stats``: the client's statistics (what ``recobeat.stats_app`` serves);
- ``GET /metrics``: the engine's statistics in Prometheus' text format;
- ``GET /healthz``: 200 while the client is open.

Every handler is ``async def``: FastAPI runs a plain ``def`` (endpoint or dependency) in a worker
thread, which buys nothing here and would take it out of virtual time in tests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import anyio
import httpx
import msgspec
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from engine import (
    CircuitOpen,
    EngineError,
    RateLimited,
    RateLimitTimeout,
    Retryable,
    SingleFlightClosed,
    UpstreamTimeout,
    load_config,
)
from engine.shared import (
    SharedBackend,
    SharedTierUnavailable,
)
from examples.fastapi_backend.playlist import NoKnownSeeds, generate_playlist
from recobeat.client import RecoBeatClient
from recobeat.config import ClientConfig
from recobeat.errors import BadRequest
from recobeat.ids import InvalidId
from recobeat.metrics import prometheus_text
from recobeat.mood import mood_of
from recobeat.stats_app import STATS_PATH
from recobeat.targets import AudioTargets

__all__ = ["ERROR_STATUS", "Settings", "app", "create_app"]

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Settings:
    client: ClientConfig = field(default_factory=ClientConfig)
    """RecoBeat's tuned settings unless a file says otherwise."""
    redis_url: str | None = None
    """The shared tier (``redis://host:6379/0``); ``None``: this instance's memory only."""
    playlist_timeout: float = 60.0
    """Seconds a playlist request may wait (mostly for the rate budget: 80 requests a minute
    for every user of the service) before it is answered 503."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        path = env.get("RECOBEAT_CONFIG")
        return cls(
            client=load_config(Path(path), ClientConfig) if path else ClientConfig(),
            redis_url=env.get("REDIS_URL") or None,
            playlist_timeout=float(env.get("PLAYLIST_TIMEOUT", "60")),
        )


# -- errors: the one place the library's exceptions become HTTP answers -----------------------


class PlaylistTimeout(Exception):
    """The playlist was not ready within ``Settings.playlist_timeout``."""


class NotReady(Exception):
    """A request arrived while the client is not open (before startup or after shutdown)."""


#: First match wins (subclasses before their bases). Anything else is a 500.
ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (InvalidId, 400),  # a malformed ID: refused before any upstream request
    (NoKnownSeeds, 422),  # well-formed, but RecoBeat knows none of the seeds
    (CircuitOpen, 503),  # the upstream kept failing: refused without being sent
    (RateLimitTimeout, 503),  # no rate-budget grant before a deadline
    (PlaylistTimeout, 503),  # the request's own deadline passed (mostly waiting for the budget)
    (RateLimited, 503),  # still 429 after the retries
    (SharedTierUnavailable, 503),  # Redis unreachable where the tier cannot fall back
    (SingleFlightClosed, 503),  # shutting down under the request
    (NotReady, 503),
    (UpstreamTimeout, 504),  # the upstream did not answer in time, after the retries
    (BadRequest, 502),  # the upstream refused a request the client thought valid
    (Retryable, 502),  # 5xx, connection reset, malformed body, after the retries
)


def error_response(exc: Exception) -> JSONResponse:
    """``{"error": "<one line>"}`` with the status of ``exc``'s first match in ERROR_STATUS
    (and a ``Retry-After`` where the error knows how long to wait)."""
    status = next((s for t, s in ERROR_STATUS if isinstance(exc, t)), 500)
    # A 500 is a bug: its details go to the log (Starlette's), not to the caller.
    message = "internal error" if status == 500 else " ".join(str(exc).split())
    headers = {}
    retry_after = getattr(exc, "retry_after", None)
    if status == 503 and isinstance(retry_after, int | float):
        headers["retry-after"] = str(max(1, round(retry_after)))
    return JSONResponse({"error": message or type(exc).__name__}, status, headers=headers)


async def _library_error(request: Request, exc: Exception) -> Response:
    return error_response(exc)


async def _invalid_body(request: Request, exc: Exception) -> Response:
    """Pydantic's complaint about the body on one line (the first error, with its location)."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"] if part != "body")
    return JSONResponse({"error": f"{where}: {first['msg']}" if where else first["msg"]}, 422)


# -- the request and the answer ---------------------------------------------------------------

Unit = Annotated[float | None, Field(ge=0, le=1)]


class Mood(BaseModel):
    energy: Unit = None
    valence: Unit = None
    danceability: Unit = None
    acousticness: Unit = None


class PlaylistRequest(BaseModel):
    seeds: list[str] = Field(min_length=1, max_length=50)
    """Spotify track IDs or ReccoBeats IDs."""
    size: int = Field(25, ge=1, le=100)
    mood: Mood | None = None
    """Targets; the seeds' own average mood when absent."""


class TrackOut(BaseModel):
    id: str
    spotify_id: str
    title: str
    artists: list[str]
    mood: dict[str, float]


class PlaylistOut(BaseModel):
    tracks: list[TrackOut]
    mood: dict[str, float]
    seeds: list[str]
    """The ReccoBeats IDs recommended from."""
    unknown_seeds: list[str]


# -- the app ----------------------------------------------------------------------------------


def create_app(
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    redis: SharedBackend | None = None,
) -> FastAPI:
    """The service. ``transport``: how the client reaches RecoBeat (``None``: the real API;
    tests pass ``simulator.SimulatorTransport``). ``redis``: a shared tier to use instead of
    connecting to ``settings.redis_url`` (tests pass ``engine.shared.InProcessRedis``)."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            shared = redis
            if shared is None and settings.redis_url is not None:
                from engine.redis import CoredisBackend, RedisConfig  # the redis extra

                shared = await stack.enter_async_context(
                    CoredisBackend(RedisConfig(url=settings.redis_url))
                )
            # ONE client for the whole process: one rate budget, one cache, one HTTP/2 pool;
            # with a shared tier, one budget and one cache for every instance of the service.
            app.state.recobeat = await stack.enter_async_context(
                RecoBeatClient(settings.client, shared=shared, transport=transport)
            )
            try:
                yield
            finally:
                del app.state.recobeat

    app = FastAPI(title="playlists (recobeat-engine example)", lifespan=lifespan)
    for error in (EngineError, NoKnownSeeds, PlaylistTimeout, NotReady):
        app.add_exception_handler(error, _library_error)
    app.add_exception_handler(RequestValidationError, _invalid_body)

    @app.post("/api/playlists")
    async def create_playlist(body: PlaylistRequest, client: Client) -> PlaylistOut:
        targets = AudioTargets(**body.mood.model_dump(exclude_none=True)) if body.mood else None
        with anyio.move_on_after(settings.playlist_timeout) as deadline:
            playlist = await generate_playlist(client, body.seeds, body.size, targets)
        if deadline.cancelled_caught:
            raise PlaylistTimeout(
                f"no playlist within {settings.playlist_timeout:g} s; retry later"
            )
        return PlaylistOut(
            tracks=[
                TrackOut(
                    id=track.id,
                    spotify_id=track.spotify_id,
                    title=track.track_title,
                    artists=[a.name for a in track.artists],
                    mood=mood_of(features),
                )
                for track, features in playlist.tracks
            ],
            mood=playlist.targets.params(),
            seeds=playlist.seeds,
            unknown_seeds=playlist.unknown_seeds,
        )

    @app.get(STATS_PATH)
    async def cache_stats(client: Client) -> Response:
        # ClientStats is a msgspec Struct: encoded as recobeat.stats_app encodes it.
        return Response(msgspec.json.encode(client.stats()), media_type="application/json")

    @app.get("/metrics")
    async def metrics(client: Client) -> Response:
        return PlainTextResponse(prometheus_text(client.stats()), media_type=PROMETHEUS_TEXT)

    @app.get("/healthz")
    async def health(client: Client) -> dict[str, Any]:
        return {"status": "ok"}

    return app


async def _client(request: Request) -> RecoBeatClient:
    client = getattr(request.app.state, "recobeat", None)
    if client is None:
        raise NotReady("the service is starting or stopping")
    return client  # type: ignore[no-any-return]


Client = Annotated[RecoBeatClient, Depends(_client)]


app = create_app(Settings.from_env())
