"""The paper's spectrum statistic for StyleGAN (1) and BigBiGAN with random weights at their real size.

Wang & Ponce (ICLR 2021) summarise a metric's anisotropy by how many eigen-directions hold 99%
of its trace. This script builds each generator at its published architecture with seeded
random weights (``seeded_random_``: rosinality's StyleGAN, 26 M parameters, 512-d; BigBiGAN's
BigGAN-PyTorch generator, 70 M parameters, 120-d, BatchNorm statistics of one batch), takes the
metric at one sampled point with ``--method`` (``jacobian``: the full H, so the trace and the
statistic are exact; ``gn-lanczos``: the top ``--k``, with the statistic relative to their sum)
and prints the time, the anisotropy counts and the peak memory (``ru_maxrss``), and writes the
result file when ``--out`` is given.

``--tiny --repeat 2`` measures the cold start instead: a narrow copy of the architecture (so
that the computation itself is small), the first and the second metric of a fresh process,
and whether the first imported ``torch._dynamo`` (a Python decomposition under ``vmap(jvp)``);
``--plain-ops`` runs the layers' biased linear maps and constant additions as plain ``F.linear``
and ``x + c`` instead (what the tangent-safe ops of ``generators/fast_layers.py`` save).

Run under the benchmark lock on shared machines::

    flock /tmp/bench.lock python benchmarks/bench_stylegan1_bigbigan.py --model stylegan1 --space w
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ganmetric  # noqa: E402
from ganmetric.generators.bigbigan import BigBiGANGenerator  # noqa: E402
from ganmetric.generators.bigbigan_layers import BIGBIGAN_ARCHITECTURE, BigGANPyTorchNetwork  # noqa: E402
from ganmetric.generators.bigbigan_layers import seeded_random_ as random_biggan_  # noqa: E402
from ganmetric.generators.stylegan1 import StyleGAN1Generator  # noqa: E402
from ganmetric.generators.stylegan1_layers import ROSINALITY_CHANNELS, StyledGenerator, seeded_random_  # noqa: E402
from ganmetric.linalg import THRESHOLDS, anisotropy_counts  # noqa: E402


def build(model: str, space: str, resolution: int, seed: int, tiny: bool = False):
    """The generator at its published size (or narrow: 8 channels, 16-d) with seeded random weights."""
    if model == "bigbigan":
        arch = dict(BIGBIGAN_ARCHITECTURE, channels=[8, 8, 8, 8, 8, 8], z_chunk=4, shared_dim=8) if tiny \
            else BIGBIGAN_ARCHITECTURE
        G = BigBiGANGenerator(random_biggan_(BigGANPyTorchNetwork(**arch), seed), name="bigbigan")
    else:
        size = dict(channels=[8] * 9, style_dim=16) if tiny else dict(channels=ROSINALITY_CHANNELS, style_dim=512)
        G = StyleGAN1Generator(seeded_random_(StyledGenerator(**size), seed), latent_space=space, resolution=resolution,
                               truncation=0.7)
    G.weights = {"source": "random", "seed": seed}  # what the result file records
    return G


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["stylegan1", "bigbigan"], default="stylegan1")
    ap.add_argument("--space", choices=["z", "w", "w+"], default="w", help="stylegan1's latent space")
    ap.add_argument("--resolution", type=int, default=256, help="stylegan1's resolution (the paper's: 256)")
    ap.add_argument("--method", choices=["jacobian", "gn-lanczos"], default="jacobian")
    ap.add_argument("--k", type=int, default=20, help="gn-lanczos: eigenpairs")
    ap.add_argument("--chunk", type=int, default=None, help="tangents per pass (default: auto)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    ap.add_argument("--point-seed", type=int, default=0, help="seed of the point (G.sample)")
    ap.add_argument("--out", default=None, help="write the result file here")
    ap.add_argument("--tiny", action="store_true", help="a narrow copy (8 channels, 16-d codes) for --repeat")
    ap.add_argument("--repeat", type=int, default=1, help="run the metric this many times, each timed")
    ap.add_argument("--plain-ops", action="store_true", help="F.linear and x + c instead of the tangent-safe ops")
    args = ap.parse_args(argv)

    if args.plain_ops:
        import torch.nn.functional as F

        from ganmetric.generators import bigbigan_layers, stylegan1_layers
        for module in (stylegan1_layers, bigbigan_layers):
            module.linear = F.linear
        stylegan1_layers.add_constant = torch.add
    t = time.perf_counter()
    G = build(args.model, args.space, args.resolution, args.seed, args.tiny)
    print(f"{G.name} [{G.latent_space}, n={G.latent_dim}, {G.resolution} px], "
          f"{sum(p.numel() for p in G.parameters()) / 1e6:.1f} M parameters, built in {time.perf_counter() - t:.1f} s; "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    D = ganmetric.load_distance("mse")
    z = G.sample(1, seed=args.point_seed)
    with torch.no_grad():
        G(z)  # warm-up
        t = time.perf_counter()
        G(z)
        print(f"forward, 1 code: {time.perf_counter() - t:.2f} s")
    dynamo_before = "torch._dynamo" in sys.modules
    for i in range(args.repeat):
        t = time.perf_counter()
        res = ganmetric.metric_tensor(G, D, z[0], method=args.method,
                                      k=args.k if args.method == "gn-lanczos" else None, chunk=args.chunk or "auto")
        seconds = time.perf_counter() - t
        if args.repeat > 1:
            print(f"metric {i + 1}: {seconds:.2f} s")
    if args.repeat > 1:
        print(f"torch._dynamo imported: before the first metric {dynamo_before}, after "
              f"{'torch._dynamo' in sys.modules}")
    vals = res.eigvals.detach().cpu().double().numpy() if hasattr(res.eigvals, "detach") else res.eigvals
    counts = anisotropy_counts(vals)
    what = "the trace" if args.method == "jacobian" else f"the top-{args.k} sum"
    print(f"{args.method}: {seconds:.1f} s; top eigenvalues {', '.join(f'{v:.4g}' for v in vals[:5])}")
    print("eigen-directions holding " + ", ".join(f"{t:g}: {c}" for t, c in zip(THRESHOLDS, counts))
          + f" of {what} (n = {G.latent_dim})")
    print(f"peak memory (RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20:.2f} GB")
    if args.out:
        ganmetric.save_result(args.out, res)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
