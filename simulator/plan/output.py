"""A plan's results on the terminal (a rich table), as JSON and as CSV (one row per point and
seed). The JSON is :class:`~simulator.plan.sweep.PlanResult` encoded: deterministic."""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

from simulator.plan.point import SeedRun
from simulator.plan.sweep import PlanResult

__all__ = ["CSV_FIELDS", "print_result", "to_csv", "to_json"]

CSV_FIELDS = [f for f in SeedRun.__struct_fields__]


def to_json(result: PlanResult) -> bytes:
    return msgspec.json.encode(result) + b"\n"


def to_csv(result: PlanResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*result.axes, *CSV_FIELDS])
    for point in result.points:
        for run in point.runs:
            row = msgspec.to_builtins(run)
            writer.writerow(
                [
                    *(_cell(point.values[a]) for a in result.axes),
                    *(_cell(row[f]) for f in CSV_FIELDS),
                ]
            )
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int | float):
        return str(value)
    return msgspec.json.encode(value).decode()


def _f(value: float | None, fmt: str = ".3g") -> str:
    return "n/a" if value is None else format(value, fmt)


def print_result(result: PlanResult, console: Console) -> None:
    if result.points:
        seeds = ", ".join(map(str, result.seeds))
        console.print(
            f"\n[bold]{result.plan}[/]: scenario {result.scenario} on {result.backend}, "
            f"seeds {seeds} (figures are means over seeds; p95 shows its spread)"
        )
        table = Table(show_edge=False, pad_edge=False)
        for axis in result.axes:
            table.add_column(axis, justify="right")
        for title in (
            "offered /min",
            "served /min",
            "bound B/c /min",
            "p50 s",
            "p95 s",
            "failed",
            "429 %",
            "requests",
            "c req/gen",
            "floor",
            "budget used",
        ):
            table.add_column(title, justify="right")
        for p in result.points:
            spread = (
                f" ({p.playlist_p95_min:.3g}..{p.playlist_p95_max:.3g})" if len(p.runs) > 1 else ""
            )
            knee = " [bold yellow]knee[/]" if p.knee else ""
            table.add_row(
                *(str(p.values[a]) for a in result.axes),
                _f(p.offered_per_minute),
                _f(p.served_per_minute),
                _f(p.bound_per_minute),
                _f(p.playlist_p50),
                _f(p.playlist_p95) + spread + knee,
                str(p.failed),
                _f(p.rate_limited_share * 100, ".2f"),
                _f(p.upstream_requests, ".0f"),
                _f(p.requests_per_generation),
                _f(p.floor, ".0f"),
                _f(None if p.budget_utilisation is None else p.budget_utilisation * 100, ".0f")
                + ("%" if p.budget_utilisation is not None else ""),
            )
        console.print(table)
        budgets = {p.budget_per_minute for p in result.points}
        if len(budgets) == 1:
            console.print(
                f"  budget B = {_f(budgets.pop())} requests a minute; bound = B / c, "
                "the generations a minute no client making c requests each can exceed"
            )
    for search in result.searches:
        console.print(f"\n{search.sentence}")
