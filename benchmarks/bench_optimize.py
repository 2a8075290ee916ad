"""Black-box optimisation: random search vs CMA-ES vs Hessian-aware CMA-ES (issue 13).

For each model (dcgan-face, eyes-cdcgan), objectives:
- channels of conv2 of a torchvision AlexNet with seeded random weights (``random:0``: ImageNet
  weights cannot be downloaded here), the channel's mean activation (8 on dcgan-face, 2 on the
  4x costlier eye GAN);
- ``image:`` targets made from known codes (``G.sample(T, seed=777)``, written to PNG and read
  back), scored by minus the pixel MSE.
Methods (arms): random, cma, hess-cma with p in POWERS and k in TOPS, all from the same seeds and
starting points (a prior sample per seed), the same budget of scored images. hess-cma's basis is
the eigenbasis of the average mse metric over POINTS prior samples, computed with the CLI
(``ganmetric batch`` + ``ganmetric average``).

Writes into --out: one JSON per (model, objective) with every run's final best and best-so-far
curve, ``bench_optimize.json`` (tables), ``curves_*.png`` (normalised best-so-far per model and
objective family) and one full ``ganmetric optimize``-style folder for the first objective of
each family. Resumable: finished (model, objective) files are kept.

    flock /tmp/bench.lock python benchmarks/bench_optimize.py --out bench_optimize_out
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cli")]

import ganmetric  # noqa: E402
from ganmetric import blackbox  # noqa: E402
from ganmetric.io import write_json  # noqa: E402
from ganmetric.plotting import figure, save_figure, save_image  # noqa: E402

#: (layer, channel) of AlexNet per model: conv2 outputs (features.3; the pass stops there, which keeps the
#: benchmark within its CPU budget: conv5 costs about twice as much per image)
UNITS = {"dcgan-face": [("features.3", c) for c in range(8)], "eyes-cdcgan": [("features.3", c) for c in (0, 1)]}
TOPS = (20, 50)
POWERS = (0.0, 0.5)


def _cli(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'cli'}", OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "ganmetric_cli.main", *args], check=True, env=env)


def average_metric_file(model: str, points: int, out: Path) -> Path:
    """The average mse metric over ``points`` prior samples (seed 1000), with the CLI."""
    avg = out / f"{model}_mse_avg.npz"
    if not avg.exists():
        t0 = time.perf_counter()
        _cli("batch", "--model", model, "--distance", "mse", "--points", str(points), "--seed", "1000",
             "--out", str(out / f"{model}_mse_batch"), "--quiet")
        _cli("average", str(out / f"{model}_mse_batch"), "--out", str(avg))
        print(f"{model}: average metric over {points} points in {time.perf_counter() - t0:.0f} s", flush=True)
    return avg


def arms() -> list:
    out = [blackbox.Arm("random"), blackbox.Arm("cma")]
    for p in POWERS:
        for k in TOPS:
            out.append(blackbox.Arm("hess-cma", label=f"hess-cma-k{k}-p{p:g}", top=k, eigval_power=p))
    return out


def objectives(G, model: str, n_images: int, out: Path) -> list[tuple[str, str, dict]]:
    """(name, family, compare kwargs) for every objective of a model."""
    objs = [(f"alexnet-{layer}-{ch}", "unit", {"objective": f"unit:torchvision:alexnet:{layer}:{ch}",
                                                "objective_weights": "random:0"}) for layer, ch in UNITS[model]]
    codes = G.sample(n_images, seed=777)
    with torch.no_grad():
        images = G(codes)
    for t in range(n_images):
        path = out / f"{model}_target{t}.png"
        if not path.exists():
            save_image(images[t], path)
        objs.append((f"image-target{t}", "image", {"objective": f"image:{path}", "distance": "mse"}))
    return objs


def run_objective(G, model: str, name: str, kwargs: dict, basis: Path, args, out: Path, folder: bool) -> dict:
    path = out / f"{model}__{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    cmp = blackbox.compare(G, methods=arms(), seeds=args.seeds, basis=str(basis), budget=args.budget, **kwargs)
    if cmp.stopped:
        raise SystemExit(f"{model} {name}: {cmp.stopped}")
    if folder:
        blackbox.write_outputs(cmp, out / f"{model}__{name}")
    rec = {"model": model, "objective": name, "spec": kwargs["objective"], "seconds": time.perf_counter() - t0,
           "final": {lb: [cmp.run(lb, s).score for s in cmp.plan.seeds] for lb in cmp.labels},
           "curves": {lb: [cmp.run(lb, s).best_so_far().tolist() for s in cmp.plan.seeds] for lb in cmp.labels},
           "settings": cmp.plan.settings}
    write_json(path, rec, indent=None)
    print(f"{model} {name}: {rec['seconds']:.0f} s  " + "  ".join(
        f"{lb} {np.median(v):.4g}" for lb, v in rec["final"].items()), flush=True)
    return rec


def at(rec: dict, evals: int) -> dict:
    """The record cut at ``evals`` images: finals are the best so far then (the same runs, a shorter budget)."""
    curves = {lb: [c[:evals] for c in cs] for lb, cs in rec["curves"].items()}
    return {**rec, "curves": curves, "final": {lb: [c[-1] for c in cs] for lb, cs in curves.items()}}


def _normalised(rec: dict) -> dict:
    """label -> (seeds, evals) best-so-far mapped so that random's median final is 0 and the best final is 1."""
    ref = float(np.median(rec["final"]["random"]))
    top = max(max(v) for v in rec["final"].values())
    span = top - ref if top > ref else 1.0
    return {lb: (np.asarray(c) - ref) / span for lb, c in rec["curves"].items()}


def table(records: list[dict]) -> dict:
    """Per arm: median (over objectives) of the median final, wins over objective x seed cases, mean rank."""
    labels = list(records[0]["final"])
    wins = {lb: 0 for lb in labels}
    ranks = {lb: [] for lb in labels}
    norm_final = {lb: [] for lb in labels}
    for rec in records:
        F = np.array([rec["final"][lb] for lb in labels])  # (arms, seeds)
        for s in range(F.shape[1]):
            col = F[:, s]
            for i, lb in enumerate(labels):
                wins[lb] += int(col[i] == col.max())
                ranks[lb].append(1 + int((col > col[i]).sum()))
        for lb, c in _normalised(rec).items():
            norm_final[lb] += list(c[:, -1])
    return {lb: {"wins": wins[lb], "cases": sum(len(r["final"][lb]) for r in records),
                 "mean_rank": float(np.mean(ranks[lb])), "median_normalised_final": float(np.median(norm_final[lb]))}
            for lb in labels}


def curves_png(records: list[dict], title: str, path: Path) -> None:
    fig = figure(figsize=(7.2, 4.8))
    ax = fig.subplots()
    labels = list(records[0]["final"])
    for i, lb in enumerate(labels):
        stack = np.concatenate([_normalised(r)[lb] for r in records])  # (objectives x seeds, evals)
        x = np.arange(1, stack.shape[1] + 1)
        ax.plot(x, np.median(stack, 0), color=f"C{i}", lw=1.6, label=lb)
        ax.fill_between(x, np.percentile(stack, 25, 0), np.percentile(stack, 75, 0), color=f"C{i}", alpha=0.12, lw=0)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylim(-1.5, 1.1)
    ax.set_xlabel("images scored")
    ax.set_ylabel("best so far, normalised per objective\n(0: random's median final, 1: best final of any run)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3,
              title="line: median; band: 25-75% over objectives x seeds", title_fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    save_figure(fig, path, dpi=100, bbox_inches="tight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["dcgan-face", "eyes-cdcgan"])
    ap.add_argument("--budget", type=int, default=612)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--images", type=int, default=4, help="image: targets per model")
    ap.add_argument("--points", type=int, default=8, help="points of the average metric")
    ap.add_argument("--out", type=Path, default=Path("bench_optimize_out"))
    ap.add_argument("--report-at", type=int, nargs="*", default=[204],
                    help="also tabulate the best so far after this many images (a shorter budget, same runs)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = {}
    for model in args.models:
        basis = average_metric_file(model, args.points, args.out)
        G = ganmetric.load_generator(model)
        recs = {"unit": [], "image": []}
        for name, family, kwargs in objectives(G, model, args.images, args.out):
            first = not recs[family]
            recs[family].append(run_objective(G, model, name, kwargs, basis, args, args.out, first))
        for family, rs in recs.items():
            if not rs:
                continue
            results[f"{model} {family}"] = {"objectives": [r["objective"] for r in rs], "table": table(rs),
                                             **{f"table_at_{e}": table([at(r, e) for r in rs]) for e in args.report_at},
                                             "per_objective": {r["objective"]: {lb: float(np.median(v)) for lb, v in
                                                                                r["final"].items()} for r in rs},
                                             "seconds": sum(r["seconds"] for r in rs)}
            curves_png(rs, f"{model}, {len(rs)} {family} objectives x {args.seeds} seeds, budget {args.budget}",
                       args.out / f"curves_{model}_{family}.png")
    write_json(args.out / "bench_optimize.json", {"args": vars(args), "results": results,
                                                 "seconds": time.perf_counter() - t0})
    for key, res in results.items():
        print(f"\n{key} ({len(res['objectives'])} objectives, {res['seconds']:.0f} s)")
        print(f"{'arm':<18} wins/cases  mean rank  median normalised final")
        for key2 in ["table"] + [f"table_at_{e}" for e in args.report_at]:
            print(f"-- {key2}")
            for lb, row in res[key2].items():
                print(f"{lb:<18} {row['wins']:>4}/{row['cases']:<5} {row['mean_rank']:>9.2f}  "
                      f"{row['median_normalised_final']:>8.3f}")


if __name__ == "__main__":
    main()
