"""Cost of the metric of NVIDIA's StyleGAN2-ADA and StyleGAN3-T at 256 px (random weights, real config sizes) in w.

The networks are ganmetric's own rebuilds of NVIDIA's (``ganmetric.generators.nvidia``), at
the sizes of NVIDIA's 256 px configurations: StyleGAN2-ADA ``paper256`` (z = w = 512, 8
mapping layers, channel_base 16384, channel_max 512, 14 styles, 24.8 M parameters) and
StyleGAN3-T as ``stylegan3-t-ffhqu-256x256`` (``--cbase=16384``: z = w = 512, 2 mapping
layers, 16 styles, 23.3 M parameters); NVIDIA's random initialisation, float32, pixel MSE,
latent space ``w`` (n = 512), one point.

For each model: one forward pass, then ``gn-lanczos`` top-k: its set-up (one vjp graph) and
one Gauss-Newton product are timed, and the whole is run when the estimate (set-up + at most
``max_iter + k`` products) fits ``--budget`` seconds (``--full`` runs it whatever it costs).
``--cold`` also starts a fresh process per model that times the same unit twice (the
``gn-lanczos`` set-up and one Gauss-Newton product: the difference is the first call's one-off
cost) and says whether ``torch._dynamo`` was imported.

Run under the benchmark lock on shared machines::

    flock /tmp/bench.lock python benchmarks/bench_nvidia.py --cold
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ganmetric  # noqa: E402
from ganmetric.generators.nvidia import random_nvidia_generator  # noqa: E402
from ganmetric.hessian.operators import GaussNewtonOperator, Objective  # noqa: E402

#: NVIDIA's 256 px configurations (the arguments of their Generator)
CONFIGS = {
    "stylegan2": dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
                      mapping_kwargs=dict(num_layers=8),
                      synthesis_kwargs=dict(channel_base=16384, channel_max=512, num_fp16_res=4, conv_clamp=256)),
    "stylegan3": dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
                      mapping_kwargs=dict(num_layers=2), channel_base=16384, channel_max=512, num_fp16_res=4,
                      conv_clamp=256, magnitude_ema_beta=0.5 ** (32 / 20000)),
}

COLD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import ganmetric
import torch
from ganmetric.generators.nvidia import random_nvidia_generator
from ganmetric.hessian.operators import GaussNewtonOperator, Objective
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from bench_nvidia import CONFIGS
t_import = time.perf_counter() - t0
G = random_nvidia_generator(sys.argv[2], CONFIGS[sys.argv[2]], seed=0)
D = ganmetric.load_distance("mse")
w = G.sample(1, seed=0)
v = torch.randn(G.latent_dim, generator=torch.Generator(device="cpu").manual_seed(0), device="cpu")
times = []
for _ in range(2):  # the same unit twice: the gn-lanczos set-up (one vjp graph) and one Gauss-Newton product
    t = time.perf_counter()
    GaussNewtonOperator(Objective(G, D, w[0])).matvec(v / v.norm())
    times.append(time.perf_counter() - t)
print(json.dumps({"import": t_import, "first": times[0], "second": times[1],
                  "dynamo": "torch._dynamo" in sys.modules}))
"""


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def bench(arch: str, args) -> None:
    t0 = time.perf_counter()
    G = random_nvidia_generator(arch, CONFIGS[arch], seed=0)
    D = ganmetric.load_distance("mse")
    print(f"# {G.name}: {G.resolution} px, w (n = {G.latent_dim}), {G.num_ws} styles, "
          f"{sum(p.numel() for p in G.parameters()) / 1e6:.1f} M parameters, float32, cpu; build "
          f"{time.perf_counter() - t0:.1f} s")
    w = G.sample(1, seed=0)
    with torch.no_grad():
        G(w)
        t = time.perf_counter()
        G(w)
    print(f"forward, 1 code: {time.perf_counter() - t:.2f} s   peak {peak_mb():.0f} MB")
    k = args.k
    max_iter = min(G.latent_dim, max(3 * k, k + 30))  # the Lanczos default: an upper bound on products
    t = time.perf_counter()
    op = GaussNewtonOperator(Objective(G, D, w[0]))
    t_setup = time.perf_counter() - t
    v = torch.randn(G.latent_dim, generator=torch.Generator(device="cpu").manual_seed(0), device="cpu")
    t = time.perf_counter()
    op.matvec(v / v.norm())
    t_prod = time.perf_counter() - t
    est = t_setup + (max_iter + k) * t_prod
    print(f"gn-lanczos: set-up {t_setup:.2f} s, one product (jvp + vjp) {t_prod:.2f} s   peak {peak_mb():.0f} MB")
    if args.full or est <= args.budget:
        res = ganmetric.metric_tensor(G, D, w, method="gn-lanczos", k=k, probe=False)
        print(f"gn-lanczos top-{k}: {res.seconds:.1f} s measured ({res.n_products} products, converged="
              f"{res.converged}); top eigenvalues {', '.join(f'{v:.3g}' for v in res.eigvals[:5].tolist())}   "
              f"peak {peak_mb():.0f} MB")
    else:
        print(f"gn-lanczos top-{k}: <= {est:.0f} s est. (set-up + at most {max_iter} Lanczos products + {k} for the "
              f"residuals, x {t_prod:.2f} s; over the {args.budget:.0f} s budget, not run)")


def cold(arch: str) -> None:
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run([sys.executable, "-c", COLD, root, arch], capture_output=True, text=True)
    if proc.returncode:
        print(f"cold {arch}: failed: {proc.stderr.strip().splitlines()[-1:]}")
        return
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"cold {arch} (fresh process; gn-lanczos set-up + one product): import {r['import']:.2f} s, first "
          f"{r['first']:.2f} s, second {r['second']:.2f} s (one-off cost {r['first'] - r['second']:+.2f} s); "
          f"torch._dynamo imported: {'yes' if r['dynamo'] else 'no'}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["stylegan2", "stylegan3", "both"], default="both")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--budget", type=float, default=900.0, help="seconds gn-lanczos may take to run for real")
    ap.add_argument("--full", action="store_true", help="run gn-lanczos to the end whatever it costs")
    ap.add_argument("--cold", action="store_true", help="also time the first call in a fresh process")
    args = ap.parse_args(argv)
    cpu = platform.processor() or platform.machine()
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu}")
    for arch in (("stylegan2", "stylegan3") if args.arch == "both" else (args.arch,)):
        bench(arch, args)
        if args.cold:
            cold(arch)


if __name__ == "__main__":
    main()
