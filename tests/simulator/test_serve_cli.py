"""``recobeat serve`` and the top level of ``recobeat``: every error is one line and exit 2,
Ctrl-C stops the server cleanly on both backends.

The Ctrl-C tests run the command in a subprocess in REAL time (a signal needs a real process);
every wait there is bounded by ``timeout=`` rather than a sleep.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from simulator.cli import main

STARTUP = 60.0
"""Seconds a server may take to build its catalog and bind; generous for a loaded CI machine."""


def one_line_error(capsys: pytest.CaptureFixture[str], command: str = "serve") -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"recobeat {command}: ")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"recobeat {version('recobeat-engine')}\n"


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_a_port_out_of_range(capsys: pytest.CaptureFixture[str], port: str) -> None:
    assert main(["serve", "--port", port]) == 2
    assert f"--port {port}" in one_line_error(capsys)


def test_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = one_line_error(capsys)
    assert f"127.0.0.1:{port}" in err and "in use" in err


def test_a_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.toml"
    assert main(["serve", "--config", str(path)]) == 2
    err = one_line_error(capsys)
    assert str(path) in err and "No such file" in err


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("bad.toml", "seed = \n", "not valid TOML"),
        ("bad.json", "{seed: 1", "not valid JSON"),
        ("bad.toml", "seed = 'one'\n", "$.seed"),
        ("bad.toml", "[rate_limit]\nrules = [{ limit = 0, window = 60 }]\n", "limit"),
        ("bad.toml", "colour = 'red'\n", "unknown field `colour`"),
        ("bad.toml", "[endpoints.'/v1/nope']\n", "endpoints"),
    ],
)
def test_an_invalid_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert main(["serve", "--config", str(path)]) == 2
    err = one_line_error(capsys)
    assert str(path) in err and says in err


def test_the_documented_example_config_loads(tmp_path: Path) -> None:
    from engine.config import load_config
    from simulator.upstream.config import SimulatorConfig

    doc = Path(__file__).resolve().parents[2] / "docs" / "simulator-config.md"
    example = doc.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "sim.toml"
    path.write_text(example)
    config = load_config(path, SimulatorConfig)
    assert (config.seed, config.catalog.tracks) == (42, 200_000)
    assert config.rate_limit.rules[0].limit == 60
    assert config.endpoints["/v1/track/recommendation"].faults.error == 0.05


def test_serve_help_points_at_the_config_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "docs/simulator-config.md" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_ctrl_c_stops_the_server_cleanly(tmp_path: Path, backend: str) -> None:
    config = tmp_path / "small.toml"
    config.write_text("[catalog]\ntracks = 200000\nmaterialised = 1000\n")
    command = ["serve", "--port", "0", "--backend", backend, "--config", str(config)]
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert "on http://" in _first_line(process, STARTUP)
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=STARTUP)
        err = process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STARTUP)
    assert "Traceback" not in err, err
    assert status == 0, err


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process prints, waiting at most ``timeout`` seconds for it."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output within {timeout} s")
    return process.stdout.readline()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["serve", "--port", "eighty"], "recobeat serve: argument --port: invalid int value"),
        (["replay", "--backend", "curio", "x"], "recobeat replay: argument --backend"),
        (["frobnicate"], "recobeat: argument COMMAND: invalid choice"),
        ([], "recobeat: the following arguments are required: COMMAND"),
    ],
)
def test_a_malformed_command_line_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1


# presets ----------------------------------------------------------------------------------
SMALL_TOML = "[catalog]\ntracks = 200000\nmaterialised = 1000\n"


def test_the_presets_load_and_differ_as_documented() -> None:
    from simulator import FaultRates, SimulatorConfig
    from simulator.upstream.presets import PRESETS, preset_config

    assert list(PRESETS) == ["default", "strict", "loose", "flaky"]
    assert preset_config("default") == SimulatorConfig()

    def rules(name: str) -> list[tuple[int, float]]:
        return [(r.limit, r.window) for r in PRESETS[name].rate_limit.rules]

    assert rules("default") == rules("flaky") == [(100, 60.0), (5, 1.0)]
    assert rules("strict") == [(40, 60.0), (2, 1.0)]
    assert rules("loose") == [(300, 60.0), (10, 1.0)]
    strict_box, default_box = (
        PRESETS["strict"].rate_limit.penalty_box,
        SimulatorConfig().rate_limit.penalty_box,
    )
    assert strict_box is not None and default_box is not None
    assert (strict_box.strikes, strict_box.block) == (3, 120.0)
    assert PRESETS["loose"].rate_limit.penalty_box is None
    assert PRESETS["flaky"].rate_limit == SimulatorConfig().rate_limit
    assert PRESETS["flaky"].service.faults == FaultRates(
        error=0.02, timeout=0.01, reset=0.01, malformed=0.01
    )
    assert PRESETS["flaky"].service.latency == SimulatorConfig().service.latency
    for name, preset in PRESETS.items():
        if name != "flaky":
            assert preset.service == SimulatorConfig().service, name
        # Only the rate limit or the faults differ: the catalog, seed and latency are shared.
        assert (preset.seed, preset.catalog, preset.network, preset.endpoints) == (
            0,
            SimulatorConfig().catalog,
            SimulatorConfig().network,
            {},
        ), name


def test_the_docs_list_every_preset() -> None:
    from simulator.upstream.presets import PRESETS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulator-config.md").read_text()
    section = doc.split("## Presets", 1)[1].split("\n## ", 1)[0]
    for name in PRESETS:
        assert f"| `{name}` |" in section, name


def test_overrides_apply_over_a_preset_field_by_field() -> None:
    from engine.config import ConfigError
    from simulator.upstream.presets import UnknownPreset, preset_config

    config = preset_config("strict", {"seed": 5, "rate_limit": {"penalty_box": {"strikes": 5}}})
    box = config.rate_limit.penalty_box
    assert box is not None and (box.strikes, box.block) == (5, 120.0)  # block kept
    assert [r.limit for r in config.rate_limit.rules] == [40, 2] and config.seed == 5
    one_rule = preset_config("loose", {"rate_limit": {"rules": [{"limit": 7, "window": 1}]}})
    assert [(r.limit, r.window) for r in one_rule.rate_limit.rules] == [(7, 1.0)]  # replaced
    assert one_rule.rate_limit.penalty_box is None
    with pytest.raises(UnknownPreset, match="'nope'; known: default, strict, loose, flaky"):
        preset_config("nope")
    with pytest.raises(ConfigError, match="colour"):
        preset_config("strict", {"colour": "red"})


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """``recobeat serve`` without a server: the configurations it would have served."""
    import simulator

    configs: list[object] = []

    async def fake_serve_http(sim, *, task_status, **_: object) -> None:  # type: ignore[no-untyped-def]
        configs.append(sim.config)
        task_status.started("http://127.0.0.1:1")

    monkeypatch.setattr(simulator, "serve_http", fake_serve_http, raising=False)
    return configs


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_serve_with_a_preset_and_a_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], served: list[object], suffix: str
) -> None:
    from simulator.upstream.presets import preset_config

    path = tmp_path / f"sim{suffix}"
    if suffix == ".json":
        path.write_text('{"catalog": {"tracks": 200000, "materialised": 1000}, "seed": 3}')
    else:
        path.write_text("seed = 3\n" + SMALL_TOML)
    argv = ["serve", "--preset", "strict", "--config", str(path), "--port", "0"]
    assert main(argv) == 0
    expected = preset_config(
        "strict", {"seed": 3, "catalog": {"tracks": 200_000, "materialised": 1000}}
    )
    assert served == [expected]
    assert (
        capsys.readouterr().out
        == "RecoBeat simulator (seed 3, preset strict) on http://127.0.0.1:1\n"
    )
    assert main([*argv, "--seed", "9"]) == 0  # --seed overrides both
    assert served[-1] == preset_config(
        "strict", {"seed": 9, "catalog": {"tracks": 200_000, "materialised": 1000}}
    )


def test_serve_with_a_preset_alone(
    capsys: pytest.CaptureFixture[str], served: list[object]
) -> None:
    from simulator.upstream.presets import PRESETS

    assert main(["serve", "--preset", "loose", "--port", "0"]) == 0
    assert served == [PRESETS["loose"]]
    assert main(["serve", "--port", "0"]) == 0
    assert served[-1] == PRESETS["default"]
    assert (
        capsys.readouterr().out.splitlines()[-1]
        == "RecoBeat simulator (seed 0) on http://127.0.0.1:1"
    )


def test_an_unknown_preset_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["serve", "--preset", "nope"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("recobeat serve: argument --preset: invalid choice: 'nope'")
    assert err.count("\n") == 1
    for name in ("default", "strict", "loose", "flaky"):
        assert f"'{name}'" in err


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("seed = \n", "not valid TOML"),
        ("colour = 'red'\n", "unknown field `colour`"),
        ("[rate_limit]\nrules = [{ limit = 0, window = 60 }]\n", "$.rate_limit.rules[0].limit"),
        ("[rate_limit]\nphases = [{ start = 0, limits = [1] }]\n", "phases[0].limits"),
    ],
)
def test_an_invalid_config_over_a_preset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["serve", "--preset", "strict", "--config", str(path)]) == 2
    err = one_line_error(capsys)
    assert str(path) in err and says in err
