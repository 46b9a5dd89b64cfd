"""Task groups raise exception groups; callers usually want the one error.

Two places where a group is noise rather than news:

- a fan-out whose only failure is one exception (:func:`single_error`);
- an object that owns a task group for its ``async with`` block (the engine's singleflight, a
  Redis connection pool): an error raised by the *caller's own code* in that block would leave it
  wrapped in the owner's group, so ``except ValueError`` around the block would never match
  (:func:`exit_owned`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager

__all__ = ["exit_owned", "single_error"]


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


async def exit_owned(aexit: Awaitable[bool | None], exc: BaseException | None) -> bool | None:
    """Await an owned task group's ``__aexit__`` (``aexit``) for a block that raised ``exc``.

    Guarantee: if the group that comes out holds nothing but ``exc`` itself (the owner's own
    tasks were cancelled quietly), ``exc`` leaves the block as itself, with its traceback, not
    wrapped. A group that holds anything else (a failure of the owner's own tasks) passes through
    unchanged, so no error is lost.
    """
    try:
        return await aexit
    except BaseExceptionGroup as group:
        if exc is not None and all(leaf is exc for leaf in _leaves(group)):
            return False  # the context-manager protocol re-raises ``exc`` unchanged
        raise


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for member in group.exceptions:
        if isinstance(member, BaseExceptionGroup):
            yield from _leaves(member)
        else:
            yield member
