"""The bundled scenarios: the repository's ``scenarios/*.toml``, found wherever they were installed.

A wheel carries them as package data in ``simulator/replay/scenarios``; an editable install or a
source checkout has only the repository's top-level ``scenarios/`` directory, so that is the
fallback. ``recobeat replay --list`` shows them and ``recobeat replay burst`` runs one by name.
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from simulator.replay.scenario import ScenarioError

__all__ = ["bundled_scenarios", "describe", "resolve"]

_CHECKOUT = Path(__file__).resolve().parents[2] / "scenarios"


def bundled_scenarios() -> dict[str, Traversable | Path]:
    """Each bundled scenario by name (the file's stem), sorted by name."""
    packaged = files("simulator.replay") / "scenarios"
    where: Traversable | Path = packaged if packaged.is_dir() else _CHECKOUT
    if not where.is_dir():
        return {}
    found = {
        entry.name.removesuffix(".toml"): entry
        for entry in where.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    }
    return dict(sorted(found.items()))


def resolve(name: str) -> Traversable | Path:
    """``name`` as a path when such a file exists or it is not a bare name (the loader reports
    a missing one); else the bundled scenario of that name, with or without ``.toml``."""
    path = Path(name)
    if path.exists() or path.name != name:
        return path
    bundled = bundled_scenarios().get(name.removesuffix(".toml"))
    if bundled is None:
        raise ScenarioError(
            f"{name}: no such file, and no bundled scenario of that name "
            "(`recobeat replay --list` shows them)"
        )
    return bundled


def describe(scenario: Traversable | Path) -> str:
    """One line about a scenario: the first sentence of its ``description``, else its first
    comment line. Reads the TOML without validating it, so a broken file still gets a line."""
    try:
        text = scenario.read_text(encoding="utf-8")
        description = tomllib.loads(text).get("description")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return f"(cannot read: {exc})"
    if isinstance(description, str) and description.strip():
        flat = " ".join(description.split())
        return re.split(r"(?<=[.!?])\s", flat, maxsplit=1)[0]
    for line in text.splitlines():
        if line.lstrip().startswith("#") and line.strip("# \t"):
            return line.strip("# \t")
    return ""
