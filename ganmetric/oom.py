"""Running batched passes in chunks, and retrying a pass that runs out of memory with half as many items.

How many items a pass should carry in the first place is :mod:`ganmetric.chunking`'s
estimate; an estimate can be wrong (other processes share a GPU), so :class:`Chunks` halves a
pass that fails for lack of memory, down to 1, with an
:class:`~ganmetric.errors.OutOfMemoryWarning`, and keeps the smaller size for the passes after
it. Out of memory includes cuBLAS/cuDNN failing to allocate a workspace
(``*_STATUS_ALLOC_FAILED``); the failed pass is garbage-collected before
``torch.cuda.empty_cache()`` and the retry.
"""
from __future__ import annotations

import gc
import warnings
from typing import Callable

import torch

from .errors import OutOfMemoryWarning

#: lower-case fragments of the RuntimeErrors that mean "no memory": CPU/MPS allocators, and the CUDA
#: libraries failing to allocate a workspace (CUBLAS_STATUS_ALLOC_FAILED, CUDNN_STATUS_ALLOC_FAILED,
#: CUSOLVER_STATUS_ALLOC_FAILED, CUFFT_ALLOC_FAILED)
OUT_OF_MEMORY_TEXTS = ("out of memory", "can't allocate memory", "alloc_failed")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` means the device ran out of memory: the allocator's error (CUDA, CPU, MPS), or a CUDA
    library's failed workspace allocation (``*_STATUS_ALLOC_FAILED``)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(t in text for t in OUT_OF_MEMORY_TEXTS)


class Chunks:
    """Runs a batched computation over ranges of ``size`` items, halving ``size`` when a pass runs out of memory.

    Args:
        size: items per pass (>= 1).
        what: names the computation in the warning (``"jacobian"``).

    Attributes:
        size: the current chunk (the smallest one used so far, after any retry).
    """

    def __init__(self, size: int, what: str):
        self.size, self.what = int(size), what

    def map(self, fn: Callable[[int, int], torch.Tensor], total: int, *,
            on_pass: Callable[[int], object] | None = None) -> list:
        """``[fn(start, stop), ...]`` over ``range(total)`` in passes of at most ``size`` items.

        ``on_pass(items)`` is called after each pass that succeeded (a progress bar's ``update``).

        Raises:
            torch.OutOfMemoryError (or the allocator's RuntimeError): a pass of one item ran out of memory.
        """
        out, start = [], 0
        while start < total:
            stop = min(start + self.size, total)
            try:
                out.append(fn(start, stop))
                failed = False
            except (RuntimeError, MemoryError) as exc:
                if not is_out_of_memory(exc) or stop - start == 1:
                    raise
                failed = True
            if failed:  # outside the except block: the error's frames, and the tensors they hold, are freed
                self._shrink(stop - start)
                continue
            if on_pass is not None:
                on_pass(stop - start)
            start = stop
        return out

    def _shrink(self, tried: int) -> None:
        self.size = max(1, tried // 2)
        if torch.cuda.is_initialized():
            gc.collect()  # the failed pass's tensors can sit in reference cycles (frames, tracebacks)
            torch.cuda.empty_cache()  # then give their blocks back before the smaller pass
        warnings.warn(f"{self.what}: a pass of {tried} tangents ran out of memory; retrying with {self.size}",
                      OutOfMemoryWarning, stacklevel=3)
