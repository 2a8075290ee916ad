"""Every benchmark script imports: a name moved or removed in the library breaks them silently otherwise
(bench_stylegan2.py imported a helper that had moved into the tests)."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_benchmark_script_imports(script, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))  # the scripts put the repository on sys.path
    spec = importlib.util.spec_from_file_location(f"bench_{script[:-3]}", BENCH / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # top level only: every script runs under `if __name__ == "__main__"`
    assert callable(getattr(module, "main", None))
