"""How :class:`~recobeat.client.RecoBeatClient` sends a request: its plug-in point for transports.

The client needs one thing from the wire: send ``method path?query`` with its headers, and get
back a status, the response headers and the body, or learn that no response came. That is a
:class:`Transport`. By default the client speaks HTTP through httpx (an ``httpx.AsyncClient`` it
builds from :class:`~recobeat.config.HttpConfig`, or one passed in, or an httpx transport under
it); a :class:`Transport` of this module replaces that whole stack. The simulator's
``DirectTransport`` is one: replays call the simulated service directly, without building URLs,
httpx requests and responses for each call.

Whatever the transport, the client does the rest the same way: decoding, the typed errors,
``Retry-After``, timing.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

__all__ = ["Transport", "TransportError", "WireResponse"]


class TransportError(Exception):
    """No response came: the connection failed, was reset, or the response was cut short.

    The client turns it into :class:`~recobeat.errors.UpstreamConnectionError` (retried)."""


class WireResponse:
    """A response as the client reads it: ``status``, ``headers`` (lower-case names) and the
    raw ``body``."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<WireResponse [{self.status}, {len(self.body)} bytes]>"

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced): error messages only."""
        return self.body.decode("utf-8", errors="replace")


class Transport(abc.ABC):
    """Sends one request and returns its response; subclass it to plug in another wire.

    The client does not open or close a transport it is given: its owner does.
    """

    @abc.abstractmethod
    async def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> WireResponse:
        """``method path`` with ``query`` (name, value) pairs, a name repeated for each value of
        a list, not yet percent-encoded, and the client's ``headers`` (lower-case names:
        ``accept``, and ``x-client-id`` when :class:`~recobeat.config.HttpConfig` sets one).

        Returns any response, whatever its status. Raises :class:`TransportError` when no
        response comes. A response that never comes may also just never return: the engine's
        per-attempt deadline cancels the call.
        """
