"""Plain HTTP messages, independent of any HTTP library: what the simulator takes and returns."""

from __future__ import annotations

import msgspec

__all__ = ["Request", "Response", "error_response", "json_response"]

_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_JSON = ("content-type", "application/json")


class Request(msgspec.Struct, frozen=True):
    """A request as the server sees it. ``query`` is the raw (percent-encoded) query string;
    ``headers`` are (lower-case name, value) pairs; ``peer`` identifies the connection."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    peer: str | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Response(msgspec.Struct, frozen=True):
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class _ErrorBody(msgspec.Struct):
    status: int
    error: str
    message: str
    path: str


_encode = msgspec.json.Encoder().encode


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(status, (_JSON,), body)


def error_response(
    status: int, message: str, path: str, extra_headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """A JSON error: ``{"status", "error" (the reason phrase), "message", "path"}``."""
    body = _encode(_ErrorBody(status, _REASONS.get(status, "Error"), message, path))
    return Response(status, (_JSON, *extra_headers), body)
