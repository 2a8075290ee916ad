"""How many tangents fit in one batched pass: ``chunk="auto"``'s cost model.

The batched products (``vmap`` over ``jvp`` / ``vjp``) hold, per tangent, about what one
forward pass of one code holds; the auto chunk is therefore

    chunk = (SAFETY * free memory - fixed - PASS_OVERHEAD) / per-tangent bytes

clipped to 1 .. n (and on the CPU to the larger of :data:`CPU_MAX_CHUNK` and
:data:`CPU_PASS_BYTES` / per-tangent bytes).

- **per-tangent bytes** come from one measured no-grad forward of one code through the map
  the passes differentiate (G, then the distance's features or the distance), counting the
  tensors computed from the code: ``peak``, the most bytes alive at once, and ``total``, all
  of them (the metric engine caches the measurement per generator, distance and placement:
  a batch of points measures once). Forward-mode products
  (``jacobian``, the jvp half of ``gn-lanczos``) keep only a few activations alive at a time,
  so they scale with ``peak``; products that differentiate a gradient (``fwd-over-rev``,
  ``forward-iter``) keep every saved activation, and its tangent, until the backward pass:
  they scale with ``total``. :data:`COSTS` holds the multipliers, measured on DCGAN, BigGAN-deep
  and StyleGAN2 (benchmarks/RESULTS.md, "Auto chunk").
- **the measurement** counts bytes with a :class:`~torch.overrides.TorchFunctionMode` that
  sees every tensor a torch call of the forward returns and a weak reference to its storage that
  sees it freed (any device; tracemalloc does not see torch's allocations, and the process's
  RSS counts the allocator's reuse and everything else the process does); on CUDA the
  allocator's own peak (``torch.cuda.max_memory_allocated``, which also counts convolution
  workspaces and the temporaries inside one call) is taken when larger, never resetting that
  statistic (the caller's own peak): a new peak reached in the call is the call's.
- **free memory**: CUDA ``torch.cuda.mem_get_info`` plus what torch's caching allocator holds
  unused; CPU ``MemAvailable`` of ``/proc/meminfo``, lowered to a cgroup's limit when the
  process runs in one (containers); elsewhere, or where none can be read, :data:`DEFAULT_CHUNK`.

A pass that still runs out of memory is retried with fewer tangents by
:class:`ganmetric.oom.Chunks`.
"""
from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

#: fraction of the free memory the passes may use: the rest is left to fragmentation, the
#: allocator's rounding, the solver's own arrays and other processes
SAFETY = 0.5
#: codes per batched pass where nothing measures them: ``chunk="auto"`` where free memory cannot be
#: read (an unknown device or platform), inversion's restarts per batch, the path energy's passes
DEFAULT_CHUNK = 64
#: most tangents per pass on the CPU, unless more fit in :data:`CPU_PASS_BYTES`: passes wider
#: than this and larger than that were no faster there (dcgan-face, jacobian, median of 5-7
#: interleaved runs: lpips-alex at 256 px, 20 MiB a tangent, 2.26 s at 100 vs 2.10 s at 64 and
#: 1.91 s at 25), and 64 was the default before ``auto``. A GPU takes up to n.
CPU_MAX_CHUNK = 64
#: estimated bytes a CPU pass may take before :data:`CPU_MAX_CHUNK` caps it: each pass also
#: evaluates the code alone (the primal of the jvp, ~10 ms on dcgan-face + lpips-alex at
#: 64 px), so small models are faster in fewer passes (n = 100 at 1.75 MiB a tangent: one
#: pass 0.279 s vs 64 + 36 0.306 s with lpips-alex 64 px, 0.197 vs 0.208 s with mse).
CPU_PASS_BYTES = 512 * 2 ** 20
#: bytes a pass holds whatever its chunk (its inputs, vmap's bookkeeping, the allocator's
#: rounding): the measured intercepts of a pass's peak against its chunk were at most 9 MiB on
#: dcgan-face (larger on BigGAN and StyleGAN2, where the per-tangent bytes are 2x above the slope)
PASS_OVERHEAD = 16 * 2 ** 20


@dataclass(frozen=True)
class Cost:
    """What a kind of batched pass holds, in units of one measured forward of one code.

    Attributes:
        peak: bytes per tangent, as a multiple of the forward's most bytes alive at once.
        total: bytes per tangent, as a multiple of all the bytes the forward created.
        rows: the n outputs are all kept (the full Jacobian's rows): fixed bytes.
        graph: one forward's saved activations are kept for the whole run (a vjp pullback): fixed bytes.
        features: the forward to measure is the distance's features of G(z) (the map forward-mode
            passes differentiate); else the distance d(G(z0), G(z)) itself.
    """

    peak: float
    total: float
    rows: bool = False
    graph: bool = False
    features: bool = False


#: per kind of pass (a method's ``memory``). Measured per tangent (peak of one pass of c
#: tangents over c, at two c, on dcgan-face with mse and with LPIPS at 64 and 256 px,
#: BigGAN-deep-128 and StyleGAN2-256; benchmarks/RESULTS.md, "Auto chunk"), in units of the
#: forward's ``peak`` A and ``total`` S: jacobian 1.3-3.2 A (dcgan-face + mse the highest: its
#: activations are small and the jvp rules' temporaries are not); gauss-newton 1.4-4.8 A;
#: fwd-over-rev 1.1-3.7 S; finite-difference 4.3-4.6 S (a gradient of 2 codes per column).
#: Each multiplier is above the largest measured, so the estimate errs on the safe side.
COSTS = {
    "jacobian": Cost(3.5, 0.0, rows=True, features=True),
    "gauss-newton": Cost(5.0, 0.0, graph=True, features=True),
    "fwd-over-rev": Cost(0.0, 4.0),
    "finite-difference": Cost(0.0, 5.0),
}


@dataclass(frozen=True)
class ForwardMemory:
    """Bytes of one measured forward pass of one code.

    Attributes:
        peak: the most bytes of tensors computed from the code alive at once.
        total: the bytes of every tensor computed from the code.
        out: the bytes of its output (a Jacobian row, for the full Jacobian).
    """

    peak: int
    total: int
    out: int


@dataclass(frozen=True)
class ChunkChoice:
    """What ``chunk="auto"`` decided, and from what (recorded in a result's meta).

    Attributes:
        chunk: tangents per pass.
        per_tangent: estimated bytes one more tangent adds to a pass.
        fixed: bytes held whatever the chunk (the full Jacobian's rows, a pullback's graph).
        free: free bytes of the device when it was decided (None: unknown, :data:`DEFAULT_CHUNK`).
    """

    chunk: int
    per_tangent: int
    fixed: int
    free: int | None

    def meta(self) -> dict:
        """JSON-ready fields for a result's meta, in MiB: the estimate, which depends on the model only.

        The free memory is left out: it changes from run to run, and two runs of the same
        computation write the same meta but for ``seconds`` (a resumed batch is checked so).
        """
        mib = 2 ** 20
        return {"per_tangent_mib": round(self.per_tangent / mib, 3), "fixed_mib": round(self.fixed / mib, 3)}


class _ByteCounter(TorchFunctionMode):
    """Counts the bytes of the tensors torch functions compute from the input (new storages only).

    Only tensors that depend on the input are counted: they are what a batch of tangents
    multiplies. Tensors computed from parameters alone (BigGAN's spectrally normalised
    weights, StyleGAN2's constant input) exist once whatever the chunk. Views and in-place
    results share a storage already counted.

    A torch-function mode, not a dispatch mode: entering a ``TorchDispatchMode`` imports
    ``torch._dynamo`` (seconds, in a fresh process); this sees each top-level torch call
    (``conv2d``, ``linear``, ``x * s``), not the temporaries inside one, which the cost
    multipliers absorb.
    """

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.live = self.peak = self.total = 0
        self._derived: set[int] = {_storage_key(x)}  # storages computed from the input (and the input's own)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(isinstance(t, torch.Tensor) and _storage_key(t) in self._derived
               for t in tree_flatten((args, kwargs))[0]):
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self._count(t)
        return out

    def _count(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key, nbytes = _storage_key(t), storage.nbytes()
        if key in self._derived or nbytes == 0:
            return
        self._derived.add(key)
        self.live += nbytes
        self.total += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._freed, key, nbytes)

    def _freed(self, key: int, nbytes: int) -> None:
        self._derived.discard(key)
        self.live -= nbytes


def _storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def forward_memory(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> ForwardMemory:
    """Measure one no-grad forward ``fn(x)`` (x: one code, shape (1, n)).

    Args:
        fn: the map, (m, n) -> (m, ...).
        x: shape (1, n).

    Returns:
        ForwardMemory (on CUDA ``peak`` is at least the allocator's own peak above its start).
    """
    counter = _ByteCounter(x)
    with _AllocatorPeak(x.device) as allocator, torch.no_grad(), counter:
        y = fn(x)
    peak = max(counter.peak, allocator.peak or 0)
    return ForwardMemory(peak=int(peak), total=int(counter.total), out=int(y.numel() * y.element_size()))


class _AllocatorPeak:
    """``with _AllocatorPeak(device) as a:`` the CUDA allocator's peak above its start during the block, when
    it can be told without resetting the peak statistic (``a.peak``; None elsewhere, or when the block stayed
    below the peak reached before it)."""

    def __init__(self, device: torch.device):
        self.device, self.peak = torch.device(device), None
        self.cuda = self.device.type == "cuda"

    def __enter__(self) -> "_AllocatorPeak":
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
            self.before = torch.cuda.max_memory_allocated(self.device)
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda and exc[0] is None:
            torch.cuda.synchronize(self.device)
            after = torch.cuda.max_memory_allocated(self.device)
            if after > self.before:  # a new peak: reached inside the block
                self.peak = after - self.start


def free_memory(device: torch.device) -> int | None:
    """Bytes the device can still give this process (None where it cannot be read)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached)  # blocks torch's allocator holds unused are ours to reuse
    if device.type == "cpu":
        return _cpu_available()
    return None


def _cpu_available() -> int | None:
    """MemAvailable, lowered to the room left under a cgroup's memory limit (v2, then v1)."""
    available = _meminfo_available()
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is not None and usage is not None and limit < 2 ** 60:  # v1's "no limit" is a huge number
            room = max(limit - usage, 0)
            available = room if available is None else min(available, room)
            break
    if available is None and hasattr(os, "sysconf"):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            available = None
    return available


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())  # "max" (no limit) is not an int
    except (OSError, ValueError):
        return None


def choose_chunk(measured: ForwardMemory, product: str, n: int, *, free: int | None,
                 most: int | None = None, cpu: bool = False) -> ChunkChoice:
    """The number of tangents per pass that fits ``SAFETY * free`` bytes.

    Args:
        measured: one code's forward (:func:`forward_memory`).
        product: a key of :data:`COSTS`.
        n: the latent size (the chunk never exceeds it).
        free: free bytes of the device (None: :data:`DEFAULT_CHUNK`).
        most: the chunk never exceeds it (default n).
        cpu: the passes run on the CPU: at most :data:`CPU_MAX_CHUNK` tangents, or as many as
            fit :data:`CPU_PASS_BYTES` when that is more.

    Returns:
        ChunkChoice.
    """
    most = n if most is None else min(n, most)
    cost = COSTS[product]
    per_tangent = max(int(cost.peak * measured.peak + cost.total * measured.total), 1)
    if cpu:
        most = min(most, max(CPU_MAX_CHUNK, CPU_PASS_BYTES // per_tangent))
    fixed = (n * measured.out if cost.rows else 0) + (measured.total if cost.graph else 0)
    if free is None:
        return ChunkChoice(min(most, DEFAULT_CHUNK), per_tangent, fixed, None)
    room = SAFETY * free - fixed - PASS_OVERHEAD
    return ChunkChoice(int(max(1, min(most, room // per_tangent))), per_tangent, fixed, int(free))


def auto_chunk(measured: ForwardMemory, product: str, n: int, device) -> ChunkChoice:
    """``chunk="auto"``: the tangents per pass of ``product`` that fit the free memory of ``device``.

    Args:
        measured: one code's forward through the map :attr:`Cost.features` names
            (:func:`forward_memory`).
        product: a key of :data:`COSTS`.
        n: the latent size.
        device: where the passes run.

    Returns:
        ChunkChoice.
    """
    device = torch.device(device)
    return choose_chunk(measured, product, n, free=free_memory(device), cpu=device.type == "cpu")
