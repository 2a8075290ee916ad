"""The CLI is a thin layer over the public API: it imports ``ganmetric`` and its top-level modules only."""
from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[1] / "cli" / "ganmetric_cli"


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_cli_imports_no_deeper_than_a_package_or_module_of_ganmetric():
    deep = sorted({(p.name, m) for p in CLI.glob("*.py") for m in _imports(p)
                   if m.startswith("ganmetric.") and m.count(".") > 1})
    assert deep == [], deep  # e.g. ganmetric.hessian.metric, ganmetric.axes.files were imported before issue 10
