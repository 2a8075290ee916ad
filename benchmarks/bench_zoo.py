"""The paper's other generators at real size with random weights: spectrum statistic, and HessCMA on DeePSim fc6.

1. **Spectrum** (the paper's statistic: how many eigen-directions hold 99% of the trace) of
   the mse metric at one prior sample (seed 0) of
   - ``gan-zoo-dcgan``: the FashionGen DCGAN's size (120-d, dimG 64, depth 3, 64 px);
   - ``pggan``: the celebA-HQ 256 PGGAN's size (512-d, scales 512, 512, 512, 512, 256, 128, 64);
   - ``deepsim`` fc6 (4096-d, 256 px, the authors' fixed architecture).
   The full H (``jacobian``) where n forward-mode passes fit in ``--full-budget`` seconds
   (estimated from a timed pass of 8 tangents), else the top ``--k`` by ``gn-lanczos`` and
   the trace by Hutchinson's estimator (``--probes`` Rademacher vectors, one batched pass:
   ``tr H = E[v^T H v]``), so the 99% count is known only if the top k reach it.
2. **HessCMA** (``ganmetric optimize``'s methods) on DeePSim fc6: random search, CMA-ES and
   Hessian-aware CMA-ES (p = 0 and 0.5) in the top ``--top`` eigenvectors of the fc6 metric above, maximising
   channels of AlexNet conv2 with seeded random weights, same seeds and starting points, the
   same budget of scored images.

Random weights follow the reference fixtures' recipe (``../shared/fixtures/zoo/README.md``):
native initialisations with biases offset (PGGAN and DCGAN through the tests' builders,
``tests/helpers_zoo.py``); DeePSim He-scaled for LeakyReLU(0.3) with its last layer scaled to a raw
output std of 60 pixel units (so the clamp acts); DCGAN's output layer x8 (so tanh is not linear),
BatchNorm statistics from one batch of 64 codes.

    OMP_NUM_THREADS=1 flock /tmp/bench.lock python benchmarks/bench_zoo.py --out /tmp/bench_zoo
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cli"), str(ROOT / "tests")]

import ganmetric  # noqa: E402
from ganmetric import blackbox  # noqa: E402
from ganmetric.generators.deepsim import DECONVS, FC_LAYERS  # noqa: E402
from ganmetric.generators.ganzoo_file import save_ganzoo_checkpoint  # noqa: E402
from ganmetric.io import write_json  # noqa: E402
from helpers_zoo import dcgan_parts, pggan_parts  # noqa: E402  (the tests' published-format builders)

PGGAN_DEPTHS = [512, 512, 512, 512, 256, 128, 64]


def deepsim_fc6_state(seed: int) -> dict:
    """The authors' fc6 layout at full size, He-scaled for LeakyReLU(0.3), last layer to raw std ~60."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    gain = math.sqrt(2 / (1 + 0.3 ** 2))
    state, f_in = {}, 4096
    for n in FC_LAYERS:
        state[f"{n}.weight"] = torch.randn(4096, f_in, generator=g) * gain / math.sqrt(f_in)
        state[f"{n}.bias"] = 0.1 * torch.randn(4096, generator=g)
    widths = [256, 512, 256, 256, 128, 128, 64, 32, 3]
    c_in = 256
    for (n, k, s, _), c_out in zip(DECONVS, widths):
        fan_in = c_in * k * k / (s * s)
        state[f"{n}.weight"] = torch.randn(c_in, c_out, k, k, generator=g) * gain / math.sqrt(fan_in)
        state[f"{n}.bias"] = 0.1 * torch.randn(c_out, generator=g)
        c_in = c_out
    G = ganmetric.generators.deepsim.deepsim_from_state(state, clamp=False)
    with torch.no_grad():
        raw = G(G.sample(4, seed=99)) * 255 / 2  # pixel units about the mean: std of the raw output
    state["deconv0.weight"] = state["deconv0.weight"] * (60.0 / float(raw.std()))
    return state


def pggan_checkpoint(path: Path, seed: int) -> None:
    """The celebA-HQ 256 PGGAN's sizes, the repository's N(0, 1) equalized weights (the tests' builder)."""
    config, state = pggan_parts(latent=512, depths=PGGAN_DEPTHS, seed=seed)
    save_ganzoo_checkpoint(path, config, state)


def dcgan_checkpoint(path: Path, seed: int) -> None:
    """The FashionGen DCGAN's sizes, the repository's N(0, 0.02^2) weights, the output layer x8 (so tanh is not
    linear), BatchNorm statistics of one batch of 64 codes (as one training step leaves them)."""
    import torch.nn.functional as F
    config, state = dcgan_parts(latent=120, dim_g=64, depth=3, seed=seed, std=0.02)
    state["main.outlayer.weight"] = 8 * state["main.outlayer.weight"]
    x = torch.randn(64, 120, 1, 1, generator=torch.Generator(device="cpu").manual_seed(5))
    x = F.conv_transpose2d(x, state["formatLayer.weight"])
    for i in range(4):
        if i:
            x = F.conv_transpose2d(x, state[f"main.convTranspose{i}.weight"], stride=2, padding=1)
        bn = f"main.batchNorm{i}."
        state[bn + "running_mean"], state[bn + "running_var"] = x.mean((0, 2, 3)), x.var((0, 2, 3))
        x = F.batch_norm(x, state[bn + "running_mean"], state[bn + "running_var"], state[bn + "weight"],
                         state[bn + "bias"]).relu()
    save_ganzoo_checkpoint(path, config, state)


def hutchinson_trace(G, D, z, probes: int, seed: int = 0) -> tuple[float, float]:
    """(estimate, standard error) of tr H = 2 E||J v||^2 over Rademacher v, from one batched forward-mode pass."""
    from ganmetric.hessian import GaussNewtonOperator, Objective
    op = GaussNewtonOperator(Objective(G, D, z[0]))  # H = op.factor * J^T J
    g = torch.Generator(device="cpu").manual_seed(seed)
    V = (torch.randint(0, 2, (probes, z.shape[-1]), generator=g) * 2 - 1).to(z.dtype)
    with torch.no_grad():
        _, JV = op.J.jvp(V)
    q = op.factor * JV.double().pow(2).sum(1)
    return float(q.mean()), float(q.std() / math.sqrt(probes))


def spectrum(name: str, G, args, out: Path) -> dict:
    D = ganmetric.load_distance("mse")
    z = G.sample(1, seed=0)
    n = G.latent_dim
    from torch.func import jvp, vmap
    V = torch.randn(8, n, generator=torch.Generator(device="cpu").manual_seed(1))
    t0 = time.perf_counter()
    with torch.no_grad():
        vmap(lambda v: jvp(G, (z,), (v[None],))[1])(V)
    per_tangent = (time.perf_counter() - t0) / 8
    rec = {"model": name, "n": n, "resolution": G.resolution, "seconds_per_tangent": per_tangent}
    t0 = time.perf_counter()
    if per_tangent * n <= args.full_budget:
        res = ganmetric.metric_tensor(G, D, z, method="jacobian", chunk=16)
        vals = res.eigvals.double().numpy()
        rec.update(method="jacobian", trace=float(vals.sum()), top=vals[:10].tolist())
        rec["count_99"] = int(np.searchsorted(np.cumsum(vals) / vals.sum(), 0.99) + 1)
    else:
        res = ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=args.k, chunk=16)
        vals = res.eigvals.double().numpy()
        trace, err = hutchinson_trace(G, D, z, args.probes)
        share = float(vals.sum() / trace)
        rec.update(method=f"gn-lanczos k={args.k}", trace_estimate=trace, trace_stderr=err, top=vals[:10].tolist(),
                   top_k_share=share, max_residual=float(res.residuals.max()))
        rec["count_99"] = int(np.searchsorted(np.cumsum(vals) / trace, 0.99) + 1) if share >= 0.99 else None
    rec["seconds"] = time.perf_counter() - t0
    ganmetric.save_result(out / f"{name}_metric.npz", res)  # the HessCMA basis (deepsim-fc6)
    print(json.dumps(rec), flush=True)
    return rec


def hesscma(G, basis: Path, args) -> dict:
    arms = [blackbox.Arm("random"), blackbox.Arm("cma"),
            blackbox.Arm("hess-cma", label=f"hess-cma-k{args.top}-p0", top=args.top, eigval_power=0.0),
            blackbox.Arm("hess-cma", label=f"hess-cma-k{args.top}-p0.5", top=args.top, eigval_power=0.5)]
    out = {}
    for ch in args.channels:
        t0 = time.perf_counter()
        cmp = blackbox.compare(G, f"unit:torchvision:alexnet:features.3:{ch}", methods=arms, seeds=args.seeds,
                               basis=str(basis), budget=args.budget, objective_weights="random:0")
        out[f"channel {ch}"] = {"seconds": time.perf_counter() - t0,
                                "final": {lb: [cmp.run(lb, s).score for s in cmp.plan.seeds] for lb in cmp.labels},
                                "settings": cmp.plan.settings}
        print(json.dumps({ch: out[f"channel {ch}"]["final"]}), flush=True)
    return out


COLD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
import ganmetric
G = ganmetric.load_generator(sys.argv[1])
D = ganmetric.load_distance("mse")
z = G.sample(1, seed=0)
t2 = time.perf_counter()
ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=3, max_iter=12)
t3 = time.perf_counter()
ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=3, max_iter=12)
t4 = time.perf_counter()
print(json.dumps({"import_torch": t1 - t0, "load": t2 - t1, "first_metric": t3 - t2, "second_metric": t4 - t3,
                  "dynamo": "torch._dynamo" in sys.modules}))
"""


def cold(files: list[Path], runs: int) -> dict:
    """Fresh processes: the first top-3 metric against the second (same work), and whether torch._dynamo came in."""
    import os
    import subprocess
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'cli'}", OMP_NUM_THREADS="1")
    out = {}
    for f in files:
        recs = [json.loads(subprocess.run([sys.executable, "-c", COLD, str(f)], capture_output=True, text=True,
                                          env=env, check=True).stdout.strip().splitlines()[-1]) for _ in range(runs)]
        out[f.name] = {k: (float(np.median([r[k] for r in recs])) if k != "dynamo" else any(r[k] for r in recs))
                       for k in recs[0]}
        print(json.dumps({f.name: out[f.name]}), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench_zoo_out"))
    ap.add_argument("--full-budget", type=float, default=600.0, help="seconds the full H may take (estimated)")
    ap.add_argument("--k", type=int, default=40, help="top-k of gn-lanczos where the full H does not fit")
    ap.add_argument("--top", type=int, default=400, help="HessCMA: how many eigenvectors of the fc6 metric")
    ap.add_argument("--probes", type=int, default=64)
    ap.add_argument("--budget", type=int, default=252, help="HessCMA: images per run")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--channels", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--cold", type=int, default=0, help="only the cold start: this many fresh processes per model "
                                                         "(on the files an earlier run wrote into --out)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cold:
        files = [args.out / f for f, key in (("dcgan.pth", "dcgan"), ("pggan.pth", "pggan"),
                                              ("deepsim_fc6.pt", "deepsim")) if key not in args.skip]
        write_json(args.out / "bench_zoo_cold.json", cold(files, args.cold))
        return
    results = {}
    if "dcgan" not in args.skip:
        dcgan_checkpoint(args.out / "dcgan.pth", 0)
        results["gan-zoo-dcgan"] = spectrum("gan-zoo-dcgan", ganmetric.load_generator(str(args.out / "dcgan.pth")),
                                            args, args.out)
    if "pggan" not in args.skip:
        pggan_checkpoint(args.out / "pggan.pth", 0)
        results["pggan"] = spectrum("pggan", ganmetric.load_generator(str(args.out / "pggan.pth")), args, args.out)
    torch.save(deepsim_fc6_state(0), args.out / "deepsim_fc6.pt")
    G = ganmetric.load_generator(str(args.out / "deepsim_fc6.pt"))
    if "deepsim" not in args.skip:
        results["deepsim-fc6"] = spectrum("deepsim-fc6", G, args, args.out)
    if "hesscma" not in args.skip:
        results["hesscma"] = hesscma(G, args.out / "deepsim-fc6_metric.npz", args)
    write_json(args.out / "bench_zoo.json", {"args": {k: str(v) for k, v in vars(args).items()}, "results": results})


if __name__ == "__main__":
    main()
