"""``trust_pickled_code``: a network pickle loaded by NVIDIA's own loader, running the code the file carries.

For a file the user trusts whose code ganmetric's reader does not know (a fork that changed the
network): ``legacy.load_network_pkl`` from a checkout of NVIDIA's repository (stylegan3 or
stylegan2-ada-pytorch, its root on ``PYTHONPATH``) unpickles the file, which ``exec``s the
module source stored inside it. The generator then runs NVIDIA's (or the fork's) own forward
code; whether it works under ``torch.func`` transforms is up to that code.
"""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path

from ...errors import InputError, WeightsError
from .pickles import source_sha256, known_source


def _nvidia_loader():
    """NVIDIA's ``legacy`` module, imported from the user's path.

    Raises:
        InputError: NVIDIA's repository is not importable.
    """
    try:
        importlib.import_module("torch_utils.persistence")
        legacy = importlib.import_module("legacy")
    except ImportError as exc:
        raise InputError(f"trust_pickled_code runs NVIDIA's own loader, which is not importable here ({exc}): put a "
                         f"checkout of NVlabs/stylegan3 or NVlabs/stylegan2-ada-pytorch on PYTHONPATH",
                         argument="trust_pickled_code") from None
    if not callable(getattr(legacy, "load_network_pkl", None)):
        raise InputError(f"the module 'legacy' found at {getattr(legacy, '__file__', '?')} is not NVIDIA's (no "
                         f"load_network_pkl): put NVIDIA's repository first on PYTHONPATH",
                         argument="trust_pickled_code")
    return legacy


def load_trusted(path: Path, network: str):
    """(mapping, synthesis, record) of ``network`` in ``path``, unpickled by NVIDIA's loader (the file's code runs).

    Raises:
        InputError: missing file, NVIDIA's loader not importable, the network not in the file.
        WeightsError: NVIDIA's loader failed on the file.
    """
    if not path.is_file():
        raise InputError(f"NVIDIA network pickle not found: {path}", argument="model")
    legacy = _nvidia_loader()
    warnings.warn(f"{path.name}: loading with NVIDIA's loader, which runs the code inside the file "
                  f"(trust_pickled_code)", UserWarning, stacklevel=3)
    try:
        with open(path, "rb") as f:
            data = legacy.load_network_pkl(f)
    except Exception as exc:  # the file's own code may raise anything
        raise WeightsError(f"NVIDIA's loader could not read {path}: {type(exc).__name__}: {exc}") from exc
    G = data.get(network) if isinstance(data, dict) else None
    if G is None or not hasattr(G, "mapping") or not hasattr(G, "synthesis"):
        raise InputError(f"{path.name} holds no generator {network}", argument="network")
    src = getattr(G, "_orig_module_src", None)
    known = known_source(src) if isinstance(src, str) else None
    source = {"sha256": source_sha256(src) if isinstance(src, str) else None, "known": known[1] if known else None}
    stylegan3 = hasattr(G.synthesis, "input")
    record = {"network": network, "architecture": "stylegan3" if stylegan3 else "stylegan2",
              "config": f"{type(G).__module__}.{type(G).__name__}", "source": source,
              "pickled_code": "ran (trust_pickled_code)"}
    return G.mapping, G.synthesis, record
