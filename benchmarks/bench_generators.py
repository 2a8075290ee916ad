"""Cost of the metric for BigGAN-deep-128 (full-size architecture, random weights) on this CPU.

Run under the benchmark lock:  flock /tmp/bench.lock python benchmarks/bench_generators.py

Measures, float32, MSE distance (the generator dominates; LPIPS adds its backbone):
- one forward pass (batch 1);
- ``jacobian`` in the 256-d ``full`` latent: by default ``--cols`` columns of J are timed
  through the public API (a generator restricted to ``--cols`` coordinates of the full
  latent, the rest fixed: each column costs exactly what it costs inside the 256-d
  Jacobian) and the time is scaled to 256 columns; ``--full-jacobian`` runs the whole
  ``metric_tensor(method="jacobian", chunk=...)``;
- ``gn-lanczos`` top 20: ``--products`` Gauss-Newton products H v = 2 J^T (J v) are timed
  (each is one jvp + one vjp); ``--full-lanczos`` runs ``metric_tensor(method="gn-lanczos",
  k=20)`` and reports its product count;
- peak resident memory of the process after each stage (ru_maxrss, monotone).

Each of the default run, ``--full-lanczos`` and ``--full-jacobian`` takes about 2-5 min on
one thread here (the project's rule: benchmark runs on the shared machine stay under ~5 min),
so run them separately.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ganmetric  # noqa: E402
from ganmetric.generators.base import Generator, cpu_init_seed  # noqa: E402
from ganmetric.generators.biggan import BigGANGenerator  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def random_biggan_128(seed: int = 0):
    """BigGAN-deep-128's architecture (the package's default config) with sane random weights."""
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig
    with cpu_init_seed(seed):  # the package initialises from the global CPU RNG (restored; CUDA's untouched)
        model = BigGAN(BigGANConfig())
    with torch.no_grad():
        model.generator.bn.weight.fill_(1.0)  # left uninitialised by the package
        model.generator.bn.bias.zero_()
        for m in model.modules():  # converged spectral-norm vectors (top singular pair)
            if hasattr(m, "weight_orig") and hasattr(m, "weight_u"):
                W = m.weight_orig.reshape(m.weight_orig.shape[0], -1)
                U, S, Vh = torch.linalg.svd(W, full_matrices=False)
                m.weight_u.copy_(U[:, 0])
                m.weight_v.copy_(Vh[0])
            if hasattr(m, "gamma"):
                m.gamma.fill_(0.5)
    return model.eval()


class Slice(Generator):
    """G restricted to the first ``m`` coordinates of its latent; the others fixed at z0."""

    def __init__(self, G: Generator, z0: torch.Tensor, m: int):
        super().__init__(name=f"{G.name}[:{m}]", latent_dim=m, resolution=G.resolution)
        self.G = G
        self.register_buffer("rest", z0[0, m:].clone())
        self.freeze()

    def _generate(self, z):
        return self.G(torch.cat([z, self.rest.expand(z.shape[0], -1)], dim=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a loaded machine)")
    ap.add_argument("--cols", type=int, default=16, help="Jacobian columns timed (scaled to 256)")
    ap.add_argument("--chunk", type=int, default=16, help="codes per batched pass")
    ap.add_argument("--products", type=int, default=4, help="Gauss-Newton products timed")
    ap.add_argument("--full-jacobian", action="store_true", help="run the complete 256-d jacobian")
    ap.add_argument("--full-lanczos", action="store_true", help="run the complete gn-lanczos top-20")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, float32, distance mse")

    t = time.perf_counter()
    G = BigGANGenerator(random_biggan_128(), name="biggan-deep-128(random)", latent_space="full", class_index=1)
    D = ganmetric.load_distance("mse")
    z0 = G.sample(1, seed=0)
    print(f"build: {time.perf_counter() - t:.1f} s, {sum(p.numel() for p in G.parameters()) / 1e6:.1f} M params, "
          f"n = {G.latent_dim}, peak RSS {peak_mb():.0f} MB")

    with torch.no_grad():
        G(z0)
        t = time.perf_counter()
        G(z0)
        fwd = time.perf_counter() - t
    print(f"forward (batch 1): {fwd:.2f} s, peak RSS {peak_mb():.0f} MB")

    if args.full_jacobian:
        res = ganmetric.metric_tensor(G, D, z0, method="jacobian", chunk=args.chunk, progress=True)
        jac = res.seconds
        print(f"jacobian (full H, 256 x 256, chunk {args.chunk}): {jac:.1f} s, peak RSS {peak_mb():.0f} MB")
    else:
        S = Slice(G, z0, args.cols)
        ganmetric.metric_tensor(Slice(G, z0, 2), D, z0[:, :2], method="jacobian")  # warm-up (functorch set-up)
        res = ganmetric.metric_tensor(S, D, z0[:, :args.cols], method="jacobian", chunk=args.chunk)
        jac = res.seconds * G.latent_dim / args.cols
        print(f"jacobian: {args.cols} columns in {res.seconds:.1f} s (chunk {args.chunk}) -> 256-d full H "
              f"~{jac:.0f} s (scaled), peak RSS {peak_mb():.0f} MB")

    if args.full_lanczos:
        res = ganmetric.metric_tensor(G, D, z0, method="gn-lanczos", k=20, chunk=args.chunk, progress=True)
        print(f"gn-lanczos top-20: {res.seconds:.1f} s, {res.n_products} products, converged {res.converged}, "
              f"peak RSS {peak_mb():.0f} MB")
        gn = res.seconds
    else:
        from ganmetric.hessian import GaussNewtonOperator, Objective
        op = GaussNewtonOperator(Objective(G, D, z0[0]), args.chunk)
        v = torch.randn(G.latent_dim, generator=torch.Generator().manual_seed(0))
        op.matvec(v)  # warm-up
        t = time.perf_counter()
        for _ in range(args.products):
            op.matvec(v)
        per = (time.perf_counter() - t) / args.products
        gn = per
        print(f"gn-lanczos: one product H v = 2 J^T (J v): {per:.2f} s ({per / fwd:.1f} forwards); a top-20 run "
              f"needs at least 21 products (--full-lanczos counts them), peak RSS {peak_mb():.0f} MB")
    print(f"ratio jacobian / {'gn-lanczos top-20' if args.full_lanczos else 'one GN product'}: {jac / gn:.1f}")


if __name__ == "__main__":
    main()
