"""Every request that reached the simulator, in order of arrival, for scenario checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec

__all__ = ["RequestLog", "RequestRecord"]


class RequestRecord(msgspec.Struct, frozen=True, gc=False):
    """One request to ``path``. ``arrival``/``responded`` are ``clock.monotonic()`` seconds;
    ``sent`` is when the client sent it, when known (in-process). ``endpoint`` is the route
    template (``None`` for an unknown path); ``params`` the canonical query
    (:func:`simulator.upstream.api.canonical_query`).
    ``status`` and ``responded`` are ``None`` when no response ever came (timeout, reset).
    ``outcome``: ``ok`` (the endpoint answered, whatever its status), ``rate_limited``,
    ``blocked`` (penalty box), ``error`` (injected 5xx), ``timeout``, ``reset``, ``malformed``.
    ``retry_after``: the seconds a 429 asked the client to wait."""

    seq: int
    arrival: float
    client: str
    path: str
    endpoint: str | None
    params: str
    status: int | None
    responded: float | None
    outcome: str
    sent: float | None = None
    retry_after: int | None = None
    """The ``Retry-After`` (whole seconds) of a 429."""


class RequestLog:
    """An append-only list of :class:`RequestRecord` (appending is one list append)."""

    __slots__ = ("_records",)

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        self._records.append(record)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self._records)

    def records(self) -> list[RequestRecord]:
        """A copy of the records, in order of arrival."""
        return list(self._records)

    def to_jsonl(self) -> bytes:
        """One JSON object per line, in order of arrival."""
        if not self._records:
            return b""
        return msgspec.json.Encoder().encode_lines(self._records)

    def write_jsonl(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_jsonl())

    @staticmethod
    def read_jsonl(data: bytes) -> list[RequestRecord]:
        return msgspec.json.Decoder(RequestRecord).decode_lines(data)
