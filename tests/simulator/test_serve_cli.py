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
        (["plan"], "recobeat: argument COMMAND: invalid choice"),
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
