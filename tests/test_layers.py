"""The house imports in one direction: engine <- recobeat <- simulator.

Every import statement of every module counts, including those inside functions and under
``TYPE_CHECKING``: a layer may import only the layers below it. The public surface of each
package is pinned (as trio's export tests do), so a change to it is a deliberate, reviewed edit
of this file.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.imports import imported_top_levels

ROOT = Path(__file__).resolve().parents[1]
# Each layer, and the layers it may import.
MAY_IMPORT = {
    "engine": set(),
    "recobeat": {"engine"},
    "simulator": {"engine", "recobeat"},
}


def _imported_layers(path: Path) -> set[str]:
    return imported_top_levels(path) & set(MAY_IMPORT)


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT).as_posix()} imports {other}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for other in sorted(_imported_layers(path) - MAY_IMPORT[layer] - {layer})
    ]
    assert wrong == []


def test_relative_imports_are_not_used() -> None:
    # A relative import would hide a layer crossing from the check above.
    relative = [
        path.relative_to(ROOT).as_posix()
        for layer in MAY_IMPORT
        for path in sorted((ROOT / layer).rglob("*.py"))
        if any(
            isinstance(node, ast.ImportFrom) and node.level
            for node in ast.walk(ast.parse(path.read_text()))
        )
    ]
    assert relative == []
