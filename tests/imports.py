"""What a source file imports, read with ``ast`` (the layer and packaging tests share it)."""

from __future__ import annotations

import ast
from pathlib import Path


def imported_top_levels(path: Path) -> set[str]:
    """The top-level package of every absolute import in ``path``, wherever it stands (inside
    functions and under ``TYPE_CHECKING`` too)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found
