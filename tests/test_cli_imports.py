"""The CLI is a thin layer over the public API: it imports ``ganmetric`` and its top-level modules only."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import subprocess_env

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


LAZY_SCRIPT = r"""
import json, sys
import ganmetric
after_import = sorted(sys.modules)
from ganmetric_cli.main import main
try:
    main(["--help"])
except SystemExit:
    pass
print(json.dumps({"import": after_import, "help": sorted(sys.modules)}))
"""
#: what neither ``import ganmetric`` nor ``ganmetric --help`` may import (issue 16: cold start)
HEAVY = ("matplotlib", "scipy", "lpips", "torchvision", "torch._dynamo", "ganmetric.generators.dcgan",
         "ganmetric.generators.biggan", "ganmetric.generators.stylegan2")


@pytest.mark.slow  # a fresh process: about 3 s
@pytest.mark.perf  # a fresh-process cold start
def test_import_and_help_do_not_import_plotting_lpips_or_model_families():
    proc = subprocess.run([sys.executable, "-c", LAZY_SCRIPT], capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    for when, modules in loaded.items():
        assert sorted(m for m in HEAVY if m in modules) == [], when
