"""Geometry at scale on dcgan-face: batch metrics (mse, lpips-alex random backbone), spectra, homogeneity.

Resumable and time-boxed: points are added in steps of ``--step`` until ``--points`` are
done or ``--budget`` seconds have passed; run it again (same ``--out``) to continue. The
figures are computed from the points present. Run under the shared lock:

    flock /tmp/bench.lock python benchmarks/bench_batch.py --distance mse --points 300 --budget 240
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cli")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ganmetric  # noqa: E402
from ganmetric.analysis import ResultSet, batch_metric, homogeneity, load_results, spectrum_stats  # noqa: E402
from ganmetric.io import json_text, write_json  # noqa: E402


def _tiled(rs, N):
    rng = np.random.default_rng(0)
    out = []
    for i in range(N):
        r = rs.results[i % len(rs)]
        Q = np.linalg.qr(rng.standard_normal((r.dim, r.dim)))[0]
        out.append(ganmetric.MetricResult(r.eigvals, Q @ r.eigvecs, r.z, Q @ r.H @ Q.T, meta=r.meta, path=r.path))
    return ResultSet(tuple(out), np.stack([r.eigvals for r in out]).astype(np.float64),
                     np.stack([r.eigvecs for r in out]).astype(np.float64), False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distance", choices=["mse", "lpips-alex"], default="mse")
    ap.add_argument("--points", type=int, default=300)
    ap.add_argument("--budget", type=float, default=240.0, help="seconds of batch computation in this run")
    ap.add_argument("--step", type=int, default=10)
    ap.add_argument("--out", default="/tmp/ganmetric_bench_batch")
    args = ap.parse_args()

    G = ganmetric.load_generator("dcgan-face")
    D = ganmetric.load_distance(args.distance, lpips_backbone="random")
    codes = G.sample(args.points, seed=0)
    out = Path(args.out) / args.distance
    t0 = time.perf_counter()
    m = np.load(out / "codes.npy", allow_pickle=False).shape[0] if (out / "codes.npy").exists() else 0  # resume
    if m:
        batch_metric(G, D, codes[:m], out, method="jacobian", seed=0)
    while m < args.points and time.perf_counter() - t0 < args.budget:
        m = min(args.points, m + args.step)
        batch_metric(G, D, codes[:m], out, method="jacobian", seed=0)
    wall = time.perf_counter() - t0
    rs = load_results(out)
    per_point = np.array([r.meta["seconds"] for r in rs.results])
    st = spectrum_stats(rs)
    t1 = time.perf_counter()
    h = homogeneity(rs)
    t_h = time.perf_counter() - t1
    hs = h.summary()
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores visible, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "model": "dcgan-face", "distance": args.distance, "dtype": "float32", "method": "jacobian",
        "points_done": len(rs), "points_target": args.points, "this_run_wall_s": wall,
        "seconds_per_point_mean": float(per_point.mean()), "seconds_per_point_median": float(np.median(per_point)),
        "total_compute_s": float(per_point.sum()),
        "extrapolated_total_s_for_target": float(per_point.mean() * args.points),
        "anisotropy": st.table(),
        "homogeneity": {k: hs[k] for k in ("corr_log", "corr_linear", "corr_vec")},
        "homogeneity_seconds": t_h, "homogeneity_points": len(rs),
    }
    if len(rs) < args.points:
        # homogeneity time at the target size: the real metrics, tiled with random rotations Q H Q^T
        big = _tiled(rs, args.points)
        t1 = time.perf_counter()
        homogeneity(big)
        report["homogeneity_seconds_at_target"] = time.perf_counter() - t1
        report["homogeneity_target_note"] = (f"{args.points} metrics made from the {len(rs)} real ones by random "
                                             f"rotations (same spectra, same sizes: a timing stand-in)")
        report["note"] = (f"only {len(rs)} of {args.points} points computed so far; per-point time and total "
                          f"are measured on them and extrapolated to {args.points}")
    write_json(out / "bench.json", report)          # strict JSON: an undefined statistic is null
    print(json_text(report), end="")


if __name__ == "__main__":
    main()
