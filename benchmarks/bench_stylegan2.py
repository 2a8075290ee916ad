"""Cost of the metric of a StyleGAN2 generator (random weights) in w: jacobian and gn-lanczos top-k.

Default: rosinality's FFHQ-256 architecture (style_dim 512, 8 mapping layers, channel
multiplier 2, 14 styles), float32, pixel MSE. On a small CPU a full 512-column Jacobian at
256 px takes far longer than a benchmark run should, so by default each method is run
for real only where it fits ``--budget`` seconds; otherwise the script measures the unit
it is made of (one batched jvp chunk of ``--chunk`` columns; the Lanczos set-up plus one
Gauss-Newton product) and prints the extrapolated total, marked "est.". ``--full`` runs
both methods to the end whatever they cost (a GPU, or a patient CPU).

Peak memory is the process's maximum resident set size (``ru_maxrss``), which covers
torch's allocations (tracemalloc does not); on CUDA, ``torch.cuda.max_memory_allocated``.

Run under the benchmark lock on shared machines::

    flock /tmp/bench.lock python benchmarks/bench_stylegan2.py
"""
from __future__ import annotations

import argparse
import math
import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ganmetric  # noqa: E402
from ganmetric.generators.stylegan2 import StyleGAN2Generator  # noqa: E402
from ganmetric.generators.stylegan2_layers import StyleGAN2Network, rosinality_channels  # noqa: E402
from ganmetric.hessian import GaussNewtonOperator, Objective  # noqa: E402


def peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(device, dtype):
    """One tiny metric per method first, so that one-off costs (imports, first torch.func
    use) do not land in the per-chunk timings below."""
    tiny = StyleGAN2Generator(StyleGAN2Network(channels=[8, 8], style_dim=8, n_mlp=1), latent_space="w")
    tiny = tiny.to(device=device, dtype=dtype).freeze()
    D = ganmetric.load_distance("mse", device=device, dtype=str(dtype).replace("torch.", ""))
    for method in ("jacobian", "gn-lanczos"):
        ganmetric.metric_tensor(tiny, D, tiny.sample(1), method=method, k=2, chunk=4)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--style-dim", type=int, default=512)
    ap.add_argument("--n-mlp", type=int, default=8)
    ap.add_argument("--channel-multiplier", type=int, default=2)
    ap.add_argument("--space", default="w", choices=["z", "w", "w+"])
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--chunk", type=int, default=4, help="jacobian: columns per batched jvp pass")
    ap.add_argument("--budget", type=float, default=150.0, help="seconds a method may take to run for real")
    ap.add_argument("--full", action="store_true", help="run both methods to the end")
    ap.add_argument("--only", choices=["jacobian", "gn-lanczos"], default=None, help="measure one method only")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    warm_up(device, dtype)
    t0 = time.perf_counter()
    net = StyleGAN2Network(channels=rosinality_channels(args.size, args.channel_multiplier),
                           style_dim=args.style_dim, n_mlp=args.n_mlp)
    G = StyleGAN2Generator(net, name=f"stylegan2-random-{args.size}", latent_space=args.space)
    G = G.to(device=device, dtype=dtype).freeze()
    D = ganmetric.load_distance("mse", device=device, dtype=args.dtype)
    n = G.latent_dim
    print(f"# StyleGAN2 {args.size} px, style_dim {args.style_dim}, space {args.space} (n = {n}), "
          f"{sum(p.numel() for p in G.parameters()) / 1e6:.1f} M parameters, {args.dtype}, {device}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"build: {time.perf_counter() - t0:.1f} s")
    w = G.sample(1, seed=0)

    with torch.no_grad():
        G(w)  # warm-up
        sync(device)
        t = time.perf_counter()
        G(w)
        sync(device)
    t_fwd = time.perf_counter() - t
    print(f"forward, 1 code: {t_fwd:.2f} s   peak {peak_mb(device):.0f} MB")

    obj = Objective(G, D, w[0])
    if args.only != "gn-lanczos":
        bench_jacobian(args, G, D, w, obj, n, device, dtype)
    if args.only != "jacobian":
        bench_lanczos(args, G, D, w, obj, n, device, dtype)
    print(f"peak memory: {peak_mb(device):.0f} MB")


def bench_jacobian(args, G, D, w, obj, n, device, dtype):
    """Full H = 2 J^T J: one timed chunk, then the whole if it fits the budget."""
    eye = torch.eye(n, device=device, dtype=dtype)
    sync(device)
    t = time.perf_counter()
    obj.jvp(obj.psi, eye[:args.chunk])
    sync(device)
    t_chunk = time.perf_counter() - t
    est_jac = t_chunk * math.ceil(n / args.chunk)
    print(f"jacobian: one chunk of {args.chunk} columns {t_chunk:.2f} s   peak {peak_mb(device):.0f} MB")
    if args.full or est_jac <= args.budget:
        res = ganmetric.metric_tensor(G, D, w, method="jacobian", chunk=args.chunk, probe=False)
        print(f"jacobian: {res.seconds:.1f} s (measured, {n} columns)   peak {peak_mb(device):.0f} MB")
    else:
        print(f"jacobian: {est_jac:.0f} s est. ({math.ceil(n / args.chunk)} chunks x {t_chunk:.2f} s; over the "
              f"{args.budget:.0f} s budget, not run)")


def bench_lanczos(args, G, D, w, obj, n, device, dtype):
    """Top k by Lanczos on Gauss-Newton products: set-up and one product timed, then the whole if it fits."""
    k = min(args.k, n)
    max_iter = min(n, max(3 * k, k + 30))  # the Lanczos default: an upper bound on products
    sync(device)
    t = time.perf_counter()
    op = GaussNewtonOperator(obj)
    sync(device)
    t_setup = time.perf_counter() - t
    v = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(device=device, dtype=dtype)
    t = time.perf_counter()
    op.matvec(v / v.norm())
    sync(device)
    t_prod = time.perf_counter() - t
    est_lz = t_setup + (max_iter + k) * t_prod  # Lanczos steps, then k products for the residuals
    print(f"gn-lanczos: set-up (one vjp graph) {t_setup:.2f} s, one product (jvp + vjp) {t_prod:.2f} s   "
          f"peak {peak_mb(device):.0f} MB")
    if args.full or est_lz <= args.budget:
        res = ganmetric.metric_tensor(G, D, w, method="gn-lanczos", k=k, probe=False)
        print(f"gn-lanczos top-{k}: {res.seconds:.1f} s (measured, {res.n_products} products, "
              f"converged={res.converged})   peak {peak_mb(device):.0f} MB")
    else:
        print(f"gn-lanczos top-{k}: <= {est_lz:.0f} s est. (set-up + at most {max_iter} Lanczos products + {k} "
              f"for the residuals; over the "
              f"{args.budget:.0f} s budget, not run)")


if __name__ == "__main__":
    main()
