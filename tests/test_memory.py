"""memory.py on a GPU's terms, checked on the CPU with torch.cuda's statistics stood in for.

The allocator's peak statistic is the caller's too (bench_gpu.py reads it per run): measuring a
forward must not reset it. A failed pass's tensors must be collected before the cache is emptied.
cuBLAS and cuDNN report a failed workspace allocation as a RuntimeError naming ``*_ALLOC_FAILED``.
"""
from __future__ import annotations

import warnings
import weakref

import pytest
import torch

from ganmetric import memory
from ganmetric.errors import OutOfMemoryWarning


class FakeAllocator:
    """torch.cuda's memory statistics for a device that allocates ``during`` bytes in the measured call."""

    def __init__(self, monkeypatch, *, allocated: int, peak: int):
        self.allocated, self.peak = allocated, peak
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
        monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: self.allocated)
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: self.peak)

        def reset(device=None):
            raise AssertionError("the caller's peak statistic was reset")
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset)

    def allocate(self, nbytes: int) -> None:
        self.peak = max(self.peak, self.allocated + nbytes)


@pytest.mark.parametrize("earlier_peak, during, want", [
    (1000, 5000, 5000),   # the call set a new peak: its rise above the start is the call's peak
    (9000, 5000, None),   # the call stayed below the caller's earlier peak: unknown, the count is used
])
def test_the_allocator_peak_is_read_without_resetting_the_callers(monkeypatch, earlier_peak, during, want):
    fake = FakeAllocator(monkeypatch, allocated=800, peak=earlier_peak)
    with memory._AllocatorPeak(torch.device("cuda", 0)) as a:
        fake.allocate(during)
    assert a.peak == want
    assert fake.peak == max(earlier_peak, 800 + during)  # the caller still reads its own peak


def test_cuda_libraries_failed_workspace_allocations_are_out_of_memory():
    for text in ("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
                 "cuDNN error: CUDNN_STATUS_ALLOC_FAILED", "cusolver error: CUSOLVER_STATUS_ALLOC_FAILED"):
        assert memory.is_out_of_memory(RuntimeError(text)), text
    assert not memory.is_out_of_memory(RuntimeError("CUDNN_STATUS_BAD_PARAM"))
    assert not memory.is_out_of_memory(ValueError("CUBLAS_STATUS_ALLOC_FAILED"))


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

    chunks = memory.Chunks(8, "test")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = chunks.map(pass_, 8)
    assert chunks.size == 2 and torch.cat(out).shape == (8,)
    assert at_empty_cache == [True, True]  # 8 -> 4 -> 2: both retries found the failed pass's tensor freed
    assert [type(w.message) for w in caught] == [OutOfMemoryWarning, OutOfMemoryWarning]
