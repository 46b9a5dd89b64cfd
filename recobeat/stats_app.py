"""An ASGI app serving the client's statistics at ``/api/cache/stats`` (the design note's endpoint).

Mount it in a FastAPI/Starlette app (``app.mount("/", stats_app(client))``) or serve it alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

from recobeat.client import RecoBeatClient

__all__ = ["STATS_PATH", "stats_app"]

STATS_PATH = "/api/cache/stats"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def stats_app(client: RecoBeatClient) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``GET /api/cache/stats`` answers ``client.stats()`` as JSON; anything else is a 404
    (405 for another method on that path)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != STATS_PATH:
            status, body = 404, b'{"error":"Not Found"}'
        elif scope["method"] not in ("GET", "HEAD"):
            status, body = 405, b'{"error":"Method Not Allowed"}'
        else:
            status, body = 200, msgspec.json.encode(client.stats())
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    return app
