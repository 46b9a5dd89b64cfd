"""In-process access: an httpx transport that calls the simulator directly, no sockets.

Faults surface as they would over a network: TIMEOUT never returns (bound the call with
``anyio.fail_after``; httpx's ``timeout=`` does not apply to in-process transports), RESET
raises :class:`httpx.ReadError` once the service delay has passed.
"""

from __future__ import annotations

import anyio
import httpx

from recobeat.contract import CLIENT_ID_HEADER
from simulator.upstream.faults import Fault
from simulator.upstream.messages import Request
from simulator.upstream.service import RecoBeatSimulator

__all__ = ["SimulatorTransport"]


_HEADERS_CACHED = 4096


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
        client_header = request.headers.get(CLIENT_ID_HEADER)
        sim_request = Request(
            request.method,
            url.path,
            url.query.decode("ascii"),
            ((CLIENT_ID_HEADER, client_header),) if client_header else (),
            self.client_id,
        )
        exchange = await self.simulator.exchange(sim_request)
        if exchange.fault is Fault.TIMEOUT:
            await anyio.sleep_forever()
        response = exchange.response
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
