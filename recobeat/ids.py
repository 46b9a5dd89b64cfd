"""Identifiers: ReccoBeats IDs are UUIDs, Spotify IDs 22 base-62 characters; both are accepted
by the track endpoints. Invalid IDs are refused before any request is made."""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.errors import EngineError

__all__ = ["InvalidId", "check_ids", "is_reccobeats_id", "is_spotify_id"]

_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_SPOTIFY = re.compile(r"[0-9A-Za-z]{22}")


class InvalidId(EngineError, ValueError):
    """An ID that is neither a ReccoBeats UUID nor a Spotify ID."""


def is_reccobeats_id(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def is_spotify_id(value: str) -> bool:
    return _SPOTIFY.fullmatch(value) is not None


def check_ids(ids: Iterable[str], *, what: str = "id", uuid_only: bool = False) -> list[str]:
    """``ids`` as a list, deduplicated in order; raises :class:`InvalidId` naming the bad ones."""
    checked = list(dict.fromkeys(ids))
    bad = [
        i
        for i in checked
        if not isinstance(i, str)
        or not (is_reccobeats_id(i) or (not uuid_only and is_spotify_id(i)))
    ]
    if bad:
        kinds = "a ReccoBeats UUID" if uuid_only else "a ReccoBeats UUID or a Spotify ID"
        raise InvalidId(f"invalid {what} (expected {kinds}): {', '.join(map(repr, bad[:5]))}")
    return checked
