"""The client reads Retry-After safely: delay-seconds or an HTTP date (measured on the engine
clock's wall time), and a non-finite, negative or malformed value is a safe default. Whatever it
says, one 429 neither wedges nor stalls the other callers. Virtual time, both backends."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from engine import RateLimited, VirtualClock
from engine.clock import DEFAULT_EPOCH
from recobeat.client import RecoBeatClient, parse_retry_after
from recobeat.config import ClientConfig, HttpConfig
from simulator import RecoBeatSimulator, SimulatorTransport

pytestmark = pytest.mark.anyio

NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


def http_date(epoch_seconds: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(epoch_seconds, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("86400", 86400.0),  # finite: the engine bounds it, not the parser
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 09:28:30 +0200", 30.0),
        ("Wed, 21 Oct 2015 07:28:30 -0000", 30.0),
        ("Wednesday, 21-Oct-15 07:28:30 GMT", 30.0),  # RFC 850, still to be accepted
        ("Wed Oct 21 07:28:30 2015", 30.0),  # asctime
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: go now
        # Unusable: the default.
        (None, 1.0),
        ("", 1.0),
        ("inf", 1.0),
        ("Infinity", 1.0),
        ("1e999", 1.0),
        ("9" * 400, 1.0),
        ("NaN", 1.0),
        ("-5", 1.0),
        ("-inf", 1.0),
        ("1e3", 1.0),
        ("soon", 1.0),
        ("Wed, 32 Oct 2015 07:28:30 GMT", 1.0),
    ],
)
def test_retry_after_values(header: str | None, seconds: float) -> None:
    assert parse_retry_after(header, NOW) == pytest.approx(seconds)


class FirstAnswered429(httpx.AsyncBaseTransport):
    """Answers the first request 429 with ``Retry-After: retry_after()`` (none if it returns
    ``None``); sends the others to the simulator. Records ``(path, instant)`` of every request."""

    def __init__(self, simulator: RecoBeatSimulator, retry_after: Callable[[], str | None]):
        self.inner = SimulatorTransport(simulator)
        self.retry_after = retry_after
        self.sent: list[tuple[str, float]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.url.path, anyio.current_time()))
        if len(self.sent) == 1:
            value = self.retry_after()
            headers = {} if value is None else {"retry-after": value}
            return httpx.Response(429, headers=headers, json={"message": "slow down"})
        return await self.inner.handle_async_request(request)

    def times(self, track: str) -> list[float]:
        return [round(t, 6) for path, t in self.sent if track in path]


@pytest.fixture
def open_client(make_simulator: Callable[..., RecoBeatSimulator]):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def open_(
        retry_after: Callable[[], str | None], config: ClientConfig | None = None
    ) -> AsyncIterator[tuple[RecoBeatClient, RecoBeatSimulator, FirstAnswered429]]:
        sim = make_simulator()
        transport = FirstAnswered429(sim, retry_after)
        config = msgspec.structs.replace(
            config or ClientConfig(),
            http=HttpConfig(base_url="http://recobeat.test", client_id="backend-1"),
        )
        async with RecoBeatClient(
            config, transport=transport, clock=VirtualClock(), seed=3
        ) as client:
            yield client, sim, transport

    return open_


async def two_lookups(client: RecoBeatClient, a: str, b: str) -> dict[str, Any]:
    """``a``'s features (its first request is the 429), then ``b``'s 0.01 s later. Under a
    deadline: in virtual time a limiter wedged forever fails the test at once."""
    outcome: dict[str, Any] = {}

    async def look(track: str) -> None:
        try:
            outcome[track] = await client.audio_features(track)
        except RateLimited as exc:
            outcome[track] = exc

    with anyio.fail_after(3600):
        async with anyio.create_task_group() as tg:
            tg.start_soon(look, a)
            await anyio.sleep(0.01)
            tg.start_soon(look, b)
    return outcome


@pytest.mark.parametrize("header", ["inf", "1e999", "NaN", "-5", "soon"])
async def test_an_unusable_retry_after_waits_the_default_and_wedges_nobody(
    open_client,  # type: ignore[no-untyped-def]
    header: str,
) -> None:
    async with open_client(lambda: header) as (client, sim, transport):
        a, b = sim.catalog.track_uuid(1), sim.catalog.track_uuid(2)
        outcome = await two_lookups(client, a, b)
        stats = client.stats()
    assert outcome[a] is not None and not isinstance(outcome[a], RateLimited)
    assert outcome[b] is not None and not isinstance(outcome[b], RateLimited)
    # Told "wait 1 s" (the default) at 0: a goes first when the pause ends, then b.
    assert transport.times(a) == pytest.approx([0.0, 1.0])
    assert transport.times(b) == pytest.approx([1.75])
    assert stats.rate_limited == 1


async def test_a_day_long_retry_after_fails_its_caller_and_pauses_others_only_so_long(
    open_client,  # type: ignore[no-untyped-def]
) -> None:
    config = ClientConfig(engine={"retry": {"max_retry_after": 60}})
    async with open_client(lambda: "86400", config) as (client, sim, transport):
        a, b = sim.catalog.track_uuid(1), sim.catalog.track_uuid(2)
        outcome = await two_lookups(client, a, b)
    assert isinstance(outcome[a], RateLimited) and outcome[a].retry_after == 86400
    assert transport.times(a) == [0.0]  # not retried: the caller gets the error at once
    assert outcome[b] is not None and not isinstance(outcome[b], RateLimited)
    assert transport.times(b) == pytest.approx([60.0])  # paused for max_retry_after, not a day


async def test_an_http_date_is_measured_on_the_engine_clock(
    open_client,  # type: ignore[no-untyped-def]
) -> None:
    # The virtual clock's wall time starts at DEFAULT_EPOCH: "come back at epoch + 30 s". The
    # system clock says 2020-something; were it read, the wait would be years, or nothing.
    async with open_client(lambda: http_date(DEFAULT_EPOCH + 30)) as (client, sim, transport):
        a, b = sim.catalog.track_uuid(1), sim.catalog.track_uuid(2)
        outcome = await two_lookups(client, a, b)
    assert transport.times(a) == pytest.approx([0.0, 30.0])
    assert transport.times(b) == pytest.approx([30.75])
    assert not isinstance(outcome[a], RateLimited) and not isinstance(outcome[b], RateLimited)


async def test_an_http_date_in_the_past_means_retry_now(
    open_client,  # type: ignore[no-untyped-def]
) -> None:
    async with open_client(lambda: http_date(DEFAULT_EPOCH - 3600)) as (client, sim, transport):
        a, b = sim.catalog.track_uuid(1), sim.catalog.track_uuid(2)
        await two_lookups(client, a, b)
    # No pause: a's retry takes the next grant (0.75 s after its first), ahead of b.
    assert transport.times(a) == pytest.approx([0.0, 0.75])
    assert transport.times(b) == pytest.approx([1.5])
