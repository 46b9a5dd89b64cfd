"""Recorded traces: the calls a backend made, read one record at a time.

A trace is JSON lines (``.jsonl``) or CSV (``.csv``, with a header) of timestamped records, each
either one raw client call (``call`` and ``ids``) or one playlist generation (``playlist``,
``seeds`` and optional mood targets). ``kind = "trace"`` replays one (scenarios/README.md,
"Traces", documents the format). Every record is validated; an error names the file, the line
and the field, in one line. Records are read lazily, in file order, which must be time order,
so a trace of millions of records never sits in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from recobeat.contract import MAX_SEARCH_TEXT, MAX_SEEDS
from recobeat.ids import is_reccobeats_id
from simulator.upstream.ids import spotify_value

__all__ = [
    "CALLS",
    "MOOD_TARGETS",
    "TraceEntry",
    "TraceError",
    "TraceRecord",
    "iter_trace",
    "trace_format",
]

#: The raw client calls a record can name (those of ``kind = "requests"``).
CALLS = ("tracks", "convert_ids", "audio_features", "recommendations", "artist_search")
#: The mood targets a playlist record can carry (those a generation's mood sets).
MOOD_TARGETS = ("energy", "valence", "danceability", "acousticness")
#: Seeds per generation, as ``kind = "playlists"`` allows.
MAX_PLAYLIST_SEEDS = 200

_Unit = Annotated[float, msgspec.Meta(ge=0, le=1)]
_Seconds = Annotated[float, msgspec.Meta(ge=0)]


class TraceError(ValueError):
    """A trace that cannot be replayed; the message names the line and the field."""


class TraceRecord(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One line of a trace, as written."""

    at: _Seconds | datetime
    """Seconds from the trace's start, or an ISO-8601 timestamp (the first record is time 0)."""
    call: (
        Literal["tracks", "convert_ids", "audio_features", "recommendations", "artist_search"]
        | None
    ) = None
    """A raw client call (those of ``kind = "requests"``), or none for a playlist."""
    ids: list[str] | str | None = None
    """The call's IDs (Spotify or ReccoBeats), or the search text of ``artist_search``."""
    playlist: str | None = None
    """A playlist generation; the value labels it (the user, a request ID)."""
    seeds: list[str] | None = None
    """The generation's seeds: Spotify track IDs."""
    energy: _Unit | None = None
    valence: _Unit | None = None
    danceability: _Unit | None = None
    acousticness: _Unit | None = None

    def __post_init__(self) -> None:
        _check(self)


class TraceEntry(msgspec.Struct, frozen=True):
    """A validated record: its line in the file and its time (seconds from the trace's start)."""

    line: int
    at: float
    record: TraceRecord


def _check(r: TraceRecord) -> None:
    """The rules a field type cannot say; a ValueError starting with the field's name."""
    if (r.call is None) == (r.playlist is None):
        raise ValueError("call, playlist: a record is exactly one of a call or a playlist")
    targets = [name for name in MOOD_TARGETS if getattr(r, name) is not None]
    if r.call is not None:
        if r.call not in CALLS:
            raise ValueError(f"call: one of {', '.join(CALLS)}, not {r.call!r}")
        if r.seeds is not None or targets:
            extra = "seeds" if r.seeds is not None else targets[0]
            raise ValueError(f"{extra}: only a playlist record has it (use ids for a call)")
        _check_ids(r.call, r.ids)
        return
    if r.ids is not None:
        raise ValueError("ids: a playlist record names its seeds in seeds")
    if not r.playlist:
        raise ValueError("playlist: an empty label")
    if not r.seeds:
        raise ValueError("seeds: a playlist needs at least one seed")
    if len(r.seeds) > MAX_PLAYLIST_SEEDS:
        raise ValueError(f"seeds: at most {MAX_PLAYLIST_SEEDS}, not {len(r.seeds)}")
    if bad := [i for i in r.seeds if not _is_spotify_id(i)]:
        raise ValueError(f"seeds: not a Spotify track ID{_SPOTIFY}: {bad[0]!r}")


def _check_ids(call: str, ids: list[str] | str | None) -> None:
    if ids is None:
        raise ValueError(f"ids: {call} needs ids")
    if call == "artist_search":
        if not isinstance(ids, str) or not 1 <= len(ids) <= MAX_SEARCH_TEXT:
            raise ValueError(f"ids: artist_search takes a text of 1 to {MAX_SEARCH_TEXT} chars")
        return
    if isinstance(ids, str) or not ids:
        raise ValueError(f"ids: {call} takes a non-empty list of IDs")
    spotify_only = call == "convert_ids"
    for i in ids:
        if not (_is_spotify_id(i) or (not spotify_only and is_reccobeats_id(i))):
            kind = f"a Spotify ID{_SPOTIFY}"
            kind = kind if spotify_only else f"neither {kind} nor a ReccoBeats UUID"
            raise ValueError(f"ids: {'not ' if spotify_only else ''}{kind}: {i!r}")
    seeds = len(dict.fromkeys(ids))  # the client asks for each seed once
    if call == "recommendations" and seeds > MAX_SEEDS:
        raise ValueError(f"ids: a recommendation takes at most {MAX_SEEDS} seeds, not {seeds}")


_SPOTIFY = " (22 base-62 characters, a value below 2**128)"


def _is_spotify_id(value: str) -> bool:
    """A well-formed Spotify ID: 22 base-62 characters of a value below 2**128, as real ones
    are (the simulator resolves any such ID)."""
    return spotify_value(value) is not None


def trace_format(path: str | Path, declared: str | None = None) -> Literal["jsonl", "csv"]:
    """``declared``, else the format the file's suffix says (``.jsonl``/``.ndjson``, ``.csv``)."""
    if declared is not None:
        if declared not in ("jsonl", "csv"):
            raise TraceError(f"format: jsonl or csv, not {declared!r}")
        return declared  # type: ignore[return-value]
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise TraceError(f"format: cannot tell from the suffix {suffix!r}; say jsonl or csv")


def iter_trace(path: str | Path, format: str | None = None) -> Iterator[TraceEntry]:
    """The records of the trace at ``path``, validated, in order, one at a time.

    Raises :class:`TraceError` (``<path>: line N: <field>: <reason>``) at the first record that
    is malformed or earlier than the one before it; the records before it have been yielded.
    """
    fmt = trace_format(path, format)
    try:
        handle = open(path, encoding="utf-8", newline="")  # noqa: SIM115 (a generator holds it)
    except OSError as exc:
        raise TraceError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        raw = _jsonl(handle) if fmt == "jsonl" else _csv(handle)
        start: datetime | None = None
        previous = 0.0
        kind: type | None = None
        count = 0
        for line, decode in raw:
            try:
                record = decode()
            except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
                raise TraceError(f"{path}: line {line}: {_field_first(str(exc))}") from None
            if kind is None:
                kind = type(record.at)
            elif type(record.at) is not kind:
                raise TraceError(
                    f"{path}: line {line}: at: a timestamp where the trace started with "
                    "seconds, or seconds where it started with a timestamp"
                )
            if isinstance(record.at, datetime):
                stamp = _utc(record.at)
                start = stamp if start is None else start
                at = (stamp - start).total_seconds()
            else:
                at = float(record.at)
            if at < previous:
                raise TraceError(
                    f"{path}: line {line}: at: {at:g} s is before the previous record's "
                    f"{previous:g} s (records go in time order)"
                )
            previous = at
            count += 1
            yield TraceEntry(line, at, record)
        if count == 0:
            raise TraceError(f"{path}: no records")


def _utc(stamp: datetime) -> datetime:
    """A timestamp without an offset is read as UTC."""
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


def _field_first(message: str) -> str:
    """msgspec's ``Expected `int`, got `str` - at `$.ids[0]``` as ``ids[0]: Expected ...``."""
    text, sep, where = message.rpartition(" - at `$.")
    if sep and where.endswith("`"):
        return f"{where[:-1]}: {text}"
    if message.startswith("Object contains unknown field `"):
        name = message.removeprefix("Object contains unknown field `").split("`", 1)[0]
        return f"{name}: unknown field (known: {_KNOWN})"
    if message.startswith("Object missing required field `"):
        name = message.removeprefix("Object missing required field `").split("`", 1)[0]
        return f"{name}: missing"
    return message


_KNOWN = ", ".join(("at", "call", "ids", "playlist", "seeds", *MOOD_TARGETS))
_DECODER = msgspec.json.Decoder(TraceRecord)


def _jsonl(handle: io.TextIOBase) -> Iterator[tuple[int, object]]:
    for n, text in enumerate(handle, start=1):
        if text.strip():
            yield n, lambda text=text: _DECODER.decode(text)


_SEARCH = "artist_search"
_FIELDS = frozenset({"at", "call", "ids", "playlist", "seeds", *MOOD_TARGETS})


def _csv(handle: io.TextIOBase) -> Iterator[tuple[int, object]]:
    reader = csv.DictReader(handle)
    header = reader.fieldnames
    if header is None:
        return
    columns = [c.strip() for c in header]
    if unknown := [c for c in columns if c not in _FIELDS]:
        raise TraceError(
            f"{getattr(handle, 'name', 'trace')}: line 1: {unknown[0]}: unknown column "
            f"(known: {_KNOWN})"
        )
    reader.fieldnames = columns
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        yield line, lambda row=row: _convert_row(row)


def _convert_row(row: dict[str, object]) -> TraceRecord:
    if None in row:
        raise ValueError("more cells than the header has columns")
    data: dict[str, object] = {}
    for key, value in row.items():
        cell = (value or "").strip() if isinstance(value, str) else ""
        if not cell:
            continue
        if key == "at":
            data[key] = _number_or_text(cell)
        elif key in MOOD_TARGETS:
            try:
                data[key] = float(cell)
            except ValueError:
                raise ValueError(f"{key}: not a number: {cell!r}") from None
        elif key == "seeds" or (key == "ids" and str(row.get("call") or "").strip() != _SEARCH):
            data[key] = cell.split()
        else:
            data[key] = cell
    return msgspec.convert(data, TraceRecord)


def _number_or_text(cell: str) -> float | str:
    try:
        return float(cell)
    except ValueError:
        return cell
