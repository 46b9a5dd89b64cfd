"""The simulated ReccoBeats service: catalog endpoints behind a rate limit, latency and faults.

A request goes through three steps, the first two sans-I/O:

1. :meth:`RecoBeatSimulator.receive` (at send time) identifies the request: its client
   (``X-Client-Id`` header, else the connection's peer, else ``"anonymous"``), its endpoint, its
   canonical parameters and its key, a digest of (seed, client, path, canonical parameters, how
   many identical requests this client sent before). All of its randomness comes from the key,
   so it does not depend on the order in which concurrent tasks run. The key also draws the
   one-way network delay.
2. :meth:`RecoBeatSimulator.handle` (at arrival, ``now``) applies the rate limit, then the
   endpoint's fault plan, builds the response and appends the :class:`RequestRecord`.
3. :meth:`RecoBeatSimulator.exchange` does both with the I/O: it sleeps the network delay
   before arrival and the service delay after, reading time only from the injected clock.
   Adapters (:mod:`simulator.upstream.transport`, :mod:`simulator.upstream.asgi`) turn the
   result into a response, a connection reset or a response that never comes.
"""

from __future__ import annotations

import math

import anyio
import msgspec

from engine.clock import Clock
from recobeat.contract import CLIENT_ID_HEADER
from simulator.upstream.api import Params, RecoBeatApi, Route, match_route, request_params
from simulator.upstream.catalog import Catalog
from simulator.upstream.config import SimulatorConfig
from simulator.upstream.faults import Fault, FaultPlan
from simulator.upstream.messages import Request, Response, error_response
from simulator.upstream.rate_limit import Rejected, UpstreamRateLimit
from simulator.upstream.request_log import RequestLog, RequestRecord
from simulator.upstream.seeded import digest, unit

__all__ = ["Exchange", "RecoBeatSimulator", "Ticket", "client_identity"]

_OUTCOME = {
    Fault.NONE: "ok",
    Fault.ERROR: "error",
    Fault.TIMEOUT: "timeout",
    Fault.RESET: "reset",
    Fault.MALFORMED: "malformed",
}


def client_identity(request: Request) -> str:
    """The ``X-Client-Id`` header, else the peer, else ``"anonymous"``."""
    return request.header(CLIENT_ID_HEADER) or request.peer or "anonymous"


class Ticket(msgspec.Struct, frozen=True):
    """A received request: who sent it, where to, its canonical form and its random key."""

    request: Request
    client: str
    route: Route | None
    params: Params
    canonical: str
    key: bytes
    network_delay: float
    sent: float | None = None


class Exchange(msgspec.Struct, frozen=True):
    """The service's answer: ``response`` (``None`` for TIMEOUT and RESET), the ``delay`` after
    arrival at which it leaves, the injected ``fault`` and the logged ``record``."""

    response: Response | None
    delay: float
    fault: Fault
    record: RequestRecord


class RecoBeatSimulator:
    """The whole simulated service. ``origin``: the ``clock.monotonic()`` reading that fault
    windows count from (virtual runs start at 0). A ``catalog`` built for the same random seed
    and catalog config may be shared between simulators to save its construction."""

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: Clock,
        origin: float = 0.0,
        catalog: Catalog | None = None,
    ) -> None:
        self.config = config = config or SimulatorConfig()
        if catalog is None:
            catalog = Catalog(config.catalog, seed=config.seed)
        elif catalog.seed != config.seed or catalog.config != config.catalog:
            raise ValueError("catalog was built for another seed or catalog config")
        self.clock = clock
        self.catalog = catalog
        self.api = RecoBeatApi(catalog)
        self.rate_limit = UpstreamRateLimit(config.rate_limit, origin=origin)
        self.faults = FaultPlan(config.service, config.endpoints, origin=origin)
        self.log = RequestLog()
        self._occurrences: dict[str, int] = {}

    def receive(self, request: Request, *, sent: float | None = None) -> Ticket:
        client = client_identity(request)
        params, canonical = request_params(request)
        identity = f"{client}\x1f{request.method}\x1f{request.path}\x1f{canonical}"
        n = self._occurrences.get(identity, 0)
        self._occurrences[identity] = n + 1
        key = digest(self.config.seed, f"{identity}\x1f{n}")
        network_delay = self.config.network.sample(unit(key, 4), unit(key, 5))
        route = match_route(request.path)
        return Ticket(request, client, route, params, canonical, key, network_delay, sent)

    def handle(self, ticket: Ticket, now: float) -> Exchange:
        request = ticket.request
        endpoint = ticket.route.template if ticket.route is not None else None
        verdict = self.rate_limit.check(ticket.client, now, ticket.sent)
        if isinstance(verdict, Rejected):
            delay = self.config.rate_limit.rejection_latency
            wait = verdict.retry_after
            retry_after = max(1, math.ceil(wait))
            response = error_response(
                429,
                f"Rate limit exceeded; retry after {wait:.3f} s",
                detail=1 if verdict.blocked else 0,
                headers=(
                    ("retry-after", str(retry_after)),
                    ("x-ratelimit-reset-after", f"{wait:.3f}"),
                ),
            )
            outcome = "blocked" if verdict.blocked else "rate_limited"
            return self._record(ticket, now, response, delay, Fault.NONE, outcome, retry_after)
        decision = self.faults.decide(endpoint or request.path, ticket.key, now)
        fault = decision.fault
        response: Response | None = None
        if fault is Fault.ERROR:
            response = error_response(decision.status, "Simulated server error")
        elif fault is Fault.NONE or fault is Fault.MALFORMED:
            response = self.api.respond_memo(request, ticket.params, ticket.route)
            if fault is Fault.MALFORMED:
                if response.status == 200:
                    body = response.body
                    cut = min(len(body) - 1, max(1, int(len(body) * decision.cut)))
                    response = Response(200, response.headers, body[:cut])
                else:
                    fault = Fault.NONE
        return self._record(ticket, now, response, decision.delay, fault, _OUTCOME[fault])

    async def exchange(self, request: Request) -> Exchange:
        """Receive ``request`` now, sleep its network delay, handle it on arrival, sleep its
        service delay, and return the exchange (the caller delivers or withholds the response)."""
        ticket = self.receive(request, sent=self.clock.monotonic())
        if ticket.network_delay > 0:
            await anyio.sleep(ticket.network_delay)
        result = self.handle(ticket, self.clock.monotonic())
        if result.delay > 0 and result.fault is not Fault.TIMEOUT:
            await anyio.sleep(result.delay)
        return result

    def _record(
        self,
        ticket: Ticket,
        now: float,
        response: Response | None,
        delay: float,
        fault: Fault,
        outcome: str,
        retry_after: int | None = None,
    ) -> Exchange:
        record = RequestRecord(
            seq=len(self.log),
            arrival=now,
            client=ticket.client,
            path=ticket.request.path,
            endpoint=ticket.route.template if ticket.route is not None else None,
            params=ticket.canonical,
            status=response.status if response is not None else None,
            responded=now + delay if response is not None else None,
            outcome=outcome,
            sent=ticket.sent,
            retry_after=retry_after,
        )
        self.log.append(record)
        return Exchange(response, delay, fault, record)
