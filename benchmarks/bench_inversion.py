"""Plain Adam in z versus Adam in the eigenbasis of the average metric, on dcgan-face.

Equal budgets: both methods get the same targets, steps, restarts, seeds (hence the same
starting codes: the basis run starts at c = 0, i.e. at the same z) and the same lr grid;
each method is reported at its best lr of the grid (by median final loss) and at every lr.

Targets: ``--targets`` images generated from known codes z* (seeded) plus real photographs
(matplotlib's grace_hopper.jpg; with scikit-image installed, ``pip install .[bench]``, also
its astronaut, chelsea and coffee images), read through the same image path as users'.

The basis: eigenvectors of the average metric, mean of H(z) = 2 J^T J (mse) over
``--metric-points`` prior samples (computed here with ``ganmetric.metric_tensor``).

Reports per method: median final loss (generated / real), the fraction of targets each
wins, the steps to reach a fixed loss (the median over targets, and how many never do),
and for generated targets the median |z - z*| and the median final loss.

Run (the machine is shared: never two benchmarks at once):
    flock /tmp/bench.lock python benchmarks/bench_inversion.py
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganmetric  # noqa: E402
from ganmetric.inversion import initial_codes  # noqa: E402
from ganmetric.io import write_json  # noqa: E402
from ganmetric.plotting import image_bytes  # noqa: E402


def real_photos(folder: Path) -> dict[str, Path]:
    """Real photographs shipped with matplotlib (always) and scikit-image (if installed), as files."""
    import matplotlib.cbook as cbook

    photos = {"grace_hopper": Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))}
    try:
        from PIL import Image
        from skimage import data
    except ImportError:
        print("scikit-image not installed (pip install .[bench]): only matplotlib's photo is used")
        return photos
    for name in ("astronaut", "chelsea", "coffee"):
        path = folder / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(path)
        photos[name] = path
    return photos


def average_metric(G, D, points: int, seed: int):
    """Mean of the full metric over prior samples, its eigenpairs (descending)."""
    Z = G.sample(points, seed=seed)
    H = sum(ganmetric.metric_tensor(G, D, Z[i], method="jacobian").H.double() for i in range(points)) / points
    vals, vecs = torch.linalg.eigh(H)
    return vals.flip(0), vecs.flip(1)


def steps_to(losses: np.ndarray, level: float) -> float:
    """First step whose best-restart loss is <= level (inf if never)."""
    best = losses.min(axis=0)
    hit = np.nonzero(best <= level)[0]
    return float(hit[0]) if len(hit) else float("inf")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=20, help="generated targets (known z*)")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--lrs", type=float, nargs="+", default=[0.1, 0.2])
    ap.add_argument("--metric-points", type=int, default=20)
    ap.add_argument("--eigval-power", type=float, default=0.0)
    ap.add_argument("--level-generated", type=float, default=0.04, help="fixed mse level for 'steps to reach'")
    ap.add_argument("--level-real", type=float, default=0.25, help="fixed mse level for real photographs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    G = ganmetric.load_generator("dcgan-face")
    D = ganmetric.load_distance("mse")
    t0 = time.perf_counter()
    vals, vecs = average_metric(G, D, args.metric_points, seed=1000)
    t_metric = time.perf_counter() - t0
    n99 = int((torch.cumsum(vals, 0) / vals.sum() < 0.99).sum()) + 1
    print(f"average metric over {args.metric_points} points: {t_metric:.1f} s; top eigenvalues "
          f"{', '.join(f'{v:.3g}' for v in vals[:4].tolist())}; {n99} of {len(vals)} hold 99% of the trace")
    basis = ganmetric.MetricResult(eigvals=vals, eigvecs=vecs, z=torch.zeros(G.latent_dim), kind="average",
                                   method="average", seconds=t_metric)
    z_star = G.sample(args.targets, seed=2024)
    with torch.no_grad():
        generated = G(z_star)
    tmp = Path(tempfile.mkdtemp(prefix="bench_inversion_"))
    targets = {}
    for i in range(args.targets):  # through PNG files, like a user's images (8-bit quantised)
        path = tmp / f"gen{i:02d}.png"
        path.write_bytes(image_bytes(generated[i]))
        targets[f"gen{i:02d}"] = path
    targets.update(real_photos(tmp))
    methods = {"adam-z": None, "adam-metric-basis": basis}
    runs = {}  # (method, lr, target) -> dict
    total = len(methods) * len(args.lrs) * len(targets)
    done = 0
    for lr in args.lrs:
        for i, (name, path) in enumerate(targets.items()):
            for method, B in methods.items():  # same seed per target for both methods: same starting codes
                res = ganmetric.invert(G, path, D, basis=B, steps=args.steps, lr=lr, restarts=args.restarts,
                                       seed=100 + i, eigval_power=args.eigval_power if B is not None else 0.0)
                rec = {"loss": res.loss, "losses": res.losses.numpy(), "seconds": res.seconds}
                if name.startswith("gen"):
                    rec["dz"] = float((res.z.double() - z_star[int(name[3:])].double()).norm())
                    start = initial_codes(G.latent_dim, args.restarts, 100 + i)[res.best_restart]
                    rec["dz0"] = float((start - z_star[i].double()).norm())
                runs[(method, lr, name)] = rec
                done += 1
            print(f"[{done}/{total}] lr={lr} {name}: " + "  ".join(
                f"{m} {runs[(m, lr, name)]['loss']:.4g}" for m in methods), flush=True)
    gen_names = [t for t in targets if t.startswith("gen")]
    real_names = [t for t in targets if not t.startswith("gen")]
    summary = {"settings": vars(args) | {"json": str(args.json)}, "metric_seconds": t_metric, "n99": n99,
               "by_lr": {}, "best_lr": {}}
    for method in methods:
        med = {lr: float(np.median([runs[(method, lr, t)]["loss"] for t in targets])) for lr in args.lrs}
        summary["best_lr"][method] = min(med, key=med.get)
    for lr in args.lrs + ["best"]:
        rows = {}
        for method in methods:
            use = summary["best_lr"][method] if lr == "best" else lr
            r = {t: runs[(method, use, t)] for t in targets}
            level = {t: args.level_generated if t in gen_names else args.level_real for t in targets}
            st = np.array([steps_to(r[t]["losses"], level[t]) for t in targets])
            rows[method] = {
                "lr": use,
                "median_loss_generated": float(np.median([r[t]["loss"] for t in gen_names])),
                "median_loss_real": float(np.median([r[t]["loss"] for t in real_names])) if real_names else None,
                "median_dz": float(np.median([r[t]["dz"] for t in gen_names])),
                "median_dz_start": float(np.median([r[t]["dz0"] for t in gen_names])),
                "median_start_loss": float(np.median([r[t]["losses"][:, 0].min() for t in targets])),
                "median_steps_to_level": float(np.median(st)),
                "never_reached": int(np.isinf(st).sum()),
                "losses": {t: r[t]["loss"] for t in targets},
            }
        a, b = (rows[m]["losses"] for m in methods)
        wins_basis = sum(b[t] < a[t] for t in targets)
        rows["adam-metric-basis"]["win_fraction"] = wins_basis / len(targets)
        rows["adam-z"]["win_fraction"] = sum(a[t] < b[t] for t in targets) / len(targets)
        summary["by_lr"][str(lr)] = rows
    print(f"\n{len(gen_names)} generated + {len(real_names)} real targets ({', '.join(real_names)}), "
          f"{args.steps} steps x {args.restarts} restarts, seeds 100+i, mse loss, lr grid {args.lrs}, "
          f"eigval_power {args.eigval_power}; levels: generated {args.level_generated}, real {args.level_real}")
    head = (f"{'lr':>6} {'method':<19} {'med loss gen':>12} {'med loss real':>13} {'med |z-z*|':>10} "
            f"{'wins':>5} {'med steps to level':>18} {'never':>5}")
    print(head)
    for lr, rows in summary["by_lr"].items():
        for method in methods:
            r = rows[method]
            real = f"{r['median_loss_real']:.4g}" if r["median_loss_real"] is not None else "-"
            print(f"{lr if lr != 'best' else 'best=' + str(r['lr']):>6} {method:<19} "
                  f"{r['median_loss_generated']:>12.4g} {real:>13} {r['median_dz']:>10.3f} "
                  f"{r['win_fraction']:>5.2f} {r['median_steps_to_level']:>18} {r['never_reached']:>5}")
    r = summary["by_lr"]["best"]["adam-z"]
    print(f"for scale: median start loss {r['median_start_loss']:.4g}, median |z0 - z*| {r['median_dz_start']:.3f}")
    print(f"total {time.perf_counter() - t_start:.0f} s, torch threads {args.threads}")
    if args.json:
        for rows in summary["by_lr"].values():
            for r in rows.values():
                r["losses"] = {k: float(v) for k, v in r["losses"].items()}
        write_json(args.json, summary)


if __name__ == "__main__":
    main()
