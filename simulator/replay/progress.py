"""Progress of a long replay: how far virtual time got towards the horizon, arrivals done.

The runner calls a :data:`ProgressCallback` as virtual time advances (throttled to about each
1 % of the horizon) and once at the end; :func:`progress_display` turns it into a rich progress
bar on a terminal, and into nothing elsewhere (a CI log, a pipe, ``--json`` consumers), so the
report's output never contains it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["ProgressCallback", "ReplayProgress", "progress_display"]


class ReplayProgress(msgspec.Struct, frozen=True):
    now: float
    """Virtual seconds reached."""
    horizon: float
    """Virtual seconds the replay may take at most (duration + drain)."""
    started: int
    """Arrivals started so far."""
    done: int
    """Arrivals finished so far (with or without an error)."""
    finished: bool = False
    """The last call: the replay is over (``now`` is where it finished)."""


ProgressCallback = Callable[[ReplayProgress], None]


@contextmanager
def progress_display(console: Console, label: str) -> Iterator[ProgressCallback | None]:
    """A callback drawing a transient progress bar on ``console`` when it is a terminal, or
    ``None`` when it is not (the runner then does no progress work at all)."""
    if not console.is_terminal:
        yield None
        return
    # No refresh thread: the callback redraws, at most about a hundred times per replay.
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[virtual]}"),
        TextColumn("{task.fields[arrivals]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=False,
    )
    task = bar.add_task(label, total=None, virtual="", arrivals="")

    def update(p: ReplayProgress) -> None:
        bar.update(
            task,
            total=p.horizon,
            completed=p.now,
            virtual=f"{p.now:,.0f}/{p.horizon:,.0f} s virtual",
            arrivals=f"{p.done:,} of {p.started:,} arrivals done",
        )
        bar.refresh()

    with bar:
        yield update
