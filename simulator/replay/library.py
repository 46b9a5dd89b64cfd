"""The bundled scenarios and plans: the repository's ``scenarios/*.toml`` and ``plans/*.toml``,
found wherever they were installed.

A wheel carries them as package data (``simulator/replay/scenarios``, ``simulator/plan/plans``);
an editable install or a source checkout has only the repository's top-level directories, so
those are the fallback. ``recobeat replay --list`` and ``recobeat plan --list`` show them, and
``recobeat replay burst`` or ``recobeat plan burst-arrivals`` runs one by name.
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from simulator.replay.scenario import ScenarioError

__all__ = ["bundled", "bundled_scenarios", "describe", "resolve"]

_CHECKOUT = Path(__file__).resolve().parents[2]

Kind = Literal["scenario", "plan"]

# Where each kind is packaged in a wheel, and where it lives in a checkout.
_PLACES: dict[Kind, tuple[str, str, str]] = {
    "scenario": ("simulator.replay", "scenarios", "scenarios"),
    "plan": ("simulator.plan", "plans", "plans"),
}


def bundled(kind: Kind) -> dict[str, Traversable | Path]:
    """Each bundled file of ``kind`` by name (the file's stem), sorted by name."""
    package, packaged_dir, checkout_dir = _PLACES[kind]
    packaged = files(package) / packaged_dir
    where: Traversable | Path = packaged if packaged.is_dir() else _CHECKOUT / checkout_dir
    if not where.is_dir():
        return {}
    found = {
        entry.name.removesuffix(".toml"): entry
        for entry in where.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    }
    return dict(sorted(found.items()))


def bundled_scenarios() -> dict[str, Traversable | Path]:
    """Each bundled scenario by name (:func:`bundled`)."""
    return bundled("scenario")


def resolve(name: str, kind: Kind = "scenario") -> Traversable | Path:
    """``name`` as a path when such a file exists or it is not a bare name (the loader reports
    a missing one); else the bundled file of that kind and name, with or without ``.toml``."""
    path = Path(name)
    if path.exists() or path.name != name:
        return path
    found = bundled(kind).get(name.removesuffix(".toml"))
    if found is None:
        raise ScenarioError(
            f"{name}: no such file, and no bundled {kind} of that name "
            f"(`recobeat {'replay' if kind == 'scenario' else 'plan'} --list` shows them)"
        )
    return found


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
