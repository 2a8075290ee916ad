"""chunking.py on a GPU's terms, checked on the CPU with torch.cuda's statistics stood in for.

The allocator's peak statistic is the caller's too (bench_gpu.py reads it per run): measuring a
forward must not reset it.
"""
from __future__ import annotations

import pytest
import torch

from ganmetric import chunking


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
    with chunking._AllocatorPeak(torch.device("cuda", 0)) as a:
        fake.allocate(during)
    assert a.peak == want
    assert fake.peak == max(earlier_peak, 800 + during)  # the caller still reads its own peak
