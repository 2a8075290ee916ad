"""chunk="auto" (ganmetric.chunking) and the out-of-memory retry (ganmetric.oom): the bound holds, the results
do not move.

The out-of-memory cases use a generator whose passes raise ``torch.cuda.OutOfMemoryError``
(constructible without CUDA) when they carry more tangents than a limit: an
``autograd.Function`` whose ``jvp`` and ``backward`` pass the tangents through a second
Function, whose ``vmap`` rule sees how many tangents a ``vmap`` pass batches
(``info.batch_size``) and whose forward sees a plain batch's rows.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric import chunking, oom
from ganmetric.errors import InputError, OutOfMemoryWarning
from ganmetric.generators.base import Generator
from ganmetric.hessian.objective import Objective
from helpers import ROOT, LinearGenerator, subprocess_env

#: the exact methods that batch tangents, and k for the top-k ones (k = 8: a Lanczos block of 8 columns)
BATCHED = [("jacobian", None), ("gn-lanczos", 8), ("fwd-over-rev", None), ("fwd-over-rev", 8)]


class _Tangents(torch.autograd.Function):
    """Identity that reports how many rows (tangents) pass through it, and raises above a limit."""

    limit = 10 ** 9
    seen: list = []

    @staticmethod
    def forward(x):
        _Tangents._check(x.shape[0])
        return x.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def vmap(info, in_dims, x):
        rows = x.movedim(in_dims[0], 0).shape[1] if in_dims[0] is not None else x.shape[0]
        _Tangents._check(info.batch_size * rows)
        return x.clone(), in_dims[0]

    @staticmethod
    def jvp(ctx, t):
        return _Tangents.apply(t)

    @staticmethod
    def backward(ctx, g):
        return _Tangents.apply(g)

    @staticmethod
    def _check(m: int) -> None:
        _Tangents.seen.append(m)
        if m > _Tangents.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory (test: a pass of {m} > {_Tangents.limit})")


class OutOfMemoryAbove(Generator):
    """G(z) = A z on a 4 x 4 image, whose passes of more than ``limit`` tangents raise OutOfMemoryError."""

    def __init__(self, A: torch.Tensor, limit: int):
        super().__init__(name="oom-above", latent_dim=A.shape[1], resolution=4)
        self.register_buffer("A", A)
        self.limit = limit
        self.freeze()

    def _generate(self, z):
        _Tangents.limit = self.limit
        return (_Tangents.apply(z) @ self.A.T).reshape(z.shape[0], 1, 4, 4)


@pytest.fixture
def linear():
    A = torch.randn(16, 10, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    D = ganmetric.load_distance("mse", dtype="float64")
    z = torch.randn(10, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    return A, D, z, 2 * A.T @ A / 16  # the closed form of H


@pytest.fixture(autouse=True)
def _reset_tangent_log():
    _Tangents.seen = []
    yield
    _Tangents.limit = 10 ** 9


def _rel(a, b) -> float:
    return float((torch.as_tensor(a) - torch.as_tensor(b)).norm() / torch.as_tensor(b).norm())


def _top(H, k):
    return torch.linalg.eigvalsh(H).flip(0)[:k]


@pytest.mark.parametrize("method, k", BATCHED)
def test_out_of_memory_pass_is_retried_with_half_the_chunk(linear, method, k):
    """A pass of 8 tangents where only 4 fit: one warning, chunk 4 recorded, H as the closed form (1e-12)."""
    A, D, z, H = linear
    G = OutOfMemoryAbove(A, limit=4)
    with pytest.warns(OutOfMemoryWarning, match="a pass of 8 tangents ran out of memory; retrying with 4") as rec:
        res = ganmetric.metric_tensor(G, D, z, method=method, k=k, chunk=8)
    assert len([w for w in rec if w.category is OutOfMemoryWarning]) == 1  # the smaller chunk is kept
    assert res.options["chunk"] == 4
    assert max(_Tangents.seen) == 8 and max(m for m in _Tangents.seen[_Tangents.seen.index(8) + 1:]) <= 4
    if res.H is not None:
        assert _rel(res.H, H) <= 1e-12
    assert _rel(res.eigvals, _top(H, res.k)) <= 1e-10


def test_retry_halves_down_to_one_then_gives_up(linear):
    """A limit of 1 is reached by halving 8 -> 4 -> 2 -> 1 (three warnings); below that the error is raised."""
    A, D, z, H = linear
    with pytest.warns(OutOfMemoryWarning) as rec:
        res = ganmetric.metric_tensor(OutOfMemoryAbove(A, limit=1), D, z, method="jacobian", chunk=8, probe=False)
    assert [str(w.message).split(": ", 1)[1] for w in rec if w.category is OutOfMemoryWarning] == [
        "a pass of 8 tangents ran out of memory; retrying with 4",
        "a pass of 4 tangents ran out of memory; retrying with 2",
        "a pass of 2 tangents ran out of memory; retrying with 1"]
    assert res.options["chunk"] == 1 and _rel(res.H, H) <= 1e-12
    with pytest.raises(torch.OutOfMemoryError):
        ganmetric.metric_tensor(OutOfMemoryAbove(A, limit=0), D, z, method="jacobian", chunk=8, probe=False)


def test_other_errors_are_not_retried(linear):
    """Only the allocator's out-of-memory errors shrink the chunk; anything else propagates at once."""
    chunks = oom.Chunks(8, "test")
    calls = []

    def fail(i, j):
        calls.append(j - i)
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        chunks.map(fail, 10)
    assert calls == [8] and chunks.size == 8
    assert oom.is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to ..."))
    assert oom.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of chunking. Tried to allocate 2.00 GiB"))
    assert not oom.is_out_of_memory(ValueError("out of memory"))


def test_auto_chunk_fits_the_free_memory_and_block_lanczos_keeps_to_it(linear, monkeypatch):
    """With room for 3 tangents, auto picks 3; block Lanczos (blocks of k = 6) applies them 3 at a time:
    no pass exceeds the bound (the generator would raise), and the top 6 match the closed form."""
    A, D, z, H = linear
    G = OutOfMemoryAbove(A, limit=3)
    measured = chunking.forward_memory(Objective(G, D, z).psi, z[None])
    unbounded = chunking.choose_chunk(measured, "gauss-newton", 10, free=10 ** 12)
    room = unbounded.fixed + chunking.PASS_OVERHEAD + 3.5 * unbounded.per_tangent
    monkeypatch.setattr(chunking, "free_memory", lambda device: int(room / chunking.SAFETY))
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfMemoryWarning)
        res = ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=6)
    assert res.options["chunk"] == 3 and res.meta["chunk_auto"]["per_tangent_mib"] > 0
    assert max(_Tangents.seen) == 3
    assert _rel(res.eigvals, _top(H, 6)) <= 1e-10


@pytest.mark.parametrize("peak_mib, cpu, want", [(1, True, 146), (10, True, 64), (1, False, 1000),
                                                  (10, False, 1000)])
def test_cpu_passes_are_capped_by_bytes_not_below_cpu_max_chunk(peak_mib, cpu, want):
    """On the CPU: as many tangents as fit CPU_PASS_BYTES (3.5 MiB each: 512 // 3.5 = 146), never capped
    below CPU_MAX_CHUNK (35 MiB each: 64); elsewhere only memory bounds it (here all n = 1000 fit)."""
    measured = chunking.ForwardMemory(peak=peak_mib * 2 ** 20, total=2 * peak_mib * 2 ** 20, out=4096)
    assert chunking.COSTS["jacobian"].peak == 3.5 and chunking.COSTS["jacobian"].total == 0
    choice = chunking.choose_chunk(measured, "jacobian", 1000, free=10 ** 13, cpu=cpu)
    assert choice.chunk == want


def test_auto_is_the_default_and_records_what_it_saw(linear):
    """No chunk given: the whole latent in one pass on a tiny model; the meta says why."""
    A, D, z, H = linear
    res = ganmetric.metric_tensor(LinearGenerator(A), D, z, method="jacobian")
    assert res.options["chunk"] == 10
    auto = res.meta["chunk_auto"]
    assert set(auto) == {"per_tangent_mib", "fixed_mib"} and auto["per_tangent_mib"] > 0 and auto["fixed_mib"] > 0
    assert _rel(res.H, H) <= 1e-12
    assert ganmetric.metric_tensor(LinearGenerator(A), D, z, method="jacobian", chunk="auto").options["chunk"] == 10


def test_explicit_integer_chunks_behave_as_before(linear, monkeypatch):
    """An integer is used as given (not measured, not capped at n), the passes hold at most that many."""
    A, D, z, H = linear

    def no_measuring(*args, **kwargs):
        raise AssertionError("an explicit chunk must not measure")

    monkeypatch.setattr(chunking, "forward_memory", no_measuring)
    for chunk in (1, 3, 50):
        _Tangents.seen = []
        res = ganmetric.metric_tensor(OutOfMemoryAbove(A, limit=10 ** 9), D, z, method="jacobian", chunk=chunk,
                                      probe=False)
        assert res.options["chunk"] == chunk and "chunk_auto" not in res.meta
        assert max(_Tangents.seen) == min(chunk, 10)
        assert _rel(res.H, H) <= 1e-12


@pytest.mark.parametrize("chunk, match", [("big", "chunk must be auto or an integer >= 1, got big"),
                                          (0, "chunk must be at least 1, got 0"), (2.5, "chunk must be an integer")])
def test_bad_chunk_names_the_argument(linear, chunk, match):
    A, D, z, _ = linear
    with pytest.raises(InputError, match=match) as info:
        ganmetric.metric_tensor(LinearGenerator(A), D, z, chunk=chunk)
    assert info.value.argument == "chunk"


def test_unknown_free_memory_falls_back_to_a_fixed_chunk(linear, monkeypatch):
    A, D, z, _ = linear
    monkeypatch.setattr(chunking, "free_memory", lambda device: None)
    assert chunking.free_memory is not None
    res = ganmetric.metric_tensor(LinearGenerator(A), D, z, method="jacobian")
    assert res.options["chunk"] == min(10, chunking.DEFAULT_CHUNK) and "chunk_auto" in res.meta


def test_free_memory_of_the_cpu_is_read():
    free = chunking.free_memory("cpu")
    total = None
    try:
        total = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal:")).split()[1]) * 1024
    except OSError:
        pass
    assert free is None or (0 < free and (total is None or free <= total))
    assert chunking.free_memory("meta") is None


def test_measured_forward_counts_new_tensors_not_views():
    """New storages are counted once, views and in-place results not at all, and freed tensors leave the live count."""
    lin = torch.nn.Linear(4, 1000, dtype=torch.float64)

    def fn(x):
        y = lin(x).view(10, 100)   # 1000 float64 = 8000 bytes, and a view of them (nothing new)
        y.mul_(2.0)                # in place: nothing new
        t = y * y                  # 8000 more
        s = t.sum(dim=1)           # 80 more: 16080 alive
        del t                      # 8080 alive
        return torch.cat([y.flatten(), y.flatten(), s])  # 16080 more: 24160 alive at the end

    m = chunking.forward_memory(fn, torch.ones(1, 4, dtype=torch.float64))
    assert (m.total, m.peak, m.out) == (8000 + 8000 + 80 + 16080, 8080 + 16080, 16080)


def test_batch_resumes_a_folder_across_chunks(tmp_path, linear):
    """The chunk is not part of a batch's identity: a folder made with chunk 5 resumes under auto."""
    A, D, z, _ = linear
    G = LinearGenerator(A)
    codes = torch.randn(3, 10, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    first = ganmetric.batch_metric(G, D, codes[:2], tmp_path / "b", method="jacobian", chunk=5)
    again = ganmetric.batch_metric(G, D, codes, tmp_path / "b", method="jacobian")
    assert (first.computed, again.computed, again.skipped) == (2, 1, 2)
    assert ganmetric.load_result(tmp_path / "b" / "point_00002.npz").meta["chunk"] == 10


@pytest.mark.pretrained("dcgan-face")
@pytest.mark.perf  # chunk == 100 depends on the free RAM
def test_cli_chunk_accepts_auto_or_an_integer(tmp_path):
    from ganmetric_cli.main import main
    out = tmp_path / "face.npz"
    r = CliRunner().invoke(main, ["hessian", "--model", "dcgan-face", "--distance", "mse", "--chunk", "auto",
                                  "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    meta = ganmetric.load_result(out).meta
    # all 100 in one pass: 1.75 MiB a tangent is far below CPU_PASS_BYTES for 100
    assert meta["chunk"] == 100 and 0 < meta["chunk_auto"]["per_tangent_mib"] * 100 * 2 ** 20 < chunking.CPU_PASS_BYTES
    r = CliRunner().invoke(main, ["hessian", "--model", "dcgan-face", "--chunk", "lots", "--out", str(out), "-q"])
    assert r.exit_code != 0 and "Invalid value for '--chunk': must be auto or an integer, got lots" in r.output
    assert "Traceback" not in r.output


@pytest.mark.slow  # a fresh process, three dcgan-face passes of 64 tangents (about 5 s)
@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's resettable peak RSS")
@pytest.mark.parametrize("method", ["jacobian", "gn-lanczos"])
@pytest.mark.perf  # a measured RSS ratio: machine-dependent
def test_estimate_is_at_or_above_the_measured_peak_on_cpu(method):
    """Passes of 64 tangents through dcgan-face + mse, in a fresh process: the estimate auto uses for them
    is not below the measured rise of the resident set (VmHWM after a reset, minus VmRSS before,
    the least of 3 passes; glibc's mmap threshold fixed at 128 KiB, so that big blocks go back to
    the kernel when freed and RSS follows what torch holds), and not wastefully above it:
    1 <= estimate / measured <= 4. The multipliers are the largest measured over five models; dcgan-face
    + mse is the lightest of them since its BatchNorms are folded and the Gauss-Newton pullback uses plain
    autograd (measured 2.3 for jacobian, 3.3 for gn-lanczos)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_auto_chunk.py"), "--one", "dcgan-face",
                          method, "--max-chunk", "64", "--repeats", "3"], capture_output=True, text=True,
                         env=subprocess_env(MALLOC_MMAP_THRESHOLD_="131072"), timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["pass_chunk"] == 64 and r["measured_mib"] > 20  # a pass big enough to rise above the noise
    assert 1.0 <= r["estimate_mib"] / r["measured_mib"] <= 4.0, r
