"""``recobeat replay`` as a command: bundled scenarios, comparison failures, --json, Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from simulator.cli import main
from simulator.replay import command, library
from simulator.replay.scenario import load_scenario

REPO_SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

TINY = """
name = "tiny"
description = "Three raw lookups."
seed = 4
duration = 10
drain = 600
backends = ["asyncio"]

[[workload]]
kind = "requests"
call = "tracks"
ids = 3
arrivals = { process = "times", at = [0, 1, 2] }
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def no_replay(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the replay ran")


# -- bundled scenarios ----------------------------------------------------------------------------


def test_the_bundled_scenarios_are_the_repository_s() -> None:
    bundled = library.bundled_scenarios()
    assert set(bundled) == {p.stem for p in REPO_SCENARIOS.glob("*.toml")}
    assert load_scenario(bundled["burst"]).name == "burst"


def test_an_installed_wheel_s_scenarios_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = tmp_path / "scenarios"
    packaged.mkdir()
    write(packaged, TINY, "tiny.toml")
    write(packaged, "not a scenario", "notes.txt")
    monkeypatch.setattr(library, "files", lambda package: tmp_path)
    assert library.bundled_scenarios() == {"tiny": packaged / "tiny.toml"}


def test_list_names_each_bundled_scenario_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(library.bundled_scenarios())
    burst = next(line for line in lines if line.startswith("burst "))
    assert burst.split(None, 1)[1] == (
        "Twenty playlist generations arrive within ten seconds, from a population whose seeds "
        "overlap (Zipf-popular)."
    )


def test_describe_falls_back_to_the_first_comment(tmp_path: Path) -> None:
    path = write(tmp_path, "# Watch one key.\n#\nname = 'x'\n")
    assert library.describe(path) == "Watch one key."
    assert library.describe(write(tmp_path, "name = \n", "bad.toml")).startswith("(cannot read")


def test_a_bare_name_runs_the_bundled_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no file called "burst" here
    loaded: list[str] = []

    def replay(args: Any, scenarios: list[Any], profiles: Any, console: Any) -> int:
        loaded.extend(s.name for s in scenarios)
        return 0

    monkeypatch.setattr(command, "_replay", replay)
    assert main(["replay", "burst", "ttl-expiry.toml"]) == 0
    assert loaded == ["burst", "ttl-expiry"]
    assert main(["replay", "no-such-scenario"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("recobeat replay: no-such-scenario: no such file")
    assert "--list" in err and "\n" not in err


def test_a_file_of_the_same_name_wins_over_the_bundled_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, TINY, "burst")
    assert library.resolve("burst") == Path("burst")


def test_no_scenario_at_all_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recobeat replay: no scenario given") and err.count("\n") == 1


# -- what a replay answers ------------------------------------------------------------------------


def test_a_failed_comparison_run_is_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The original profile sends 1.0 s apart; the tuned one 0.75 s, which breaks the spacing.
    text = TINY.replace("[0, 1, 2]", "[0, 0.1, 0.2]")
    text += "[engine]\nprofile = 'original'\n[expect]\nmin_spacing = 0.9\n"
    path = write(tmp_path, text)
    assert main(["replay", str(path), "--compare", "tuned,original"]) == 1
    out = capsys.readouterr().out
    assert "2 passed, 1 failed" in out
    assert "FAILED tiny on asyncio, profile tuned" in out


def test_an_unwritable_json_path_is_refused_before_the_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(command, "run_scenario", no_replay)
    path = write(tmp_path, TINY)
    for target in (tmp_path / "missing" / "r.json", tmp_path):
        assert main(["replay", str(path), "--json", str(target)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"recobeat replay: --json {target}: ") and err.count("\n") == 1


def test_a_writable_json_path_is_probed_without_leaving_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run_scenario", interrupted)
    out = tmp_path / "r.json"
    assert main(["replay", str(write(tmp_path, TINY)), "--json", str(out)]) == 130
    assert not out.exists()


def test_ctrl_c_prints_one_line_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "run_scenario", interrupted)
    assert main(["replay", str(write(tmp_path, TINY))]) == 130
    assert capsys.readouterr().err == "recobeat replay: interrupted\n"


def test_the_json_output_still_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["replay", str(write(tmp_path, TINY)), "--json", str(out)]) == 0
    decoded = msgspec.json.decode(out.read_bytes(), type=command.ReplayOutput)
    assert [r.scenario for r in decoded.reports] == ["tiny"]


# -- what the tables say --------------------------------------------------------------------------


def test_the_comparison_shows_percentages_and_which_way_is_better() -> None:
    from io import StringIO

    from rich.console import Console

    from simulator.replay.compare import Comparison, Figure, print_comparison

    figures = [
        Figure("upstream calls", 1000, 400, -0.6, "fewer", "count", "lower"),
        Figure("lookups answered by the cache", 0.238431, 0.715115, 2.0, "", "share", "higher"),
        Figure("429 responses", 0, 3, 0.0, "", "count", "lower"),
        Figure("playlist latency p50", 2.5, 3.0, 0.2, "", "seconds", "lower"),
    ]
    out = StringIO()
    print_comparison(
        Comparison("s", "asyncio", "original", "tuned", figures), Console(file=out, width=200)
    )
    rows = {line.split("│")[0].strip(): line for line in out.getvalue().splitlines()}
    assert "0.715115" not in out.getvalue()
    assert [c.strip() for c in rows["upstream calls"].split("│")[1:5]] == [
        "lower",
        "1,000",
        "400",
        "-60% better",
    ]
    cache = [c.strip() for c in rows["lookups answered by the cache"].split("│")[1:5]]
    assert cache == ["higher", "23.8%", "71.5%", "+200% better"]
    assert [c.strip() for c in rows["429 responses"].split("│")[3:5]] == ["3", "from 0"]
    assert [c.strip() for c in rows["playlist latency p50"].split("│")[2:5]] == [
        "2.50 s",
        "3.00 s",
        "+20% worse",
    ]


def test_the_report_names_both_per_minute_peaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    text = TINY + "[expect]\nmax_in_window = [{ limit = 80, window = 60, at = 'sent' }]\n"
    assert main(["replay", str(write(tmp_path, text)), "--json", str(out)]) == 0
    metrics = msgspec.json.decode(out.read_bytes())["reports"][0]["metrics"]
    assert (metrics["peak_sent_per_minute"], metrics["peak_requests_per_minute"]) == (3, 3)
    printed = capsys.readouterr().out
    assert "max requests per 60 s (client, at sent)" in printed
    assert "busiest 60 s of one client: 3 sent, 3 arrived at the upstream" in printed
