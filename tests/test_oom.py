"""oom.py on a GPU's terms, checked on the CPU with torch.cuda stood in for.

A failed pass's tensors must be collected before the cache is emptied. cuBLAS and cuDNN report a
failed workspace allocation as a RuntimeError naming ``*_ALLOC_FAILED``.
"""
from __future__ import annotations

import warnings
import weakref

import torch

from ganmetric import oom
from ganmetric.errors import OutOfMemoryWarning


def test_cuda_libraries_failed_workspace_allocations_are_out_of_memory():
    for text in ("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
                 "cuDNN error: CUDNN_STATUS_ALLOC_FAILED", "cusolver error: CUSOLVER_STATUS_ALLOC_FAILED"):
        assert oom.is_out_of_memory(RuntimeError(text)), text
    assert not oom.is_out_of_memory(RuntimeError("CUDNN_STATUS_BAD_PARAM"))
    assert not oom.is_out_of_memory(ValueError("CUBLAS_STATUS_ALLOC_FAILED"))


def test_a_failed_pass_is_collected_before_the_cache_is_emptied(monkeypatch):
    """The failed pass left its tensor in a reference cycle: by the time empty_cache runs it is freed."""
    freed, at_empty_cache = [], []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: at_empty_cache.append(bool(freed)))

    def pass_(i, j):
        if j - i > 2:
            t = torch.zeros(1000)
            weakref.finalize(t, freed.append, True)
            cycle = [t]
            cycle.append(cycle)  # only the cycle collector frees it
            raise RuntimeError("CUBLAS_STATUS_ALLOC_FAILED")
        return torch.ones(j - i)

    chunks = oom.Chunks(8, "test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = chunks.map(pass_, 8)
    assert chunks.size == 2 and torch.cat(out).shape == (8,)
    assert at_empty_cache == [True, True]  # 8 -> 4 -> 2: both retries found the failed pass's tensor freed
    assert [type(w.message) for w in caught] == [OutOfMemoryWarning, OutOfMemoryWarning]
