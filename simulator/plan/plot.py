"""PNG plots of a plan (matplotlib, the optional ``plot`` extra): playlist latency percentiles
and upstream utilisation against the first axis, one line per combination of the other axes,
the bound B / c drawn in and the knee marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.plan.sweep import PlanResult

__all__ = ["MISSING_EXTRA", "require_matplotlib", "write_plots"]

MISSING_EXTRA = "png output needs matplotlib: pip install 'recobeat-engine[plot]'"


def require_matplotlib() -> None:
    """Raise ``ModuleNotFoundError`` naming the extra when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ModuleNotFoundError:
        raise ModuleNotFoundError(MISSING_EXTRA, name="matplotlib") from None


def _lines(result: PlanResult) -> dict[str, list[int]]:
    first = result.axes[0]
    grouped: dict[str, list[int]] = {}
    for i, point in enumerate(result.points):
        label = ", ".join(f"{k} = {v}" for k, v in point.values.items() if k != first)
        grouped.setdefault(label, []).append(i)
    return grouped


def write_plots(result: PlanResult, directory: Path, stem: str) -> list[Path]:
    """Write ``<stem>-latency.png`` and ``<stem>-utilisation.png``; returns their paths (none
    when the plan has no axis to put on x)."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not result.axes or not result.points:
        return []
    first = result.axes[0]
    xs_all: list[Any] = [p.values[first] for p in result.points]
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs_all)
    written: list[Path] = []

    fig, ax = plt.subplots(figsize=(8, 5))
    for label, indices in _lines(result).items():
        points = [result.points[i] for i in indices]
        xs = [p.values[first] if numeric else str(p.values[first]) for p in points]
        suffix = f" ({label})" if label else ""
        for name, style in (("playlist_p50", ":"), ("playlist_p95", "-")):
            ax.plot(
                xs,
                [getattr(p, name) for p in points],
                style,
                marker="o",
                label=name.removeprefix("playlist_") + suffix,
            )
        for x, p in zip(xs, points, strict=True):
            if p.knee:
                ax.axvline(x, color="tab:red", linestyle="--", alpha=0.6)
                ax.annotate(
                    "knee",
                    (x, p.playlist_p95),
                    textcoords="offset points",
                    xytext=(5, 5),
                    color="tab:red",
                )
    ax.set_xlabel(first)
    ax.set_ylabel("playlist latency, s (mean over seeds)")
    ax.set_title(f"{result.plan}: latency against {first}")
    ax.grid(alpha=0.3)
    ax.legend()
    path = directory / f"{stem}-latency.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)

    fig, ax = plt.subplots(figsize=(8, 5))
    for label, indices in _lines(result).items():
        points = [result.points[i] for i in indices]
        xs = [p.values[first] if numeric else str(p.values[first]) for p in points]
        suffix = f" ({label})" if label else ""
        ax.plot(
            xs,
            [p.served_per_minute for p in points],
            "-",
            marker="o",
            label="served generations /min" + suffix,
        )
        ax.plot(xs, [p.bound_per_minute for p in points], "--", label="bound B / c /min" + suffix)
        ax.plot(xs, [p.offered_per_minute for p in points], ":", label="offered /min" + suffix)
        for x, p in zip(xs, points, strict=True):
            if p.knee:
                ax.axvline(x, color="tab:red", linestyle="--", alpha=0.6)
                ax.annotate(
                    "knee",
                    (x, p.served_per_minute),
                    textcoords="offset points",
                    xytext=(5, -12),
                    color="tab:red",
                )
    ax.set_xlabel(first)
    ax.set_ylabel("generations a minute")
    ax.set_title(f"{result.plan}: throughput and the bound against {first}")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    for indices in _lines(result).values():
        points = [result.points[i] for i in indices]
        xs = [p.values[first] if numeric else str(p.values[first]) for p in points]
        used = [
            p.upstream_requests * 60 / max(r.virtual_seconds for r in p.runs) / p.budget_per_minute
            if p.budget_per_minute
            else None
            for p in points
        ]
        ax2.plot(xs, used, "-.", color="gray", alpha=0.7, label="upstream utilisation")
    ax2.set_ylabel("upstream requests a minute / budget B")
    ax2.set_ylim(0, 1.1)
    ax.legend(loc="upper left")
    path = directory / f"{stem}-utilisation.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)
    return written
