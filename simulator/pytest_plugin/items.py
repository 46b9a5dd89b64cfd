"""Scenario files as test items: one per backend; a failure's message is the replay's report."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from engine.config import ConfigError
from simulator.replay.report import Report, build_report, print_report
from simulator.replay.runner import run_scenario
from simulator.replay.scenario import Scenario, load_scenario

__all__ = ["ScenarioCollector", "ScenarioFailed", "ScenarioFile", "ScenarioItem", "render"]


def render(report: Report) -> str:
    """The report as ``recobeat replay`` prints it, as plain text."""
    out = io.StringIO()
    console = Console(file=out, width=120, no_color=True, force_terminal=False, highlight=False)
    print_report(report, console)
    return out.getvalue().strip("\n")


class ScenarioFailed(Exception):
    """A replay whose report did not pass."""

    def __init__(self, report: Report) -> None:
        super().__init__(report.scenario)
        self.report = report


class ScenarioCollector:
    """The ``pytest_collect_file`` hook for the files the configured globs match."""

    def __init__(self, base: Path, patterns: Iterable[str]) -> None:
        self.base = base
        self.patterns = list(patterns)
        self._matched: set[Path] | None = None

    def matched(self) -> set[Path]:
        if self._matched is None:
            self._matched = {
                path.resolve()
                for pattern in self.patterns
                for path in self.base.glob(pattern)
                if path.is_file()
            }
        return self._matched

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> Any:
        if file_path.resolve() in self.matched():
            return ScenarioFile.from_parent(parent, path=file_path)
        return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        try:
            scenario = load_scenario(self.path)
        except ConfigError as error:  # one line naming the file and the field
            raise self.CollectError(str(error)) from error
        for backend in scenario.backends:
            yield ScenarioItem.from_parent(self, name=backend, scenario=scenario, backend=backend)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, backend: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.backend = backend

    def runtest(self) -> None:
        report = build_report(run_scenario(self.scenario, self.backend))  # type: ignore[arg-type]
        if not report.passed:
            raise ScenarioFailed(report)  # repr_failure shows the report
        # A passing report is shown by `pytest -rP`.
        self.add_report_section("call", "recobeat report", render(report))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, ScenarioFailed):
            return render(excinfo.value.report)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.scenario.name} on {self.backend}"
