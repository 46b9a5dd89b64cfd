"""A line of callers taking turns: a FIFO lock where a caller may ask to go first, and where,
with priority classes, interactive callers go before background ones within a share."""

from __future__ import annotations

from collections import deque

import anyio
import anyio.lowlevel

from engine.limits.priority import BACKGROUND, INTERACTIVE, Priority, PriorityShare

__all__ = ["Line"]


class _Turn:
    __slots__ = ("first", "given", "priority", "wake")

    def __init__(self, first: bool, priority: Priority) -> None:
        self.first = first
        self.priority = priority
        self.given = False
        self.wake = anyio.Event()


class Line:
    """A mutex whose waiters are served first come, first served, except that one who asks to go
    ``first`` is served before every waiter who did not (and after earlier ``first`` ones).

    The turn is handed over on :meth:`release`, so nobody arriving meanwhile can take it ahead of
    the line. A waiter cancelled while it waits leaves the line; one cancelled just after it was
    handed the turn passes it on. It does not preempt the holder: a ``first`` caller waits for
    the current holder to release.

    With a :class:`~engine.limits.priority.PriorityShare` (``share``), the next turn among
    callers that did not ask to go first goes to the class the share chooses: interactive
    before background, first come first served within a class, background getting its bounded
    share while both wait.
    """

    def __init__(self, share: PriorityShare | None = None) -> None:
        self._held = False
        self._waiting: deque[_Turn] = deque()
        self.share = share

    def locked(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        """Callers waiting for their turn (the holder not included)."""
        return len(self._waiting)

    def __repr__(self) -> str:
        first = sum(1 for turn in self._waiting if turn.first)
        return (
            f"<Line [{'held' if self._held else 'free'} | "
            f"waiting: {len(self._waiting)} ({first} first)]>"
        )

    async def acquire(self, *, first: bool = False, priority: Priority = INTERACTIVE) -> None:
        """Wait for the turn; the caller must :meth:`release` it. A checkpoint, like
        :meth:`anyio.Lock.acquire`: raises at once in a cancelled scope, and lets other tasks
        run even when the turn is free. ``priority`` counts only with a share."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        if not self._held and not self._waiting:
            self._held = True
            if self.share is not None and not first:
                self.share.granted_to(
                    priority, interactive=priority == INTERACTIVE, background=priority == BACKGROUND
                )
            try:
                await anyio.lowlevel.cancel_shielded_checkpoint()
            except BaseException:
                self.release()
                raise
            return
        turn = _Turn(first, priority)
        if first:
            # Behind the `first` waiters already there, before everyone else.
            at = 0
            while at < len(self._waiting) and self._waiting[at].first:
                at += 1
            self._waiting.insert(at, turn)
        else:
            self._waiting.append(turn)
        try:
            await turn.wake.wait()
        except BaseException:
            if turn.given:
                self.release()  # handed the turn as we were cancelled: pass it on
            else:
                self._waiting.remove(turn)
            raise

    def release(self) -> None:
        """End the holder's turn: the next in line gets it, or the line is free."""
        if not self._held:
            raise RuntimeError("release() of a Line nobody holds")
        if self._waiting:
            turn = self._next()
            turn.given = True  # the turn passes directly: _held stays True
            turn.wake.set()
        else:
            self._held = False

    def _next(self) -> _Turn:
        """Take the turn the next caller gets: a ``first`` one, else the share's class's
        earliest (the earliest of all without a share)."""
        waiting = self._waiting
        share = self.share
        if share is None or waiting[0].first:
            return waiting.popleft()
        interactive = any(t.priority == INTERACTIVE for t in waiting)
        background = any(t.priority == BACKGROUND for t in waiting)
        chosen = share.choose(interactive=interactive, background=background)
        turn = next(t for t in waiting if t.priority == chosen)
        waiting.remove(turn)
        share.granted_to(chosen, interactive=interactive, background=background)  # type: ignore[arg-type]
        return turn
