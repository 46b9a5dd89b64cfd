"""What a plain ``pip install .`` (no extras) imports is declared, and the extras fail clearly.

The wheel itself is installed into a fresh virtualenv and run from outside the checkout by
``.ci/run``; these tests catch the same mistakes earlier and say where they are.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.imports import imported_top_levels

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "recobeat", "simulator")
# An optional dependency may be imported only by the modules of the feature that needs it.
OPTIONAL = {
    "hypercorn": ("simulator/upstream/server.py",),
    "coredis": ("engine/redis/",),
    "redis": ("engine/redis/redispy.py",),
    "matplotlib": ("simulator/plan/plot.py",),
    "prometheus_client": ("engine/metrics.py",),
    # The `fast` extra: the recommender's prefilter, guarded (the same results without it).
    "numpy": ("simulator/upstream/recommend.py",),
    # The pytest plugin: only pytest imports it (entry point recobeat_pytest.py).
    "pytest": ("simulator/pytest_plugin/",),
}
# Distribution name -> the import names it provides, where they differ.
PROVIDES = {"httpx": {"httpx", "h2"}}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names: set[str] = set()
    for requirement in project["dependencies"]:
        dist = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()
        names |= PROVIDES.get(dist, {dist})
    return names


def test_every_third_party_import_is_declared_or_confined_to_its_extra() -> None:
    declared = _declared()
    known = set(PACKAGES) | set(sys.stdlib_module_names) | declared
    problems: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for name in sorted(imported_top_levels(path) - known):
                allowed = OPTIONAL.get(name, ())
                if not any(relative.startswith(prefix) for prefix in allowed):
                    problems.append(f"{relative} imports {name}, which no dependency declares")
    assert problems == []


def test_every_package_is_typed() -> None:
    assert [p for p in PACKAGES if not (ROOT / p / "py.typed").exists()] == []


def test_the_licence_file_matches_the_declared_licence() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


_WITHOUT_EXTRAS = """
import sys
EXTRAS = {"hypercorn", "coredis", "redis", "matplotlib", "prometheus_client"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in EXTRAS:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
"""


def _run_without_extras(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRAS + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_base_packages_import_without_any_extra() -> None:
    done = _run_without_extras(
        "import engine, recobeat, recobeat.client, simulator.cli, simulator, engine.shared\n"
        "import engine.redis  # its adapters are imported when asked for\n"
        "print(*(m in sys.modules for m in ('hypercorn', 'coredis', 'redis')))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False"]


@pytest.mark.parametrize(
    ("code", "extra"),
    [
        ("import simulator; simulator.serve_http", "server"),
        ("from engine.redis import CoredisBackend", "redis"),
        ("from engine.redis import RedisPyBackend", "redispy"),
        ("from engine.metrics import register; register(None)", "metrics"),
    ],
)
def test_an_extra_that_is_missing_names_itself(code: str, extra: str) -> None:
    done = _run_without_extras(code)
    assert done.returncode == 1
    assert f"pip install 'recobeat-engine[{extra}]'" in done.stderr.splitlines()[-1]


def test_serve_without_its_extra_says_which_to_install_in_one_line() -> None:
    done = _run_without_extras(
        "from simulator.cli import main\nraise SystemExit(main(['serve', '--port', '0']))"
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "recobeat serve: serving the simulator over HTTP needs hypercorn: "
        "pip install 'recobeat-engine[server]'"
    ]
