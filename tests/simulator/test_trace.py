"""Trace replay (``kind = "trace"``): both formats, time scaling, ISO timestamps, errors that
name the line and the field, paths relative to the scenario file, determinism."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import msgspec
import pytest

from recobeat.targets import AudioTargets
from simulator.replay.plans import RequestPlan, iter_arrivals, plan_arrivals
from simulator.replay.report import build_report
from simulator.replay.runner import run_scenario
from simulator.replay.scenario import Scenario, ScenarioError, TraceStream, load_scenario
from simulator.replay.trace import TraceError, iter_trace
from simulator.upstream.ids import spotify_text
from simulator.workload import PlaylistPlan

A, B, C = (spotify_text(v) for v in (3 << 120, 5 << 121, 7 << 122))
UUID = "0b0f3c4e-5a6d-4e7f-8a9b-0c1d2e3f4a5b"

RECORDS = [
    {"at": 0, "call": "tracks", "ids": [A, B]},
    {"at": 1.5, "playlist": "user-1", "seeds": [A, B, C], "energy": 0.7, "valence": 0.4},
    {"at": 3, "call": "artist_search", "ids": "daft punk"},
    {"at": 3, "call": "audio_features", "ids": [C, UUID]},
    {"at": 10, "playlist": "user-2", "seeds": [C]},
    {"at": 12.25, "call": "recommendations", "ids": [A, B, C]},
]


def jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


CSV = f"""at,call,ids,playlist,seeds,energy,valence
0,tracks,{A} {B},,,,
1.5,,,user-1,{A} {B} {C},0.7,0.4
3,artist_search,daft punk,,,,
3,audio_features,{C} {UUID},,,,
10,,,user-2,{C},,
12.25,recommendations,{A} {B} {C},,,,
"""


def scenario(path: Path, **stream: object) -> Scenario:
    return Scenario(
        name="t",
        description="d",
        seed=5,
        duration=600,
        drain=600,
        workload=[TraceStream(path=str(path), **stream)],  # type: ignore[arg-type]
    )


def test_jsonl_and_csv_give_the_same_records(tmp_path: Path) -> None:
    from_jsonl = list(iter_trace(jsonl(tmp_path / "t.jsonl", RECORDS)))
    (tmp_path / "t.csv").write_text(CSV)
    from_csv = list(iter_trace(tmp_path / "t.csv"))
    assert [e.at for e in from_jsonl] == [0, 1.5, 3, 3, 10, 12.25]
    assert [e.record for e in from_jsonl] == [e.record for e in from_csv]
    assert [e.line for e in from_csv] == [2, 3, 4, 5, 6, 7]  # the header is line 1
    search = from_csv[2].record
    assert (search.call, search.ids) == ("artist_search", "daft punk")
    playlist = from_csv[1].record
    assert (playlist.playlist, playlist.seeds, playlist.energy) == ("user-1", [A, B, C], 0.7)


def test_records_become_the_recorded_work(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    arrivals = plan_arrivals(scenario(jsonl(tmp_path / "t.jsonl", RECORDS)), catalog)
    assert [a.id for a in arrivals] == [f"trace-{i}" for i in range(6)]
    assert arrivals[0].work == RequestPlan("tracks", (A, B))
    assert arrivals[2].work == RequestPlan("artist_search", ("daft punk",))
    assert arrivals[5].work == RequestPlan("recommendations", (A, B, C))
    first, second = arrivals[1].work, arrivals[4].work
    assert isinstance(first, PlaylistPlan) and isinstance(second, PlaylistPlan)
    assert first.seeds == (A, B, C) and second.seeds == (C,)
    assert first.targets == AudioTargets(energy=0.7, valence=0.4)  # as recorded
    assert second.targets.energy is not None  # unrecorded: a drawn mood
    # Simultaneous records keep their order, 1 us apart.
    assert arrivals[3].at == pytest.approx(3 + 1e-6)
    assert all(a.at < b.at for a, b in itertools.pairwise(arrivals))


def test_speed_and_offset_scale_time_and_the_duration_cuts(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    path = jsonl(tmp_path / "t.jsonl", RECORDS)
    base = [a.at for a in plan_arrivals(scenario(path), catalog)]
    fast = plan_arrivals(scenario(path, speed=2.0, offset=100), catalog)
    assert [a.at for a in fast] == pytest.approx([100 + t / 2 for t in base])
    five = plan_arrivals(scenario(path, speed=5.0), catalog)
    assert five[-1].at == pytest.approx(12.25 / 5)
    # Same work, whatever the speed.
    assert [a.work for a in fast] == [a.work for a in plan_arrivals(scenario(path), catalog)]
    cut = plan_arrivals(msgspec.structs.replace(scenario(path), duration=5), catalog)
    assert len(cut) == 4


def test_iso_timestamps_count_from_the_first_record(tmp_path: Path) -> None:
    records = [
        {"at": "2025-03-14T18:00:05.250Z", "call": "tracks", "ids": [A]},
        {"at": "2025-03-14T19:00:05.250+01:00", "call": "tracks", "ids": [B]},
        {"at": "2025-03-14T18:01:00", "call": "tracks", "ids": [C]},  # no offset: UTC
    ]
    got = [e.at for e in iter_trace(jsonl(tmp_path / "t.jsonl", records))]
    assert got == [0.0, 0.0, 54.75]


def test_reading_is_lazy_and_stops_past_the_duration(tmp_path: Path, catalog) -> None:  # type: ignore[no-untyped-def]
    path = jsonl(tmp_path / "t.jsonl", [RECORDS[0], {**RECORDS[2], "at": 9000}])
    with path.open("a") as f:
        f.write("not json at all\n")
    arrivals = iter_arrivals(scenario(path), catalog)
    assert next(arrivals).work == RequestPlan("tracks", (A, B))
    assert list(arrivals) == []  # the record past the duration ends the reading
    with pytest.raises(TraceError, match="line 3"):
        list(iter_trace(path))


BAD_JSONL = [
    ({"at": 1, "call": "tracks", "ids": ["nope"]}, "line 2: ids: neither a Spotify ID"),
    ({"at": 1, "call": "tracks", "ids": [A], "extra": 1}, "line 2: extra: unknown field"),
    ({"at": 1, "call": "dance", "ids": [A]}, "line 2: call: Invalid enum value 'dance'"),
    ({"at": -1, "call": "tracks", "ids": [A]}, "line 2: at: "),
    ({"call": "tracks", "ids": [A]}, "line 2: at: missing"),
    ({"at": 1, "call": "tracks"}, "line 2: ids: tracks needs ids"),
    ({"at": 1, "call": "tracks", "ids": "x"}, "line 2: ids: tracks takes a non-empty list"),
    ({"at": 1, "call": "artist_search", "ids": [A]}, "line 2: ids: artist_search takes a text"),
    ({"at": 1, "call": "convert_ids", "ids": [UUID]}, "line 2: ids: not a Spotify ID"),
    (
        {
            "at": 1,
            "call": "recommendations",
            "ids": [A, B, C, UUID, *(spotify_text(v) for v in (1, 2))],
        },
        "line 2: ids: a recommendation takes at most 5 seeds, not 6",
    ),
    ({"at": 1, "playlist": "u", "seeds": [UUID]}, "line 2: seeds: not a Spotify track ID"),
    ({"at": 1, "playlist": "u", "seeds": []}, "line 2: seeds: a playlist needs"),
    (
        {"at": 1, "playlist": "u", "seeds": [A], "energy": 2},
        "line 2: energy: Expected `float` <= 1",
    ),
    ({"at": 1, "playlist": "u", "seeds": [A], "ids": [A]}, "line 2: ids: a playlist record"),
    ({"at": 1, "call": "tracks", "ids": [A], "energy": 0.5}, "line 2: energy: only a playlist"),
    ({"at": 1}, "line 2: call, playlist: a record is exactly one"),
    ({"at": 1, "call": "tracks", "ids": [A], "playlist": "u"}, "line 2: call, playlist"),
    ({"at": 0.5, "call": "tracks", "ids": [A]}, "line 2: at: 0.5 s is before the previous"),
    ({"at": "2025-03-14T18:00:00Z", "call": "tracks", "ids": [A]}, "line 2: at: a timestamp"),
    ({"at": "yesterday", "call": "tracks", "ids": [A]}, "line 2: at: "),
]


@pytest.mark.parametrize(("record", "message"), BAD_JSONL)
def test_a_bad_record_names_its_line_and_field(tmp_path: Path, record, message: str) -> None:  # type: ignore[no-untyped-def]
    path = jsonl(tmp_path / "t.jsonl", [{"at": 1, "call": "tracks", "ids": [A]}, record])
    with pytest.raises(TraceError) as caught:
        list(iter_trace(path))
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_a_line_that_is_not_json_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n\n{oops\n")
    with pytest.raises(TraceError, match=r"line 3: JSON is malformed"):
        list(iter_trace(path))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"at,call,idz\n0,tracks,{A}\n", "line 1: idz: unknown column"),
        (f"at,call,ids\n0,tracks,{A}\n1,tracks,nope\n", "line 3: ids: neither a Spotify ID"),
        (f"at,playlist,seeds,energy\n0,u,{A},loud\n", "line 2: energy: not a number"),
        (f"at,call,ids\n0,tracks,{A},extra\n", "line 2: more cells than the header"),
        (f"call,ids\ntracks,{A}\n", "line 2: at: missing"),
        ("at,call,ids\n", "no records"),
    ],
)
def test_csv_errors_name_the_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(TraceError, match=message):
        list(iter_trace(path))


def test_the_format_comes_from_the_suffix_or_is_said(tmp_path: Path) -> None:
    path = tmp_path / "trace.log"
    path.write_text(CSV)
    with pytest.raises(TraceError, match="format: cannot tell"):
        list(iter_trace(path))
    assert len(list(iter_trace(path, "csv"))) == 6
    with pytest.raises(ValueError, match="format: cannot tell"):
        TraceStream(path="trace.log")


def write_scenario(folder: Path, trace: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "s.toml"
    path.write_text(
        'name = "s"\ndescription = "d"\nduration = 60\ndrain = 600\n'
        f'[[workload]]\nkind = "trace"\npath = "{trace}"\nspeed = 2\n'
    )
    return path


def test_the_path_is_relative_to_the_scenario_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a" / "traces").mkdir(parents=True)
    jsonl(tmp_path / "a" / "traces" / "t.jsonl", RECORDS)
    path = write_scenario(tmp_path / "a", "traces/t.jsonl")
    monkeypatch.chdir(tmp_path)
    loaded = load_scenario(Path("a/s.toml"))
    stream = loaded.workload[0]
    assert isinstance(stream, TraceStream)
    assert stream.path == str((tmp_path / "a" / "traces" / "t.jsonl").resolve())
    assert load_scenario(path) == loaded  # whatever the working directory


def test_a_bad_trace_fails_the_scenario_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text(json.dumps(RECORDS[0]) + "\n" + '{"at": 2, "call": 1}\n')
    path = write_scenario(tmp_path, "t.jsonl")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: workload[0]: invalid trace: ") and "line 2: call:" in text
    missing = write_scenario(tmp_path / "other", "none.jsonl")
    with pytest.raises(ScenarioError, match=r"none\.jsonl: cannot read"):
        load_scenario(missing)


def test_same_trace_same_bytes_and_same_report_on_both_backends(tmp_path: Path) -> None:
    jsonl(tmp_path / "t.jsonl", RECORDS)
    loaded = load_scenario(write_scenario(tmp_path, "t.jsonl"))

    def run(backend: str) -> bytes:
        return msgspec.json.encode(build_report(run_scenario(loaded, backend)))  # type: ignore[arg-type]

    on_asyncio = [run("asyncio") for _ in range(2)]
    on_trio = run("trio")
    assert on_asyncio[0] == on_asyncio[1]
    first, other = msgspec.json.decode(on_asyncio[0]), msgspec.json.decode(on_trio)
    assert (first.pop("backend"), other.pop("backend")) == ("asyncio", "trio")
    assert first == other
    assert first["passed"] and first["metrics"]["arrivals"] == 6


def test_the_shipped_example_is_bundled_beside_its_scenario() -> None:
    root = Path(__file__).parents[2] / "scenarios"
    loaded = load_scenario(root / "trace-replay.toml")
    stream = loaded.workload[0]
    assert isinstance(stream, TraceStream) and stream.speed == 2.0
    entries = list(iter_trace(stream.path))
    assert 200 <= len(entries) <= 500 and 1500 <= entries[-1].at <= 1800
    assert {e.record.call for e in entries} >= {None, "tracks", "artist_search"}
    assert len({e.record.playlist for e in entries} - {None}) >= 5
