"""Discrete geodesics on dcgan-face: how much shorter than the straight line and SLERP, how even,
how fast, which optimiser, and what the prior penalty does.

Three parts (``--part``), each small enough for one run on a shared 2-core machine:

- ``optimizers``: the energy after a budget of objective evaluations (each one batched
  generator + feature pass over the interior codes, plus its backward pass) for the library's
  L-BFGS preconditioned by the metric (``metric-lbfgs``, the default), plain L-BFGS on the
  codes (``lbfgs``) and Adam on the codes (this script's loop over the same energy), from the
  same straight line, on ``--pairs`` seeded pairs.
- ``ratios``: for each pair, distance and number of points: geodesic / linear and geodesic /
  slerp length ratios, the evenness (max step / mean step) of each path, and the time and
  iterations per geodesic (library defaults: tol 1e-4, max_iter 200).
- ``prior``: length, energy and code norms of the geodesic for several ``--weights`` of the
  prior penalty.

Pairs: pair k joins ``G.sample(1, seed=1000 + 2k)`` and ``G.sample(1, seed=1001 + 2k)``.
Every result is appended to ``--json`` (one record per line), so a run can be split by pair
ranges (``--pairs 0:10``) and summarised with ``--summarise``.

Run (the machine is shared: never two benchmarks at once):
    flock /tmp/bench.lock python benchmarks/bench_paths.py --part ratios --distance mse --points 16 32
    python benchmarks/bench_paths.py --summarise --json bench_paths.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ganmetric  # noqa: E402
from ganmetric.paths import check_outputs, compare_paths, path_summary, write_outputs  # noqa: E402
from ganmetric.paths.energy import PathEnergy  # noqa: E402
from ganmetric.paths.geodesic import _factor, _stage, geodesic_options  # noqa: E402

CHECKPOINTS = (10, 25, 50, 100, 200, 400)


def pair(G, k: int):
    return G.sample(1, seed=1000 + 2 * k)[0], G.sample(1, seed=1001 + 2 * k)[0]


def pair_range(text: str) -> range:
    lo, _, hi = text.partition(":")
    return range(int(lo), int(hi)) if hi else range(int(lo))


def distance(name: str):
    return ganmetric.load_distance(name, **({"lpips_backbone": "random"} if name != "mse" else {}))


class Recorder(PathEnergy):
    """A PathEnergy that records (seconds, energy) at every evaluation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trace, self.t0 = [], time.perf_counter()

    def evaluate(self, inner, *, grad=True):
        ev = super().evaluate(inner, grad=grad)
        self.trace.append((time.perf_counter() - self.t0, ev.energy))
        return ev


def adam(energy: PathEnergy, codes: torch.Tensor, *, lr: float, evaluations: int) -> None:
    x = codes[1:-1].double().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(evaluations):
        ev = energy.evaluate(x.detach())
        opt.zero_grad()
        x.grad = ev.grad.to(x.dtype)
        opt.step()


def best_before(trace, budget: int) -> float:
    """The lowest energy among the first ``budget`` evaluations (line-search trials included:
    a method's best point so far)."""
    return min(e for _, e in trace[:budget])


def part_optimizers(G, D, args, out) -> None:
    budget = max(CHECKPOINTS)
    for k in pair_range(args.pairs):
        a, b = pair(G, k)
        line = ganmetric.linear_path(a, b, args.points[0])
        for name in ("metric-lbfgs", "lbfgs", *(f"adam-{lr:g}" for lr in args.adam_lrs)):
            energy = Recorder(G, D, a, b)
            t0 = time.perf_counter()
            if name.startswith("adam"):
                adam(energy, line, lr=float(name.split("-")[1]), evaluations=budget)
            else:
                opts = geodesic_options(points=args.points[0], optimizer=name, max_iter=budget, tol=1e-12)
                factor, info = _factor(G, D, line, opts)
                energy.t0 = time.perf_counter()  # the metric's time is reported apart
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _stage(energy, line, factor, opts, progress=False, desc="")
            trace = energy.trace[:budget]
            rec = {"part": "optimizers", "pair": k, "distance": D.name, "points": args.points[0], "optimizer": name,
                   "linear_energy": trace[0][1], "evaluations": len(trace), "seconds": time.perf_counter() - t0,
                   "metric_seconds": info.get("metric_seconds") if not name.startswith("adam") else None,
                   "seconds_per_evaluation": trace[-1][0] / len(trace),
                   "best": {c: best_before(trace, c) for c in CHECKPOINTS if c <= len(trace)}}
            print(json.dumps(rec), file=out, flush=True)
            print(name, k, {c: round(v / trace[0][1], 4) for c, v in rec["best"].items()}, flush=True)


def part_ratios(G, D, args, out) -> None:
    for points in args.points:
        for k in pair_range(args.pairs):
            a, b = pair(G, k)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ganmetric.NumericalWarning)
                paths = compare_paths(G, D, a, b, points=points)
            geo = paths["geodesic"]
            rec = {"part": "ratios", "pair": k, "distance": D.name, "points": points,
                   **{f"{m}_{q}": getattr(p, q) for m, p in paths.items() for q in ("length", "energy", "evenness")},
                   **{f"{m}_norm_min": float(p.norms.min()) for m, p in paths.items()},
                   "seconds": geo.seconds, "metric_seconds": geo.options["metric_seconds"],
                   "iterations": geo.iterations, "evaluations": geo.options["evaluations"],
                   "stop_reason": geo.stages[-1]["stop_reason"]}
            print(json.dumps(rec), file=out, flush=True)
            print(points, k, f"geo/lin {geo.length / paths['linear'].length:.3f} geo/slerp "
                  f"{geo.length / paths['slerp'].length:.3f} even {geo.evenness:.3f} {geo.seconds:.1f}s "
                  f"{geo.iterations} it", flush=True)
            if args.montages and k < args.montages:
                folder = Path(args.montages_dir) / f"{D.name}_p{points}_pair{k}"
                files = check_outputs(folder, paths)
                write_outputs(folder, G, D, paths, path_summary(G, D, paths, files=files), files)


def part_prior(G, D, args, out) -> None:
    n = G.latent_dim
    for k in pair_range(args.pairs):
        a, b = pair(G, k)
        for w in args.weights:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ganmetric.NumericalWarning)
                paths = compare_paths(G, D, a, b, points=args.points[0], prior_weight=w)
            geo = paths["geodesic"]
            norms = geo.norms
            rec = {"part": "prior", "pair": k, "distance": D.name, "points": args.points[0], "weight": w,
                   "length": geo.length, "energy": geo.energy, "evenness": geo.evenness,
                   "linear_length": paths["linear"].length, "slerp_length": paths["slerp"].length,
                   "norm_min": float(norms.min()), "norm_mean_interior": float(norms[1:-1].mean()),
                   "linear_norm_min": float(paths["linear"].norms.min()), "sqrt_n": n ** 0.5,
                   "seconds": geo.seconds, "iterations": geo.iterations}
            print(json.dumps(rec), file=out, flush=True)
            print(k, w, f"L {geo.length:.4f} min|z| {rec['norm_min']:.2f} mean|z| {rec['norm_mean_interior']:.2f}",
                  flush=True)
            if args.montages and k < args.montages:
                folder = Path(args.montages_dir) / f"prior_{D.name}_w{w:g}_pair{k}"
                files = check_outputs(folder, paths)
                write_outputs(folder, G, D, paths, path_summary(G, D, paths, files=files), files)


def _stats(values) -> str:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    return f"{np.median(v):.3f} [{v.min():.3f}, {v.max():.3f}]"


def summarise(path: Path) -> None:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ratios = [r for r in records if r["part"] == "ratios"]
    keys = sorted({(r["distance"], r["points"]) for r in ratios})
    print("| distance | points | pairs | geodesic / linear | geodesic / slerp | max/mean step: geodesic | linear | "
          "slerp | s per geodesic | iterations | converged |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dist, points in keys:
        rs = [r for r in ratios if r["distance"] == dist and r["points"] == points]
        conv = sum(r["stop_reason"] in ("tolerance", "stationary") for r in rs)
        print(f"| {dist} | {points} | {len(rs)} | {_stats(r['geodesic_length'] / r['linear_length'] for r in rs)} | "
              f"{_stats(r['geodesic_length'] / r['slerp_length'] for r in rs)} | "
              f"{_stats(r['geodesic_evenness'] for r in rs)} | {_stats(r['linear_evenness'] for r in rs)} | "
              f"{_stats(r['slerp_evenness'] for r in rs)} | {_stats(r['seconds'] for r in rs)} | "
              f"{_stats(r['iterations'] for r in rs)} | {conv}/{len(rs)} |")
    opt = [r for r in records if r["part"] == "optimizers"]
    if opt:
        print("\n| optimizer | pairs | s per evaluation | " + " | ".join(f"E/E_linear after {c}" for c in CHECKPOINTS)
              + " |")
        print("|---|---|---|" + "---|" * len(CHECKPOINTS))
        for name in dict.fromkeys(r["optimizer"] for r in opt):
            rs = [r for r in opt if r["optimizer"] == name]
            cells = [_stats(r["best"][str(c)] / r["linear_energy"] for r in rs if str(c) in r["best"])
                     for c in CHECKPOINTS]
            print(f"| {name} | {len(rs)} | {_stats(r['seconds_per_evaluation'] for r in rs)} | " + " | ".join(cells)
                  + " |")
    prior = [r for r in records if r["part"] == "prior"]
    if prior:
        print("\n| prior weight | pairs | L / L(w=0) | geodesic / linear | min \\|z\\| | mean interior \\|z\\| | "
              "linear's min \\|z\\| | evenness |")
        print("|---|---|---|---|---|---|---|---|")
        base = {(r["pair"], r["distance"]): r["length"] for r in prior if r["weight"] == 0}
        for w in sorted({r["weight"] for r in prior}):
            rs = [r for r in prior if r["weight"] == w]
            print(f"| {w:g} | {len(rs)} | {_stats(r['length'] / base[(r['pair'], r['distance'])] for r in rs)} | "
                  f"{_stats(r['length'] / r['linear_length'] for r in rs)} | {_stats(r['norm_min'] for r in rs)} | "
                  f"{_stats(r['norm_mean_interior'] for r in rs)} | {_stats(r['linear_norm_min'] for r in rs)} | "
                  f"{_stats(r['evenness'] for r in rs)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=("optimizers", "ratios", "prior"), default="ratios")
    p.add_argument("--distance", choices=("mse", "lpips-alex"), default="mse")
    p.add_argument("--points", type=int, nargs="+", default=[16])
    p.add_argument("--pairs", default="20", help="N (pairs 0..N-1) or LO:HI")
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.1, 1.0, 10.0])
    p.add_argument("--adam-lrs", type=float, nargs="+", default=[0.03, 0.1])
    p.add_argument("--montages", type=int, default=0, help="write the outputs of the first N pairs")
    p.add_argument("--montages-dir", default="bench_paths_out")
    p.add_argument("--json", default="bench_paths.jsonl")
    p.add_argument("--summarise", action="store_true")
    args = p.parse_args()
    if args.summarise:
        summarise(Path(args.json))
        return
    torch.set_num_threads(1)
    G = ganmetric.load_generator("dcgan-face")
    D = distance(args.distance)
    t0 = time.perf_counter()
    with open(args.json, "a") as out:
        {"optimizers": part_optimizers, "ratios": part_ratios, "prior": part_prior}[args.part](G, D, args, out)
    print(f"{args.part}: {time.perf_counter() - t0:.0f} s wall", flush=True)


if __name__ == "__main__":
    main()
