"""The replay command and scenario files: exit statuses, evidence, validation messages."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from simulator.cli import main
from simulator.replay.scenario import ScenarioError, load_scenario

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
arrivals = {{ process = "times", at = [0, 0.1, 0.2] }}

[expect]
{expect}
"""


BASE = TINY.format(expect="")


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_passing_scenario_exits_0_and_writes_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, TINY.format(expect="upstream_calls = { max = 3 }\nttl = true"))
    out = tmp_path / "report.json"
    assert main(["replay", str(path), "--json", str(out)]) == 0
    data = msgspec.json.decode(out.read_bytes())
    assert [r["scenario"] for r in data["reports"]] == ["tiny"]
    # Three lookups 0.1 s apart: the second waits for its grant (0.75 s) and takes the third.
    assert data["reports"][0]["metrics"]["upstream_calls"] == 2
    assert "1 passed, 0 failed" in capsys.readouterr().out


def test_failed_expectation_exits_1_with_its_evidence(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    expect = "max_in_window = [{ limit = 1, window = 60, at = 'sent' }]\nmin_spacing = 1.0"
    path = write(tmp_path, TINY.format(expect=expect))
    out = tmp_path / "report.json"
    assert main(["replay", str(path), "--json", str(out)]) == 1
    report = msgspec.json.decode(out.read_bytes())["reports"][0]
    window, spacing = report["checks"][1:3]
    # Three lookups 0.1 s apart make two requests (the second waits for its grant and takes
    # the third's IDs with it).
    assert (window["passed"], window["measured"]) == (False, "2")
    assert "2 requests in [" in window["evidence"][0]
    assert len(window["evidence"]) == 3  # the window, then the requests in it
    assert (spacing["passed"], spacing["measured"]) == (False, "0.750 s")
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "FAILED tiny on asyncio" in printed


def test_invalid_file_exits_2_naming_file_and_field(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, TINY.format(expect="min_spacing = -1"))
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "$.expect.min_spacing" in err


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('name = "x"\ndescription = \n', "line 2"),
        (
            BASE.replace('call = "tracks"', 'call = "albums"'),
            "$.workload[0].call",
        ),
        (BASE.replace("ids = 3", "ids = 3\nsize = 5"), "unknown field `size`"),
        (
            BASE + "[engine]\nrate = { min_interval = -1 }\n",
            "$.engine.rate.min_interval",
        ),
        (BASE + "[engine]\nprofile = 'fast'\n", "engine.profile"),
        (
            BASE + "[engine]\nbatching = { seed_chunk_size = 9 }\n",
            "seed_chunk_size",
        ),
        (BASE.replace("duration = 10", "duration = 0"), "$.duration"),
    ],
)
def test_malformed_scenarios_say_where_and_why(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert where in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.toml")


def test_compare_prints_both_profiles(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, BASE)
    out = tmp_path / "r.json"
    assert main(["replay", str(path), "--compare", "tuned,original", "--json", str(out)]) == 0
    comparison = msgspec.json.decode(out.read_bytes())["comparisons"][0]
    assert (comparison["baseline"], comparison["candidate"]) == ("original", "tuned")
    assert comparison["figures"][0]["name"] == "upstream calls"
    assert "the note claims" in capsys.readouterr().out
    assert main(["replay", str(path), "--compare", "tuned"]) == 2


def test_a_replay_past_its_horizon_stops_and_fails(tmp_path: Path) -> None:
    # 30 lookups at once, one request each under the original profile (no merging across
    # callers), need ~29 s at 1 s apart; the horizon is 10 s + 2 s of drain.
    text = (
        BASE.replace("drain = 600", "drain = 2").replace(
            'arrivals = { process = "times", at = [0, 0.1, 0.2] }',
            'arrivals = { process = "burst", count = 30, within = 1 }',
        )
        + '[engine]\nprofile = "original"\n'
    )
    out = tmp_path / "r.json"
    assert main(["replay", str(write(tmp_path, text)), "--json", str(out)]) == 1
    report = msgspec.json.decode(out.read_bytes())["reports"][0]
    finished = report["checks"][0]
    assert finished["name"] == "replay finished within the horizon"
    assert not finished["passed"]
    assert "arrivals unfinished" in finished["evidence"][0]
    assert report["metrics"]["virtual_seconds"] == pytest.approx(12)


PLAYLISTS = BASE.replace(
    'kind = "requests"\ncall = "tracks"\nids = 3\n',
    'kind = "playlists"\nusers = 2\n',
)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seeds", "[1, 500]"),
        ("seeds", "[0, 5]"),
        ("recommendation_size", "[0, 500]"),
        ("recommendation_size", "[1, 101]"),
        ("recommendation_size", "[0, 50]"),
    ],
)
def test_playlist_ranges_are_checked_at_both_ends(tmp_path: Path, field: str, value: str) -> None:
    path = write(tmp_path, PLAYLISTS.replace("users = 2", f"users = 2\n{field} = {value}"))
    with pytest.raises(ScenarioError, match=field):
        load_scenario(path)


FAILING = BASE + "[upstream.service]\nfaults = { error = 1.0 }\n"
"""Every upstream call answers 500, so every lookup fails once its retries are spent."""


def test_failed_calls_fail_the_replay_unless_the_scenario_expects_them(
    tmp_path: Path,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    out = tmp_path / "r.json"
    assert main(["replay", str(write(tmp_path, FAILING)), "--json", str(out)]) == 1
    report = msgspec.json.decode(out.read_bytes())["reports"][0]
    assert report["metrics"]["failed"] == 3
    failed = next(c for c in report["checks"] if c["name"] == "failed generations/calls")
    assert (failed["passed"], failed["measured"], failed["limit"]) == (False, "3", "<= 0")
    assert "0 passed, 1 failed" in capsys.readouterr().out
    expected = FAILING.replace("[expect]\n", "[expect]\nfailed = { min = 3 }\n")
    assert main(["replay", str(write(tmp_path, expected, "expected.toml"))]) == 0


def test_upstream_can_start_from_a_preset_with_overrides(tmp_path: Path) -> None:
    from simulator.upstream.presets import PRESETS

    path = write(tmp_path, BASE + '\n[upstream]\npreset = "strict"\nseed = 11\n')
    scenario = load_scenario(path)
    strict = PRESETS["strict"]
    assert scenario.upstream.rate_limit == strict.rate_limit  # the preset's limits
    assert scenario.upstream.seed == 11  # and the section's fields over them
    assert scenario.name == load_scenario(write(tmp_path, BASE, "plain.toml")).name


@pytest.mark.parametrize(
    ("upstream", "says"),
    [
        ('preset = "nope"', "upstream.preset: 'nope' is not a preset; known: default"),
        ("preset = 3", "upstream.preset: 3 is not a preset"),
        (
            'preset = "loose"\nrate_limit = { rules = "x" }',
            "invalid scenario: Expected `array`, got `str` - at `$.upstream.rate_limit.rules`",
        ),
    ],
)
def test_a_bad_preset_is_one_line_naming_it(tmp_path: Path, upstream: str, says: str) -> None:
    path = write(tmp_path, BASE + f"\n[upstream]\n{upstream}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert says in message and "\n" not in message and message.startswith(str(path))
