"""An async rate limiter: FIFO, cancellation-safe, deadline-aware, in real or virtual time."""

from __future__ import annotations

import bisect
import math
from collections import deque

import anyio
import msgspec

from engine.clock import Clock
from engine.errors import EngineError
from engine.limits.adaptive import AdaptiveRate
from engine.limits.config import RateLimitConfig
from engine.limits.priority import (
    BACKGROUND,
    INTERACTIVE,
    Priority,
    PriorityShare,
    fetch_priority,
)
from engine.limits.schedule import MAX_PAUSE, RateSchedule

__all__ = ["RateLimitTimeout", "RateLimiter", "RateLimiterStats", "checked_pause", "turnstile"]


class RateLimitTimeout(EngineError, TimeoutError):
    """No grant could be made before the caller's deadline."""

    def __init__(self, message: str, *, next_allowed: float) -> None:
        super().__init__(message)
        self.next_allowed = next_allowed

    @classmethod
    def next_at(cls, next_allowed: float) -> RateLimitTimeout:
        """The deadline passes before ``next_allowed``, the earliest grant the rules allow."""
        return cls(
            f"no grant possible before the deadline (next at {next_allowed:.3f})",
            next_allowed=next_allowed,
        )


class RateLimiterStats(msgspec.Struct, frozen=True):
    granted: int
    waited: int
    """Grants that had to wait (the rest went through at once)."""
    total_wait: float
    """Seconds spent waiting, summed over granted callers."""
    timeouts: int
    max_queue: int
    queue: int
    busy_time: float
    """Seconds (on the limiter's clock) during which at least one caller was waiting for a
    grant, the current stretch included: the time the budget had work waiting for it. A
    stretch starts when the budget could first grant, not when the caller arrived (waiting
    out the spacing after a grant just made does not leave the budget unused)."""
    busy_periods: int
    """Stretches of such time: how often the limiter went from nobody waiting to someone."""
    busy_grants: int
    """Grants made to callers that waited (each during a busy stretch). With the budget's
    sustainable rate ``r``, ``busy_grants / (busy_time * r + busy_periods)`` is the share of
    what it allowed while work waited that it granted."""
    adaptive_scale: float | None = None
    """With an adaptive rate: the current share of the configured budget."""
    adaptive_decreases: int = 0
    """With an adaptive rate: the decreases 429s caused."""
    background_grants: int = 0
    """Grants to background requests (``granted - background_grants`` went to interactive
    ones); counted whether or not the line orders by class."""
    contended_grants: int = 0
    """With priority classes (``RateLimitConfig.background_share``): grants made while
    interactive and background requests both waited."""
    background_ahead: int = 0
    """Of those, the grants that went to background: its share in use (at most one in every
    ``round(1 / background_share)``)."""


class _Waiter:
    __slots__ = ("order", "priority", "wake")

    def __init__(self, order: tuple[int, int, float, str, int], priority: Priority) -> None:
        self.order = order
        self.priority = priority
        # Made when the waiter waits behind another (a request that reaches the head at once,
        # as most do, never needs one).
        self.wake: anyio.Event | None = None

    def notify(self) -> None:
        """Wake the waiter if it waits for the line to move (the head looks again anyway)."""
        if self.wake is not None:
            self.wake.set()

    def __lt__(self, other: _Waiter) -> bool:
        return self.order < other.order


class RateLimiter:
    """Grants requests as fast as the :class:`RateLimitConfig` rules allow, and never faster.

    Guarantees:

    - Every grant respects every rule (see :class:`engine.limits.schedule.RateSchedule`), and no
      grant is later than the rules and the FIFO order require (work-conserving).
    - Waiters are served first come, first served; waiters that came at the same instant are
      served in the order of their ``key`` (not in the event loop's order). A waiter that asks
      to go ``first`` (the retry of a request the upstream answered 429) is served before every
      waiter that did not, the head of the line included, so that when a pause ends the request
      that caused it goes out before the requests that queued behind it.
    - With ``RateLimitConfig.background_share`` (priority classes, off by default), the line is
      ordered by ``(first, class, arrival, key)``: interactive requests before background ones,
      and while both wait, one grant in every ``round(1 / share)`` goes to background (decided
      by :class:`engine.limits.priority.PriorityShare`). A request's class is the ``priority``
      argument, else :func:`engine.limits.priority.fetch_priority` (the context variable a
      refresh ahead sets). Without it, every request is in one class: first come, first served.
    - With ``settle > 0`` (a config field replays set), a grant waits until ``settle`` seconds
      after its request: in virtual time every request made at the same instant has then
      joined the line, so which one goes first depends on keys alone, on asyncio and on trio.
    - A waiter that is cancelled, or whose deadline passes, consumes no grant and does not delay
      the waiters behind it.
    - When nobody waits and the rules allow it, :meth:`acquire` returns without a checkpoint and
      without touching anyio: the uncontended path is a few comparisons.
    """

    def __init__(self, config: RateLimitConfig, *, clock: Clock) -> None:
        self.config = config
        self._clock = clock
        self._schedule = RateSchedule(self.config)
        self.adaptive = (
            AdaptiveRate(config.adaptive, config) if config.adaptive is not None else None
        )
        self._sent: deque[float] = deque()  # with an adaptive rate: the grants of a window
        """The rate learnt from the upstream's answers (``RateLimitConfig.adaptive``), or None."""
        self._queue: list[_Waiter] = []  # sorted by (not first, class, arrival, key, sequence)
        share = config.background_share
        self._share = PriorityShare(share) if share is not None else None
        self._background_waiting = 0  # background waiters in the line (with classes only)
        self._background_grants = 0
        self._sequence = 0
        self._settle = self.config.settle
        self._granted = 0
        self._waited = 0
        self._total_wait = 0.0
        self._timeouts = 0
        self._max_queue = 0
        self._busy_time = 0.0  # closed busy stretches
        self._busy_since = 0.0  # when the current one began (the queue is non-empty)
        self._busy_periods = 0
        self._interactive_at = -math.inf  # the latest interactive grant, or waiter's leaving
        self._interactive_waiting = 0

    async def acquire(
        self,
        *,
        deadline: float | None = None,
        key: str = "",
        first: bool = False,
        priority: Priority | None = None,
    ) -> float:
        """Wait for a grant and return its time (on ``clock.monotonic()``).

        ``deadline`` is an instant on ``clock.monotonic()``. When the grant cannot be made by
        then, raises :class:`RateLimitTimeout`; it raises as soon as it knows (the head of the
        queue does not sleep towards a grant that would come too late). ``key`` orders requests
        made at the same instant. ``first`` joins the line at its head, behind earlier ``first``
        waiters only (a retry after a 429: it was in line before everyone now waiting).
        ``priority``: the request's class (default: :func:`~engine.limits.priority.fetch_priority`,
        ``"interactive"`` unless set); it orders the line only with
        ``RateLimitConfig.background_share``.
        """
        if priority is None:
            priority = fetch_priority()
        now = self._clock.monotonic()
        if not self._queue and not self._settle and self._schedule.try_grant(now):
            self._granted += 1
            if priority == BACKGROUND:
                self._background_grants += 1
            else:
                self._interactive_at = now
            if self._share is not None and not first:
                self._share.granted_to(
                    priority, interactive=priority == INTERACTIVE, background=priority == BACKGROUND
                )
            if self.adaptive is not None:
                self._sent.append(now)
            return now
        return await self._wait_in_line(now, deadline, key, first, priority)

    def _head(self) -> _Waiter:
        """The waiter the next grant goes to (the line is not empty): the head of the sorted
        line, unless priority classes give this grant to the first background waiter."""
        queue = self._queue
        head = queue[0]
        share = self._share
        if share is None or head.order[0] == 0 or not self._background_waiting:
            return head  # no classes, a retry first, or no background waiting
        interactive = head.priority == INTERACTIVE  # else only background waits
        if share.choose(interactive=interactive, background=True) == INTERACTIVE:
            return head
        return queue[bisect.bisect_left(queue, (1, 1), key=lambda w: w.order)]

    async def _wait_in_line(
        self,
        arrived: float,
        deadline: float | None,
        key: str,
        first: bool,
        priority: Priority = INTERACTIVE,
    ) -> float:
        self._sequence += 1
        rank = 1 if self._share is not None and priority == BACKGROUND else 0
        waiter = _Waiter((0 if first else 1, rank, arrived, key, self._sequence), priority)
        queue = self._queue
        if not queue:
            # The stretch of work waiting for the budget starts when the budget could first
            # grant (the spacing after a grant just made is not time the budget left unused).
            self._busy_since = max(arrived + self._settle, self._schedule.next_allowed(arrived))
            self._busy_periods += 1
        bisect.insort(queue, waiter)
        if rank:
            self._background_waiting += 1
        if priority == INTERACTIVE:
            self._interactive_waiting += 1
        self._max_queue = max(self._max_queue, len(queue))
        try:
            while True:
                if self._head() is not waiter:
                    wake = waiter.wake = anyio.Event()
                    if deadline is None:
                        await wake.wait()
                        continue
                    with anyio.move_on_after(deadline - self._clock.monotonic()):
                        await wake.wait()
                        continue
                    raise self._timeout(self._schedule.next_allowed(self._clock.monotonic()))
                # Head of the line: sleep until the schedule allows a grant. A Retry-After can
                # push that instant later, and a simultaneous request with a smaller key (or a
                # `first` one) can take our place while we sleep, hence the loop.
                now = self._clock.monotonic()
                at = max(self._schedule.next_allowed(now), arrived + self._settle)
                if at <= now:
                    break
                if deadline is not None and at > deadline:
                    raise self._timeout(at)
                await anyio.sleep(at - now)
            self._schedule.try_grant(now)
        except BaseException:
            queue.remove(waiter)
            if rank:
                self._background_waiting -= 1
            if priority == INTERACTIVE:
                # Someone waited until now: the budget was not spare meanwhile.
                self._interactive_waiting -= 1
                self._interactive_at = self._clock.monotonic()
            if queue:
                self._head().notify()  # the same head, or the next one if it was this waiter
            if not queue:
                spent = self._clock.monotonic() - self._busy_since
                if spent > 0:
                    self._busy_time += spent
                else:  # left before the budget could grant: no stretch of budget time at all
                    self._busy_periods -= 1
            raise
        if self._share is not None and not first:
            # No retry waits (it would have been the head), so the line is sorted by class:
            # interactive requests wait exactly when its head is one.
            interactive = queue[0].priority == INTERACTIVE
            self._share.granted_to(
                priority, interactive=interactive, background=self._background_waiting > 0
            )
        queue.remove(waiter)
        if rank:
            self._background_waiting -= 1
        if priority == INTERACTIVE:
            self._interactive_waiting -= 1
            self._interactive_at = now
        if queue:
            self._head().notify()
        else:
            self._busy_time += max(0.0, now - self._busy_since)
        self._granted += 1
        if priority == BACKGROUND:
            self._background_grants += 1
        if self.adaptive is not None:
            self._sent.append(now)
        self._waited += 1
        self._total_wait += now - arrived
        return now

    def last_interactive(self) -> float | None:
        """When the budget last served someone waiting: ``None`` while an interactive request
        waits in line, else the instant of the latest interactive grant, or of an interactive
        waiter's leaving the line without one (cancelled, or past its deadline); ``-inf``
        before either. What :meth:`engine.Engine.until_quiet` reads to use spare budget only."""
        return None if self._interactive_waiting else self._interactive_at

    def _timeout(self, next_allowed: float) -> RateLimitTimeout:
        self._timeouts += 1
        return RateLimitTimeout.next_at(next_allowed)

    def pause(self, seconds: float) -> None:
        """Make no grant for ``seconds`` from now: how the whole engine honours a Retry-After.

        Never shortens a pause. ``seconds <= 0`` pauses nothing; a NaN, an infinite or a longer
        pause than :data:`~engine.limits.schedule.MAX_PAUSE` raises :class:`ValueError` and
        pauses nothing (see :func:`checked_pause`): bound a Retry-After before pausing everyone
        for it, as the engine does (``RetryConfig.max_retry_after``).
        """
        seconds = checked_pause(seconds)
        if seconds > 0:
            self._schedule.pause_until(self._clock.monotonic() + seconds)

    def observe(self, *, rate_limited: bool) -> None:
        """The upstream answered a request this limiter granted: 429 (``rate_limited``) or
        not. With ``RateLimitConfig.adaptive`` the rate learns from it (see
        :mod:`engine.limits.adaptive`); otherwise nothing happens."""
        adaptive = self.adaptive
        if adaptive is None:
            return
        if rate_limited:
            now = self._clock.monotonic()
            if adaptive.on_rate_limited(now, sent_rate=self._sent_rate(now)):
                # The minimum interval sets the lower pace at once; the windows start afresh,
                # or the grants made at the old rate would silence the limiter until they aged
                # out while the upstream frees slots as fast as it admitted them.
                restart = self.config.min_interval > 0
                self._schedule.rescale(*adaptive.rules, restart=restart)
        elif adaptive.on_success(waiting=bool(self._queue)):
            self._schedule.rescale(*adaptive.rules)

    def _sent_rate(self, now: float) -> float | None:
        """Grants a second over the first rule's window (``None`` without a rule), counted
        apart from the schedule, whose windows a decrease restarts."""
        rules = self.config.rules
        if not rules:
            return None
        window = rules[0].window
        sent = self._sent
        while sent and sent[0] <= now - window:
            sent.popleft()
        return len(sent) / window

    def __repr__(self) -> str:
        config = self.config
        rules = ", ".join(f"{rule.limit} per {rule.window:g} s" for rule in config.rules)
        parts = [f"rules: {rules or 'none'}, {config.min_interval:g} s apart"]
        if self._settle:
            parts[0] += f", settle {self._settle:g} s"
        try:
            now: float | None = self._clock.monotonic()
        except Exception:  # no running event loop: the clock cannot be read
            now = None
        if now is not None and config.rules:
            counts = self._schedule.in_windows(now)
            parts.append(
                "in window: "
                + ", ".join(
                    f"{count}/{rule.limit} in {rule.window:g} s"
                    for count, rule in zip(counts, config.rules, strict=True)
                )
            )
        parts.append(f"queued: {len(self._queue)}")
        if now is not None:
            wait = self._schedule.next_allowed(now) - now
            parts.append(f"next grant in {wait:.3f} s" if wait > 0 else "next grant: now")
        parts.append(f"granted: {self._granted}, timeouts: {self._timeouts}")
        return f"<RateLimiter [{' | '.join(parts)}]>"

    def stats(self) -> RateLimiterStats:
        return RateLimiterStats(
            granted=self._granted,
            waited=self._waited,
            total_wait=self._total_wait,
            timeouts=self._timeouts,
            max_queue=self._max_queue,
            queue=len(self._queue),
            busy_time=self._busy_time + self._busy_open(),
            busy_periods=self._busy_periods,
            busy_grants=self._waited,
            adaptive_scale=None if self.adaptive is None else self.adaptive.scale,
            adaptive_decreases=0 if self.adaptive is None else self.adaptive.decreases,
            background_grants=self._background_grants,
            contended_grants=0 if self._share is None else self._share.contended,
            background_ahead=0 if self._share is None else self._share.background_ahead,
        )

    def _busy_open(self) -> float:
        """The current busy stretch so far (0 when nobody waits)."""
        if not self._queue:
            return 0.0
        try:
            return max(0.0, self._clock.monotonic() - self._busy_since)
        except Exception:  # no running event loop: the clock cannot be read
            return 0.0


def checked_pause(seconds: float) -> float:
    """``seconds`` as the length of a pause: 0 when negative; :class:`ValueError` when it is not
    finite or exceeds :data:`~engine.limits.schedule.MAX_PAUSE` (such a pause would stop every
    caller for good)."""
    if not math.isfinite(seconds) or seconds > MAX_PAUSE:
        raise ValueError(
            f"a rate limiter pause must be finite and at most {MAX_PAUSE:g} s, not {seconds!r}"
        )
    return max(0.0, float(seconds))


def turnstile(settle: float, clock: Clock | None) -> RateLimiter | None:
    """A limiter without rules that only orders callers: those arriving at one instant pass one
    at a time in the order of their keys once ``settle`` has passed. ``None`` when ``settle`` is
    0 (production: nothing to order, nothing to wait for)."""
    if not settle or clock is None:
        return None
    return RateLimiter(RateLimitConfig(rules=(), min_interval=0, settle=settle), clock=clock)
