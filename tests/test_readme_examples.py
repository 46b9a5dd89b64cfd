"""Every Python example in README.md is a file in examples/ that CI runs (issue 15).

Each ```python block of the README starts with ``# examples/NAME.py`` and must equal that file
byte for byte, and every file in examples/ is shown by the README; so the README cannot drift
from code that runs. Each example's entry point then runs here in virtual time, against the
in-process simulator where it needs an upstream (``SimulatorTransport``) and against
``engine.shared.InProcessRedis`` where it needs a Redis: no example reaches the real API.
One exception: ``redis_py_tier.py`` needs redis-py, hence asyncio and a real server in real
time, so ``tests/redis/test_redis_py.py`` runs it against the test redis-server instead.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine import VirtualClock
from engine.shared import InProcessRedis
from engine.testing import BACKENDS, run_virtual
from simulator import RecoBeatSimulator, SimulatorTransport

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
HEADER = re.compile(r"\A# (examples/[\w-]+\.py)\n")


def readme_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"readme_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_readme_block_is_an_example_file() -> None:
    blocks = readme_blocks()
    assert blocks, "README.md has no python block"
    shown = set()
    for block in blocks:
        header = HEADER.match(block)
        assert header, f"a README python block does not start with '# examples/NAME.py':\n{block}"
        path = ROOT / header.group(1)
        assert path.is_file(), f"{header.group(1)} is named by the README but does not exist"
        assert block == path.read_text(encoding="utf-8"), (
            f"the README's copy of {header.group(1)} differs from the file: copy the file into it"
        )
        shown.add(path.name)
    on_disk = {p.name for p in EXAMPLES.glob("*.py")}
    assert on_disk == shown, f"examples not shown in README.md: {sorted(on_disk - shown)}"


def test_readme_examples_are_programs_not_fragments() -> None:
    """The two failures the issue found: top-level ``async with`` and undefined names."""
    for block in readme_blocks():
        compile(block, "<README block>", "exec")  # no top-level await / async with
        assert re.search(r'^if __name__ == "__main__":$', block, re.M), block.splitlines()[0]


@pytest.fixture
def sim(make_simulator: Callable[..., RecoBeatSimulator]) -> RecoBeatSimulator:
    return make_simulator()


def spotify_ids(sim: RecoBeatSimulator) -> list[str]:
    return [sim.catalog.spotify_id(i) for i in range(3)] + [sim.catalog.unknown_spotify_id(0)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_engine_basics(backend: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_virtual(load("engine_basics").main, backend=backend, seed=0)
    out = capsys.readouterr().out
    assert "0000000000000000000000 MISSING" in out
    assert "upstream_attempts=2" in out  # the third lookup was a cache hit


@pytest.mark.parametrize("backend", BACKENDS)
def test_recobeat_client(
    backend: str, sim: RecoBeatSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    main = functools.partial(load("recobeat_client").main, transport=SimulatorTransport(sim))
    run_virtual(main, spotify_ids(sim), backend=backend, seed=0)
    out = capsys.readouterr().out
    assert "3 audio features, 30 recommendations" in out, out
    assert sim.log, "the example reached the simulator"


@pytest.mark.parametrize("backend", BACKENDS)
def test_redis_tier(
    backend: str, sim: RecoBeatSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = spotify_ids(sim)

    async def main() -> Any:
        redis = InProcessRedis(clock=VirtualClock())  # its "server" time must be virtual too
        await load("redis_tier").run(redis, ids, transport=SimulatorTransport(sim))

    run_virtual(main, backend=backend, seed=0)
    out = capsys.readouterr().out
    assert ids[0] in out and "None" in out  # the unknown ID converts to None
    assert sim.log
