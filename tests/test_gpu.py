"""The first-GPU smoke test (marker ``gpu``; skipped without CUDA): what only a real GPU can show.

Run with ``python -m pytest -q -m "gpu and not network"`` (benchmarks/RESULTS.md, "to run on the
first lent GPU", has the whole prepared command). It checks, on CUDA: exact float32 products
(TF32 off) against a float64 CPU reference, bench_gpu.py's quick cases and thresholds, a seeded
``stylegan2-demo`` ``w`` batch that grows and draws the CPU's codes, the caller's RNG and peak
statistic left alone, and, where two GPUs exist, a 2-rank NCCL batch equal to one process.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.analysis import batch_codes, point_name
from helpers import ROOT, TinyConvGenerator, subprocess_env

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda", 0)


def test_float32_products_on_cuda_are_exact_with_tf32_on_by_the_user():
    """The user turned TF32 on; the metric still matches a float64 CPU reference to float32 accuracy,
    block Lanczos converges to its float32 tolerance, and the user's settings are back afterwards."""
    saved = torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision
    torch.backends.cudnn.conv.fp32_precision = torch.backends.cuda.matmul.fp32_precision = "tf32"
    try:
        G = ganmetric.load_generator("stylegan2-demo", device="cuda")
        D = ganmetric.load_distance("lpips-alex", lpips_backbone="random", resize=64, device="cuda")
        z = G.sample(1, seed=0)
        full = ganmetric.metric_tensor(G, D, z, method="jacobian")
        top = ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=8)
        ref = ganmetric.metric_tensor(G.cpu().double(), D.cpu().double(), z.cpu().double(), method="jacobian")
        assert torch.backends.cudnn.conv.fp32_precision == "tf32"  # restored
    finally:
        torch.backends.cudnn.conv.fp32_precision, torch.backends.cuda.matmul.fp32_precision = saved
    H, H_ref = full.H.double().cpu(), ref.H
    assert float((H - H_ref).norm() / H_ref.norm()) < 1e-5
    assert top.converged and full.meta["float32_precision"]["cudnn.conv"] == "ieee"
    rel = (top.eigvals.double().cpu() - ref.eigvals[:8]).abs().max() / ref.eigvals[0]
    assert float(rel) < 1e-5


def test_bench_gpu_quick_on_cuda_meets_its_thresholds(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "bench_gpu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = bench.main(["--quick", "--device", "cuda", "--out", str(tmp_path)])
    assert report["threshold_failures"] == [], report


def test_a_seeded_stylegan2_w_batch_grows_on_cuda_with_the_cpus_codes(tmp_path):
    G = ganmetric.load_generator("stylegan2-demo", latent_space="w", device="cuda")
    D = ganmetric.load_distance("mse", device="cuda")
    out = tmp_path / "b"
    solver = dict(method="gn-lanczos", k=2, max_iter=8)
    ganmetric.batch_metric(G, D, batch_codes(G, 2, seed=5, out_dir=out), out, seed=5, **solver)
    grown = batch_codes(G, 4, seed=5, out_dir=out)  # refused before: cuBLAS rows depended on the batch size
    s = ganmetric.batch_metric(G, D, grown, out, seed=5, **solver)
    assert (s.computed, s.skipped) == (2, 2)
    cpu = ganmetric.load_generator("stylegan2-demo", latent_space="w").sample(4, seed=5).numpy()
    assert np.array_equal(grown, cpu.astype(np.float64))


def test_loading_and_measuring_leave_the_callers_cuda_state_alone():
    torch.cuda.manual_seed_all(1234)
    rng = torch.cuda.get_rng_state_all()
    big = torch.empty(256 * 2 ** 20, dtype=torch.uint8, device=CUDA)  # a peak of the caller's, then freed
    del big
    peak = torch.cuda.max_memory_allocated(CUDA)
    G = ganmetric.load_generator("dcgan-face", pretrained=False, device="cuda")
    ganmetric.metric_tensor(G, ganmetric.load_distance("mse", device="cuda"), G.sample(1), method="gn-lanczos", k=2,
                            max_iter=4, chunk="auto")
    assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), rng))
    assert torch.cuda.max_memory_allocated(CUDA) >= peak  # the statistic was not reset under the caller


MODULE = '''
from helpers import TinyConvGenerator


def make():
    return TinyConvGenerator(n=8, res=16)
'''


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_ranks_with_nccl_match_one_process(tmp_path):
    (tmp_path / "gm_gpu_model.py").write_text(MODULE)
    env = subprocess_env(PYTHONPATH=f"{tmp_path}:{ROOT / 'tests'}:{ROOT}:{ROOT / 'cli'}")
    args = ["-m", "ganmetric_cli", "batch", "--model", "gm_gpu_model:make", "--distance", "mse", "--device", "cuda",
            "--points", "6", "--method", "jacobian", "-q"]
    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args,
                          "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "on 2 process(es)" in two.stdout
    for i in range(6):
        a = ganmetric.load_result(tmp_path / "one" / point_name(i))
        b = ganmetric.load_result(tmp_path / "two" / point_name(i))
        np.testing.assert_allclose(b.H, a.H, rtol=1e-5, atol=1e-7)
        assert b.meta["device"] in ("cuda:0", "cuda:1")


def test_the_tiny_generator_gives_the_same_metric_on_cuda_as_on_the_cpu():
    G = TinyConvGenerator(n=6, res=16)
    D = ganmetric.load_distance("mse")
    z = G.sample(1, seed=0)
    cpu = ganmetric.metric_tensor(G, D, z)
    gpu = ganmetric.metric_tensor(G.to("cuda"), D.to("cuda"), z)
    np.testing.assert_allclose(gpu.H.cpu().numpy(), cpu.H.numpy(), rtol=1e-4, atol=1e-6)


def test_results_and_codes_on_cuda_feed_numpy_and_the_cpu_side_workflows(tmp_path):
    """export_axes and compare of an in-memory CUDA result, compress with a CUDA centre."""
    G = TinyConvGenerator(n=6, res=16).to("cuda")
    D = ganmetric.load_distance("mse", device="cuda")
    z = G.sample(2, seed=0)
    res = ganmetric.metric_tensor(G, D, z[:1])
    assert res.eigvecs.device.type == "cuda"
    axes = ganmetric.export_axes(res, top=3)
    np.testing.assert_allclose(axes.eigvals, res.eigvals[:3].cpu().numpy())
    sefa = ganmetric.axes.sefa_directions(G, k=3, weight=G.fc.weight)
    assert len(ganmetric.axes.compare_directions(res, [sefa], k=3).rows) == 3
    comp = ganmetric.analysis.compress(G, D, res, G.sample(4, seed=1), [1, 3], center=z[1], random_bases=1,
                                       montage_samples=1)
    assert comp.rows and comp.meta["center"] == "given"
