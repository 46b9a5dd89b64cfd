"""A line of callers taking turns: a FIFO lock where a caller may ask to go first."""

from __future__ import annotations

from collections import deque

import anyio
import anyio.lowlevel

__all__ = ["Line"]


class _Turn:
    __slots__ = ("first", "given", "wake")

    def __init__(self, first: bool) -> None:
        self.first = first
        self.given = False
        self.wake = anyio.Event()


class Line:
    """A mutex whose waiters are served first come, first served, except that one who asks to go
    ``first`` is served before every waiter who did not (and after earlier ``first`` ones).

    The turn is handed over on :meth:`release`, so nobody arriving meanwhile can take it ahead of
    the line. A waiter cancelled while it waits leaves the line; one cancelled just after it was
    handed the turn passes it on. It does not preempt the holder: a ``first`` caller waits for
    the current holder to release.
    """

    def __init__(self) -> None:
        self._held = False
        self._waiting: deque[_Turn] = deque()

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

    async def acquire(self, *, first: bool = False) -> None:
        """Wait for the turn; the caller must :meth:`release` it. A checkpoint, like
        :meth:`anyio.Lock.acquire`: raises at once in a cancelled scope, and lets other tasks
        run even when the turn is free."""
        await anyio.lowlevel.checkpoint_if_cancelled()
        if not self._held and not self._waiting:
            self._held = True
            try:
                await anyio.lowlevel.cancel_shielded_checkpoint()
            except BaseException:
                self.release()
                raise
            return
        turn = _Turn(first)
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
            turn = self._waiting.popleft()
            turn.given = True  # the turn passes directly: _held stays True
            turn.wake.set()
        else:
            self._held = False
