"""In-process access, no sockets: an httpx transport, and the client's own direct transport.

:class:`SimulatorTransport` plugs under httpx: whatever speaks httpx reaches the simulator as
over HTTP (URLs, headers and bodies built and parsed by httpx). :class:`DirectTransport` plugs
straight into :class:`~recobeat.client.RecoBeatClient` (a :class:`recobeat.transport.Transport`)
and skips httpx: scenario replays use it, since building httpx requests and responses was a
quarter of a replay's time. Both send the simulator the same request and so draw the same
answers, delays and faults: the direct one passes the client's query pairs as they are when
they are plain ASCII text (what parsing their encoding would give back), else it encodes the
query string as httpx does.

Faults surface as they would over a network: TIMEOUT never returns (bound the call with
``anyio.fail_after``; httpx's ``timeout=`` does not apply to in-process transports), RESET
raises :class:`httpx.ReadError` (:class:`recobeat.transport.TransportError` through
:class:`DirectTransport`) once the service delay has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

import anyio
import httpx

from recobeat.contract import CLIENT_ID_HEADER
from recobeat.transport import Transport, TransportError, WireResponse
from simulator.upstream.faults import Fault
from simulator.upstream.messages import Request, Response
from simulator.upstream.service import RecoBeatSimulator

__all__ = ["DirectTransport", "SimulatorTransport"]


_HEADERS_CACHED = 4096


async def _exchange(
    simulator: RecoBeatSimulator,
    method: str,
    path: str,
    query: str,
    client_header: str | None,
    client_id: str | None,
    pairs: tuple[tuple[str, str], ...] | None = None,
) -> Response | None:
    """One request to ``simulator`` as both transports send it (only the client-id header is
    passed on); its response, or ``None`` for a reset. A timeout never returns."""
    exchange = await simulator.exchange(
        Request(
            method,
            path,
            query,
            ((CLIENT_ID_HEADER, client_header),) if client_header else (),
            client_id,
            pairs,
        )
    )
    if exchange.fault is Fault.TIMEOUT:
        await anyio.sleep_forever()
    return exchange.response


class SimulatorTransport(httpx.AsyncBaseTransport):
    """Sends requests to ``simulator``; ``client_id`` plays the connection's peer (an
    ``X-Client-Id`` header on the request takes precedence). Only that header is passed on."""

    def __init__(self, simulator: RecoBeatSimulator, *, client_id: str | None = None) -> None:
        self.simulator = simulator
        self.client_id = client_id
        # httpx.Headers per (simulator headers, body length): a response's headers are
        # normalised once, then copied (httpx.Response copies a Headers instance's list).
        self._headers: dict[tuple[tuple[tuple[str, str], ...], int], httpx.Headers] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        response = await _exchange(
            self.simulator,
            request.method,
            url.path,
            url.query.decode("ascii"),
            request.headers.get(CLIENT_ID_HEADER),
            self.client_id,
        )
        if response is None:
            raise httpx.ReadError("connection reset by peer (simulated)", request=request)
        body = response.body
        key = (response.headers, len(body))
        headers = self._headers.get(key)
        if headers is None:
            if len(self._headers) >= _HEADERS_CACHED:
                self._headers.clear()
            headers = httpx.Headers([*response.headers, ("content-length", str(len(body)))])
            self._headers[key] = headers
        return httpx.Response(
            response.status, headers=headers, stream=httpx.ByteStream(body), request=request
        )


class DirectTransport(Transport):
    """Sends the client's requests to ``simulator`` without HTTP messages; ``client_id`` plays
    the connection's peer (the client's ``x-client-id`` header takes precedence). Only that
    header is passed on, as :class:`SimulatorTransport` does."""

    def __init__(self, simulator: RecoBeatSimulator, *, client_id: str | None = None) -> None:
        self.simulator = simulator
        self.client_id = client_id

    async def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> WireResponse:
        pairs = tuple(query)
        if all(type(n) is str and type(v) is str and n.isascii() and v.isascii() for n, v in pairs):
            # Plain ASCII text pairs: parsing their form encoding gives them back unchanged, so
            # the simulator takes them as they are (the same parameters, answers and faults).
            response = await _exchange(
                self.simulator,
                method,
                path,
                "",
                headers.get(CLIENT_ID_HEADER),
                self.client_id,
                pairs,
            )
        else:
            response = await _exchange(
                self.simulator,
                method,
                path,
                # httpx encodes a query exactly so (form encoding): the same raw query string
                urlencode(query),
                headers.get(CLIENT_ID_HEADER),
                self.client_id,
            )
        if response is None:
            raise TransportError("connection reset by peer (simulated)")
        return WireResponse(response.status, dict(response.headers), response.body)
