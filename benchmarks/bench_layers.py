"""Where the anisotropy comes from: the layers table of dcgan-face (mse, lpips-alex random) and the eye cDCGAN.

Every ReLU and the output layer of each model, with ``ganmetric.analysis.layer_metrics`` at
``--points`` codes ``G.sample(N, seed=0)``, method jacobian (full H), float32. The layer
folders do not depend on the image distance, so the lpips-alex run starts from copies of the
mse run's layer folders (they resume: only its image folder is computed). Resumable: run it
again with the same ``--out`` and finished folders are kept. Run under the shared lock:

    flock /tmp/bench.lock python benchmarks/bench_layers.py --face-points 50 --eye-points 20

Writes, per run, ``OUT/RUN/`` (layers.csv/json, layers_spectra.png, layers_summary.png) and
prints markdown tables for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cli")]

import torch  # noqa: E402

import ganmetric  # noqa: E402
from ganmetric.analysis import layer_metrics  # noqa: E402

FACE_LAYERS = "main.2,main.5,main.8,main.11,main.13"           # the 4 ReLUs and the output (tanh)
EYE_LAYERS = "main.2,main.6,main.9,main.12,main.15,main.17"    # the 5 ReLUs and the output (tanh)


def _run(name, model, distance, layers, points, out: Path, copy_from: Path | None = None):
    G = ganmetric.load_generator(model)
    D = ganmetric.load_distance(distance, lpips_backbone="random" if distance.startswith("lpips") else None)
    folder = out / name
    if copy_from is not None:
        for src in copy_from.glob("layer_*"):
            if not (folder / src.name).exists():
                shutil.copytree(src, folder / src.name)
    t0 = time.perf_counter()
    table = layer_metrics(G, layers, G.sample(points, seed=0), folder, D, method="jacobian", seed=0)
    table.save(folder)
    return table, time.perf_counter() - t0


def _markdown(title, table, seconds):
    ks = table.alignment_ks
    head = ["layer", "shape", "n99", "n999", "n99/pt", "top λ", "eff. rank", "homog."] + [f"align k={k}" for k in ks]
    lines = [f"**{title}** ({table.meta['n_points']} points, {seconds:.0f} s wall)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
    for r in table.rows:
        cells = [r["layer"] if r["layer"] != "image" else f"image ({table.meta['distance']})", r["shape"],
                 fmt(r["n99"], "d"), fmt(r["n999"], "d"), fmt(r["n99_point_mean"], ".1f"), fmt(r["top_eigval"], ".3g"),
                 fmt(r["effective_rank"], ".1f"), fmt(r["homogeneity_log"], ".3f")]
        cells += [fmt(r[f"align_k{k}"], ".3f") for k in ks]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| random subspaces (k/n) | | | | | | | | " + " | ".join(f"{b:.3f}" for b in table.baselines.values())
                 + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--face-points", type=int, default=50)
    ap.add_argument("--eye-points", type=int, default=20)
    ap.add_argument("--only", choices=["face", "eye"], default=None)
    ap.add_argument("--out", default="/tmp/ganmetric_bench_layers")
    args = ap.parse_args()
    out = Path(args.out)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    runs = []
    if args.only in (None, "face"):
        runs.append(("dcgan-face, image distance mse", *_run("face_mse", "dcgan-face", "mse", FACE_LAYERS,
                                                            args.face_points, out)))
        runs.append(("dcgan-face, image distance lpips-alex (random backbone)",
                     *_run("face_lpips", "dcgan-face", "lpips-alex", FACE_LAYERS, args.face_points, out,
                           copy_from=out / "face_mse")))
    if args.only in (None, "eye"):
        runs.append(("eyes-cdcgan (class amber, the default), image distance mse",
                     *_run("eye_mse", "eyes-cdcgan", "mse", EYE_LAYERS, args.eye_points, out)))
    for title, table, seconds in runs:
        print(_markdown(title, table, seconds))
        print()


if __name__ == "__main__":
    main()
