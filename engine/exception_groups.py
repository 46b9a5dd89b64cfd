"""Task groups raise exception groups; callers usually want the one error.

Two places where a group is noise rather than news:

- a fan-out whose only failure is one exception (:func:`single_error`);
- an object that owns a task group for its ``async with`` block (the engine's singleflight, a
  Redis connection pool): an error raised by the *caller's own code* in that block would leave it
  wrapped in the owner's group, so ``except ValueError`` around the block would never match
  (:func:`exit_owned`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

__all__ = ["OwnedTaskGroup", "exit_owned", "single_error"]


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


class OwnedTaskGroup:
    """The task group an object owns for its ``async with`` block (a singleflight, a
    coalescer): opened by the owner's ``__aenter__``, cancelled and awaited by its
    ``__aexit__``, so no task it started outlives the block, and an error the caller's own code
    raised in the block leaves it as itself (:func:`exit_owned`)."""

    __slots__ = ("_group", "_owner")

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._group: anyio.abc.TaskGroup | None = None

    @property
    def is_open(self) -> bool:
        return self._group is not None

    async def open(self) -> None:
        if self._group is not None:
            raise RuntimeError(f"{self._owner} is already open")
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start ``fn(*args)`` in the group; the owner checks :attr:`is_open` first."""
        if self._group is None:
            raise RuntimeError(f"{self._owner} is not open")
        self._group.start_soon(fn, *args)

    async def close(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Cancel every task still running and wait for them (the owner's ``__aexit__``)."""
        group, self._group = self._group, None
        if group is None:
            raise RuntimeError(f"{self._owner} is not open")
        group.cancel_scope.cancel()
        return await exit_owned(group.__aexit__(exc_type, exc, tb), exc)
