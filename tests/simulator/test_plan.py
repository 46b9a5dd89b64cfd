"""``recobeat plan``: axis paths, the bisection, the bound and the knee, determinism across
--jobs, and the command's one-line errors. Plans here are tiny (a few generations each)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.cli import main
from simulator.plan.point import SeedRun, budget_per_minute
from simulator.plan.search import Bisection, bisect
from simulator.plan.spec import PlanError, apply, load_plan, parse_path, scenario_data
from simulator.plan.sweep import _point, knee_index
from simulator.replay.library import resolve
from simulator.replay.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]

TINY = """
scenario = "burst"
seeds = [1, 2]
outputs = ["json", "csv"]

[set]
duration = 10
drain = 600
"workload[0].users" = 3

[[axis]]
path = "workload[0].arrivals.count"
values = [1, 3]

[target]
axis = "workload[0].arrivals.count"
low = 1
high = 4
objectives = { playlist_p95 = { max = 1000 }, failed = { max = 0 } }
"""


@pytest.fixture(scope="module")
def burst() -> dict:
    return scenario_data(load_scenario(resolve("burst")))


def _write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- axis paths -----------------------------------------------------------------------------


def test_paths_parse_dotted_and_indexed() -> None:
    assert parse_path("workload[0].arrivals.per_minute") == [
        "workload",
        0,
        "arrivals",
        "per_minute",
    ]
    assert parse_path("engine.profile") == ["engine", "profile"]
    assert parse_path("upstream.rate_limit.rules[1].limit") == [
        "upstream",
        "rate_limit",
        "rules",
        1,
        "limit",
    ]


@pytest.mark.parametrize("bad", ["workload[x]", "a..b", "", "workload[0]extra", ".a"])
def test_a_malformed_path_is_one_line(bad: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_path(bad)
    assert "\n" not in str(info.value)


def test_axis_values_reach_the_scenario(burst: dict) -> None:
    scenario = apply(
        burst,
        {
            "workload[0].arrivals.count": 7,
            "engine.profile": "original",
            "instances.count": 2,
            "upstream.rate_limit.rules[0].limit": 50,
            "engine.cache.capacity": 10,
        },
        seed=9,
    )
    assert scenario.workload[0].arrivals.count == 7  # type: ignore[union-attr]
    assert scenario.engine["profile"] == "original"
    assert scenario.engine["cache"] == {"capacity": 10}
    assert scenario.instances.count == 2
    assert scenario.upstream.rate_limit.rules[0].limit == 50
    assert scenario.seed == 9
    assert scenario.client_config().engine.cache.capacity == 10
    # The data applied to is left alone.
    assert apply(burst, {}).workload[0].arrivals.count == 20  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        ("workload[3].users", 1, "workload has 1 item(s), no [3]"),
        ("nonsense.field", 1, "the scenario has no field 'nonsense'"),
        ("workload[0].users.x", 1, "workload[0].users has no fields"),
        ("seed[0]", 1, "seed is not a list"),
        ("workload[0].arrivals.per_minute", 3, "invalid scenario"),
        ("engine.profile", "fastest", "unknown profile"),
        ("instances.count", 0, "instances.count"),
    ],
)
def test_a_bad_axis_is_one_line_naming_it(burst: dict, path: str, value: object, says: str) -> None:
    with pytest.raises(PlanError) as info:
        apply(burst, {path: value})
    message = str(info.value)
    assert says in message
    assert "\n" not in message


# -- the bisection ---------------------------------------------------------------------------


@given(
    st.floats(0, 100, allow_nan=False),
    st.floats(0.01, 5, allow_nan=False),
    st.sampled_from(["largest", "smallest"]),
)
def test_bisection_finds_a_monotone_threshold(threshold: float, tol: float, direction: str) -> None:
    low, high = 0.0, 100.0
    holds = (lambda v: v <= threshold) if direction == "largest" else (lambda v: v >= threshold)
    outcome = bisect(holds, low, high, direction=direction, tolerance=tol)  # type: ignore[arg-type]
    assert outcome.answer is not None and holds(outcome.answer)
    if outcome.status == "found":
        assert outcome.failing is not None and not holds(outcome.failing)
        assert abs(outcome.failing - outcome.answer) <= tol
    else:
        assert outcome.status == "whole-range"
        assert outcome.answer == (high if direction == "largest" else low)
    assert len(outcome.evaluations) <= 3 + math.ceil(math.log2((high - low) / tol))


@given(st.integers(-5, 60), st.sampled_from(["largest", "smallest"]))
def test_bisection_on_integers_lands_on_the_threshold(threshold: int, direction: str) -> None:
    holds = (lambda v: v <= threshold) if direction == "largest" else (lambda v: v >= threshold)
    outcome = bisect(holds, 0, 50, direction=direction, integer=True)  # type: ignore[arg-type]
    assert all(isinstance(v, int) for v, _ in outcome.evaluations)
    if not 0 <= threshold <= 50:
        inside = (threshold > 50) == (direction == "largest")
        assert outcome.status == ("whole-range" if inside else "none")
        assert outcome.answer == (None if not inside else (50 if direction == "largest" else 0))
    else:
        assert outcome.answer == threshold


def test_bisection_stops_at_the_near_end_when_it_fails_there() -> None:
    search = Bisection(1, 10, direction="largest")
    assert search.next_value() == 1
    search.record(1, False)
    assert search.next_value() is None
    assert search.outcome is not None and search.outcome.status == "none"


# -- the bound and the knee ----------------------------------------------------------------


def _run(seed: int, requests: int, finished: int, p95: float = 10.0) -> SeedRun:
    c = requests / finished
    return SeedRun(
        seed=seed,
        arrivals=finished,
        failed=0,
        offered_per_minute=10.0,
        served_per_minute=9.0,
        playlist_p50=p95 / 2,
        playlist_p95=p95,
        playlist_p99=p95,
        upstream_requests=requests,
        rate_limited=0,
        rate_limited_share=0.0,
        requests_per_generation=c,
        floor=requests,
        floor_ratio=1.0,
        budget_utilisation=1.0,
        budget_per_minute=80.0,
        bound_per_minute=80.0 / c,
        virtual_seconds=600.0,
    )


def test_the_bound_is_the_budget_over_the_mean_requests_per_generation() -> None:
    point = _point({"x": 1}, [_run(1, 400, 100), _run(2, 600, 100, p95=30)])
    assert point.requests_per_generation == 5.0
    assert point.bound_per_minute == 16.0  # 80 a minute / 5 requests each
    assert (point.playlist_p95, point.playlist_p95_min, point.playlist_p95_max) == (20, 10, 30)


def test_the_budget_is_the_tighter_of_engine_and_upstream(burst: dict) -> None:
    def budget(overrides: dict) -> float | None:
        scenario = apply(burst, overrides)
        return budget_per_minute(
            SimpleNamespace(scenario=scenario, config=scenario.client_config())  # type: ignore[arg-type]
        )

    assert budget({}) == 80.0  # the tuned engine: 80 a minute, 0.75 s apart; upstream 100
    assert budget({"upstream.rate_limit.rules[0].limit": 50}) == 50.0
    assert budget({"instances.count": 3}) == 240.0  # three budgets, three upstream clients
    assert budget({"instances.count": 3, "instances.same_client": True}) == 100.0
    assert budget({"instances.count": 3, "instances.shared_budget": True}) == 80.0
    assert budget({"engine.rate": {"rules": [], "min_interval": 0.5}}) == 100.0


def test_the_knee_is_the_first_p95_above_twice_the_lowest() -> None:
    assert knee_index([10, 12, 19, 25, 80], 2.0) == 3
    assert knee_index([10, 12, 19], 2.0) is None
    assert knee_index([30, 10, 25], 2.0) == 0  # the first, even before the lowest
    assert knee_index([0, 0], 2.0) is None


# -- the command -----------------------------------------------------------------------------


def test_the_json_is_the_same_whatever_jobs(tmp_path: Path) -> None:
    plan = _write(tmp_path, TINY)
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        assert main(["plan", str(plan), "--out", str(out), "--jobs", str(jobs)]) == 0
        outputs.append(((out / "p.json").read_bytes(), (out / "p.csv").read_text()))
    assert outputs[0] == outputs[1]
    result = msgspec.json.decode(outputs[0][0])
    assert [p["values"] for p in result["points"]] == [
        {"workload[0].arrivals.count": 1},
        {"workload[0].arrivals.count": 3},
    ]
    assert [[r["seed"] for r in p["runs"]] for p in result["points"]] == [[1, 2], [1, 2]]
    (search,) = result["searches"]
    assert search["answer"] == 4 and search["status"] == "whole-range"
    assert search["sentence"].startswith("The largest workload[0].arrivals.count at which")
    assert outputs[0][1].splitlines()[0].startswith("workload[0].arrivals.count,seed,arrivals")
    assert len(outputs[0][1].splitlines()) == 1 + 2 * 2


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("scenario = 'burst'\n", "nothing to do"),
        ("scenario = 'burst'\n[[axis]]\npath = 'workload[9].users'\nvalues = [1]\n", "no [9]"),
        ("scenario = 'burst'\nbogus = 1\n", "invalid plan: Object contains unknown field"),
        ("scenario = 'nope'\n[[axis]]\npath = 'seed'\nvalues = [1]\n", "no bundled scenario"),
        (
            "scenario = 'burst'\n[target]\naxis = 'seed'\nlow = 1\nhigh = 2\n"
            "objectives = { speed = { max = 1 } }\n",
            "target.objectives: unknown ['speed']",
        ),
        ("scenario = 'burst'\n[[axis]]\npath = 'seed'\nvalues = []\n", "values"),
        ("scenario = [\n", "not valid TOML"),
    ],
)
def test_plan_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    plan = _write(tmp_path, text)
    assert main(["plan", str(plan), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"recobeat plan: {plan}: ")
    assert says in err


def test_option_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _write(tmp_path, TINY)
    assert main(["plan", str(plan), "--jobs", "0"]) == 2
    assert main(["plan", str(tmp_path / "missing.toml")]) == 2
    (tmp_path / "file").write_text("")
    assert main(["plan", str(plan), "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "recobeat plan: --jobs 0: at least 1",
        f"recobeat plan: {tmp_path / 'missing.toml'}: cannot read: No such file or directory",
        f"recobeat plan: --out {tmp_path / 'file'}: not a directory",
    ]


def test_png_without_matplotlib_names_the_extra_in_one_line(tmp_path: Path) -> None:
    plan = _write(tmp_path, TINY.replace('["json", "csv"]', '["png"]'))
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib':\n"
        "            raise ModuleNotFoundError(name, name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from simulator.cli import main\n"
        f"raise SystemExit(main(['plan', {str(plan)!r}, '--out', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"recobeat plan: {plan}: outputs: png output needs matplotlib: "
        "pip install 'recobeat-engine[plot]'"
    ]


def test_png_plots_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plan = _write(tmp_path, TINY.replace('["json", "csv"]', '["png", "table"]'))
    assert main(["plan", str(plan), "--out", str(tmp_path), "--jobs", "1"]) == 0
    for name in ("p-latency.png", "p-utilisation.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("name", ["burst-arrivals.toml", "tuned-capacity.toml"])
def test_the_shipped_plans_load(name: str) -> None:
    plan, scenario = load_plan(ROOT / "plans" / name)
    assert scenario.duration == 600
    assert plan.outputs == ["table", "json", "csv", "png"]


def test_list_names_each_bundled_plan_and_a_name_loads_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["burst-arrivals", "tuned-capacity"]
    plan, scenario = load_plan("tuned-capacity")  # a bare name: the bundled plan
    assert plan.target is not None and scenario.name == "steady-hour"


def test_no_plan_or_an_unknown_name_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan"]) == 2
    assert main(["plan", "no-such-plan"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert "--list" in err[0] and "no bundled plan of that name" in err[1]


def test_the_wheel_carries_the_plans(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from simulator.replay import library

    packaged = tmp_path / "plans"
    packaged.mkdir()
    (packaged / "one.toml").write_text("scenario = 'burst'\n")
    monkeypatch.setattr(library, "files", lambda package: tmp_path)
    assert library.bundled("plan") == {"one": packaged / "one.toml"}
