"""Exact float32 for every computation whose numbers land in a result: TF32 off, deterministic cuDNN.

On Ampere and newer GPUs torch runs float32 convolutions through cuDNN in TF32 (a 10-bit
mantissa) unless told otherwise (``torch.backends.cudnn.conv.fp32_precision`` is ``"tf32"``
by default in torch 2.x), and ``torch.set_float32_matmul_precision("high")`` does the same
to matrix products on CUDA and, through oneDNN, on some CPUs. Products then carry relative
errors of 1e-4 to 1e-3 and are slightly non-symmetric: block Lanczos cannot reach its float32
tolerance (1e-5), and the determinism probe (rtol 1e-4) can fail when batches of 1 and 2 codes
pick different kernels.

:func:`float32_precision` sets, for the duration of a computation, the fp32 precision of
convolutions and matrix products of every backend (``"ieee"``, or ``"tf32"`` on CUDA when
``allow_tf32``) and cuDNN's algorithm choice (deterministic, not benchmarked), and restores
the caller's settings afterwards. It sets torch's per-operator ``fp32_precision`` and keeps
the legacy ``allow_tf32`` flags in agreement with them (torch refuses to read those once the
two disagree; a torch before 2.9 has only those). :func:`exact_float32` decorates a public
entry point with it. What was in effect is recorded in a metric result's meta
(``float32_precision``) and its ``allow_tf32`` option.

Not made deterministic here: backward passes through bilinear ``interpolate`` on CUDA (LPIPS
with ``resize``) accumulate with atomics, so reverse-mode methods (gn-lanczos, fwd-over-rev,
bp, backward-iter, forward-iter) can differ in the last bits from run to run on a GPU.
"""
from __future__ import annotations

import contextlib
import functools

import torch

#: the per-operator fp32 precisions a computation sets (``torch.backends.<name>.fp32_precision``)
_BACKENDS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn", "mkldnn.matmul", "mkldnn.conv")
#: the legacy ``allow_tf32`` flags: torch's getters raise once they disagree with the per-operator
#: precisions, so a computation sets them to agree (and a user's code that reads them keeps working)
_LEGACY = {
    "cudnn": lambda: torch.backends.cudnn,
    "cuda.matmul": lambda: torch.backends.cuda.matmul,
}
#: the backends ``allow_tf32`` switches to TF32 (the CPU's oneDNN stays exact: no speed to gain on most CPUs)
TF32_BACKENDS = ("cuda.matmul", "cudnn.conv", "cudnn.rnn")
#: what a result records (``float32_precision``): the precisions of the operators our models run, and cuDNN's flags
RECORDED = ("cuda.matmul", "cudnn.conv", "mkldnn.matmul", "mkldnn.conv", "cudnn.deterministic", "cudnn.benchmark")
#: the relative accuracy of products with ``allow_tf32`` (TF32 keeps 10 mantissa bits: unit roundoff
#: 2^-11 ~ 5e-4, and a product's error grows with its depth): Lanczos tolerances below it are not reachable
TF32_TOLERANCE = 1e-3


def settings(allow_tf32: bool = False) -> dict:
    """The settings a computation runs with (its record): fp32 precision per operator, cuDNN's algorithm choice.

    Args:
        allow_tf32: CUDA convolutions and matrix products may use TF32 (faster on Ampere and newer, about
            :data:`TF32_TOLERANCE` relative accuracy); otherwise everything is IEEE float32.

    Returns:
        ``{"cuda.matmul": "ieee" | "tf32", "cudnn.conv": ..., "mkldnn.matmul": "ieee", "mkldnn.conv": "ieee",
        "cudnn.deterministic": True, "cudnn.benchmark": False}`` (JSON-ready: a result's ``float32_precision``).
    """
    return {name: value for name, value in _state(bool(allow_tf32))[0].items() if name in RECORDED}


def current() -> dict:
    """The settings in effect now, in the form of :func:`settings` (the process-wide torch flags)."""
    return {name: value for name, value in _read()[0].items() if name in RECORDED}


def _backend(name: str):
    """The ``torch.backends`` object holding ``name``'s ``fp32_precision``; None on a torch without it (before
    2.9: the legacy ``allow_tf32`` flags alone then say what runs in TF32)."""
    obj = torch.backends
    for part in name.split("."):
        obj = getattr(obj, part, None)
    return obj if obj is not None and hasattr(obj, "fp32_precision") else None


def _state(allow_tf32: bool) -> tuple[dict, dict]:
    """(every setting, the legacy flags) that a computation runs with."""
    values = {name: ("tf32" if allow_tf32 and name in TF32_BACKENDS else "ieee") for name in _BACKENDS}
    values.update({"cudnn.deterministic": True, "cudnn.benchmark": False})
    return values, {name: allow_tf32 for name in _LEGACY}


def _read() -> tuple[dict, dict]:
    """(every setting now, the legacy flags now: None where torch refuses to read one)."""
    values = {name: (str(b.fp32_precision) if (b := _backend(name)) is not None else None) for name in _BACKENDS}
    values.update({"cudnn.deterministic": bool(torch.backends.cudnn.deterministic),
                   "cudnn.benchmark": bool(torch.backends.cudnn.benchmark)})
    legacy = {}
    for name, backend in _LEGACY.items():
        try:
            legacy[name] = bool(backend().allow_tf32)
        except RuntimeError:  # the user mixed the two interfaces: leave that flag alone
            legacy[name] = None
    return values, legacy


def _apply(values: dict, legacy: dict) -> None:
    for name, flag in legacy.items():  # first: a legacy setter overwrites the per-operator precisions
        if flag is not None:
            _LEGACY[name]().allow_tf32 = flag
    for name in _BACKENDS:
        backend = _backend(name)
        if backend is not None and values[name] is not None:
            backend.fp32_precision = values[name]
    torch.backends.cudnn.deterministic = values["cudnn.deterministic"]
    torch.backends.cudnn.benchmark = values["cudnn.benchmark"]


@contextlib.contextmanager
def float32_precision(allow_tf32: bool = False):
    """``with float32_precision(allow_tf32) as used:`` run with :func:`settings`, restore the caller's afterwards.

    Nested uses restore the enclosing one's settings. The flags are process-wide, so another
    thread computing at the same time sees them too.

    Args:
        allow_tf32: as in :func:`settings`.

    Yields:
        dict: the settings in effect inside (:func:`settings`).
    """
    saved_values, saved_legacy = _read()
    values, legacy = _state(bool(allow_tf32))
    _apply(values, {name: flag for name, flag in legacy.items() if saved_legacy[name] is not None})
    try:
        yield settings(allow_tf32)
    finally:
        _apply(saved_values, saved_legacy)


def exact_float32(fn):
    """Decorator: run ``fn`` inside ``float32_precision(allow_tf32=False)`` (a public entry point's products)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with float32_precision(False):
            return fn(*args, **kwargs)
    return wrapper
