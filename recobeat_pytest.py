"""pytest's entry point (``pytest11``) for recobeat-engine's plugin, :mod:`simulator.pytest_plugin`.

A module of its own, outside the packages, because pytest marks the entry point's outermost
package for assertion rewriting: pointing it at ``simulator.pytest_plugin`` would rewrite every
module of ``simulator`` (in an editable install) when pytest runs. Only pytest imports this.
"""

from __future__ import annotations

from simulator.pytest_plugin import pytest_addoption, pytest_configure

__all__ = ["pytest_addoption", "pytest_configure"]
