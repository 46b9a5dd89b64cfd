"""Plain HTTP messages, independent of any HTTP library: what the simulator takes and returns.

Error bodies have the live API's shape, ``{"status": <code>, "errors": [{"message": "..."}]}``,
where ``status`` is an application error code, not the HTTP status (:func:`error_code`).
"""

from __future__ import annotations

from http import HTTPStatus

import msgspec

__all__ = [
    "VALIDATION_DETAIL",
    "Request",
    "Response",
    "error_code",
    "error_response",
    "json_response",
    "reason_phrase",
]

_JSON = ("content-type", "application/json")

#: The detail digit of a parameter that fails validation: ``400`` becomes ``4004``, the one
#: code observed on the live API (``size must be between 1 and 40``).
VALIDATION_DETAIL = 4


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` (``Bad Request`` for 400), ``""`` if it has
    none."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def error_code(status: int, detail: int = 0) -> int:
    """The body's ``status`` for an HTTP ``status``: the HTTP status times ten plus a detail
    digit (0..9), so ``4004`` is a 400 with detail 4. Only ``4004`` has been observed on the live
    API; the scheme around it is this simulator's assumption (docs/recobeat-api.md)."""
    if not 0 <= detail <= 9:
        raise ValueError(f"detail: {detail} is not a digit")
    return status * 10 + detail


class Request(msgspec.Struct, frozen=True, gc=False):
    """A request as the server sees it. ``query`` is the raw (percent-encoded) query string;
    ``headers`` are (lower-case name, value) pairs; ``peer`` identifies the connection.

    ``pairs``, when set, is the query already decoded into (name, value) pairs, exactly what
    parsing its query string would give, and stands instead of ``query`` (then empty): the
    in-process :class:`~simulator.upstream.transport.DirectTransport` sends the client's pairs
    so instead of encoding them for the simulator to decode again."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    peer: str | None = None
    pairs: tuple[tuple[str, str], ...] | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class Response(msgspec.Struct, frozen=True, gc=False):
    """A response as the server sends it. Requests and responses are frozen and cycle-free,
    and the answer memo holds thousands: neither is tracked by the garbage collector."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class _ErrorMessage(msgspec.Struct):
    message: str


class _ErrorBody(msgspec.Struct):
    status: int
    errors: tuple[_ErrorMessage, ...]


_encode = msgspec.json.Encoder().encode


def json_response(body: bytes, status: int = 200) -> Response:
    return Response(status, (_JSON,), body)


def error_response(
    status: int,
    message: str,
    *,
    detail: int = 0,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """A JSON error as the live API sends one: ``{"status": error_code(status, detail),
    "errors": [{"message": message}]}``, with ``headers`` after the content type."""
    body = _encode(_ErrorBody(error_code(status, detail), (_ErrorMessage(message),)))
    return Response(status, (_JSON, *headers), body)
