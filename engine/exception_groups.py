"""Task groups raise exception groups; callers of a fan-out usually want the one error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_error"]


@contextmanager
def single_error() -> Iterator[None]:
    """Re-raise an exception group holding exactly one exception as that exception; groups of
    several (genuinely concurrent failures) pass through unchanged."""
    try:
        yield
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise
