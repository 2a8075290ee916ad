"""Every file read in the package is data-only: a static check of each load call (issue 21, section 1).

``torch.load`` must say ``weights_only=True`` and ``numpy.load`` ``allow_pickle=False``, with the
literal value at the call; no pickle module loads anything; programs (``torch.jit.load``,
``torch.export.load``) are opened only where a user's named model file is loaded, the exported
program after its archive is checked.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "ganmetric").rglob("*.py"), *(ROOT / "cli").rglob("*.py"),
                  *(ROOT / "benchmarks").rglob("*.py")])
#: where a program may be loaded, and why
PROGRAM_LOADERS = {("torch", "jit", "load"): {"ganmetric/generators/saved.py"},       # the user's --model FILE.pt
                   ("torch", "export", "load"): {"ganmetric/generators/exported.py"}}  # after _check_archive


def _dotted(node) -> tuple[str, ...]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return tuple(reversed(parts))


def _calls(sources, root):
    """(relative path, line, dotted name, {keyword: constant value}) of every call in ``sources``."""
    for path in sources:
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if isinstance(node, ast.Call):
                kwargs = {k.arg: (k.value.value if isinstance(k.value, ast.Constant) else "<not a literal>")
                          for k in node.keywords if k.arg}
                yield rel, node.lineno, _dotted(node.func), kwargs


def _violations(sources, root) -> tuple[list[str], list[str], list[str]]:
    """(torch loads, numpy loads, violations) found in ``sources``."""
    torch_loads, numpy_loads, bad = [], [], []
    for rel, line, name, kwargs in _calls(sources, root):
        where = f"{rel}:{line} {'.'.join(name)}"
        if name == ("torch", "load"):
            torch_loads.append(where)
            if kwargs.get("weights_only") is not True:
                bad.append(where + " without weights_only=True")
        elif name in (("np", "load"), ("numpy", "load")):
            numpy_loads.append(where)
            if kwargs.get("allow_pickle") is not False:
                bad.append(where + " without allow_pickle=False")
        elif name[-1:] in (("load",), ("loads",)) and name[:1] in (("pickle",), ("dill",), ("cloudpickle",)):
            bad.append(where + ": a pickle load")
        elif kwargs.get("weights_only") is False or kwargs.get("allow_pickle") is True:
            bad.append(where + ": weights_only=False / allow_pickle=True")
        elif name in PROGRAM_LOADERS and rel not in PROGRAM_LOADERS[name]:
            bad.append(where + ": a program loaded outside the user's named model file")
    return torch_loads, numpy_loads, bad


def test_torch_and_numpy_loads_are_weights_only():
    torch_loads, numpy_loads, bad = _violations(SOURCES, ROOT)
    assert bad == []
    # the scan sees the calls it is about (a scanner that finds nothing would pass anything)
    assert any("ganmetric/io.py" in w for w in torch_loads)
    assert any("ganmetric/io.py" in w for w in numpy_loads) and len(numpy_loads) >= 4


def test_the_scanner_flags_what_it_should(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch, numpy as np, pickle\n"
                   "torch.load('a')\ntorch.load('b', weights_only=flag)\nnp.load('c', allow_pickle=True)\n"
                   "pickle.loads(b'')\ntorch.jit.load('d')\nx.load_state(weights_only=False)\n"
                   "torch.load('ok', weights_only=True)\nnp.load('ok', allow_pickle=False)\n")
    _, _, found = _violations([bad], tmp_path)
    assert [w.split(" ", 1)[0] for w in found] == [f"bad.py:{i}" for i in range(2, 8)], found
