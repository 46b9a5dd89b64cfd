"""The simulator as an ASGI application, for serving over real HTTP.

The client is the ``X-Client-Id`` header, else the peer's IP address. TIMEOUT holds the
request open until the client gives up or the server shuts down; RESET starts a response and
then aborts it, so the server drops the connection (the client sees a transport error).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from simulator.upstream.faults import Fault
from simulator.upstream.messages import Request
from simulator.upstream.service import RecoBeatSimulator

__all__ = ["SimulatedConnectionReset", "SimulatorApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


_PROMISED = (b"content-length", b"64")


class SimulatedConnectionReset(Exception):
    """Raised inside the ASGI app to make the server drop the connection mid-response."""


class SimulatorApp:
    def __init__(self, simulator: RecoBeatSimulator) -> None:
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        client = scope.get("client")
        request = Request(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=tuple(
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]
            ),
            peer=client[0] if client else None,
        )
        exchange = await self.simulator.exchange(request)
        if exchange.fault is Fault.TIMEOUT:
            await anyio.sleep_forever()
        response = exchange.response
        if response is None:
            # Promise a body, then break the promise: HTTP/1.1 servers drop the connection when
            # the app fails mid-response; over HTTP/2 the stream ends short of its length.
            start = {"type": "http.response.start", "status": 200, "headers": [_PROMISED]}
            await send(start)
            if scope.get("http_version") == "2":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            raise SimulatedConnectionReset("connection reset (simulated)")
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
