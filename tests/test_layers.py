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

ROOT = Path(__file__).resolve().parents[1]
# Each layer, and the layers it may import.
MAY_IMPORT = {
    "engine": set(),
    "recobeat": {"engine"},
    "simulator": {"engine", "recobeat"},
}


def _imported_layers(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(MAY_IMPORT)


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
