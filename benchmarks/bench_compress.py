"""Compression onto the top eigenspace of the average metric: dcgan-face (mse, lpips-alex random) and the eye cDCGAN.

The bases are the average metrics of the image folders bench_layers.py wrote (50 points
for dcgan-face, 20 for the eyes; run it first), plus SeFa's directions for dcgan-face. For
``--samples`` codes ``G.sample(N, seed=1)`` (not the points the metrics were computed at),
z0 = 0, both fills, 5 seeded random bases, ``ganmetric.analysis.compress``. Run under the
shared lock:

    flock /tmp/bench.lock python benchmarks/bench_compress.py --face-samples 200 --eye-samples 100

Writes ``OUT/RUN/`` (curve.csv, curve.png, montage.png, summary.json, codes) and prints
markdown tables for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "cli")]

import ganmetric  # noqa: E402
from ganmetric.analysis import average_metric, compress, load_results  # noqa: E402
from ganmetric.axes import sefa_directions  # noqa: E402

KS = (1, 2, 5, 10, 20, 50, 80, 100)


def _run(name, model, distance, basis, samples, out: Path, random_bases=5):
    G = ganmetric.load_generator(model)
    D = ganmetric.load_distance(distance, lpips_backbone="random" if distance.startswith("lpips") else None)
    if basis == "sefa":
        basis = sefa_directions(G)
    t0 = time.perf_counter()
    comp = compress(G, D, basis, G.sample(samples, seed=1), KS, random_bases=random_bases, seed=0,
                    codes_seed=1, out_dir=out / name)
    return comp, time.perf_counter() - t0


def _average(folder: Path):
    return average_metric(load_results(folder))


def _markdown(title, comp, seconds):
    rows = {(r["k"], r["basis"], r["fill"]): r for r in comp.rows}
    randoms = sorted({r["basis"] for r in comp.rows if r["basis"].startswith("random-")})
    d0 = rows[0, comp.label, "none"]["mean"]
    head = ["k", "kept |z|²"]
    for fill in comp.fills:
        head += [f"{comp.label}, fill {fill}"] + ([f"random (min-max), fill {fill}"] if randoms else [])
    lines = [f"**{title}** ({comp.meta['n_samples']} samples, {seconds:.0f} s wall; distances as a fraction of "
             f"the k = 0 distance {d0:.4g})", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in comp.ks:
        cells = [str(k), f"{rows[k, comp.label, 'none']['kept_fraction']:.3f}"]
        for fill in comp.fills:
            cells.append(f"{rows[k, comp.label, fill]['mean'] / d0:.3g}")
            if randoms:
                each = [rows[k, r, fill]["mean"] / d0 for r in randoms]
                cells.append(f"{rows[k, 'random', fill]['mean'] / d0:.3g} ({min(each):.3g}-{max(each):.3g})")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {line}" for line in comp.threshold_lines()]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--face-samples", type=int, default=200)
    ap.add_argument("--eye-samples", type=int, default=100)
    ap.add_argument("--layers-out", default="/tmp/ganmetric_bench_layers", help="bench_layers.py's --out")
    ap.add_argument("--only", choices=["face", "eye"], default=None)
    ap.add_argument("--out", default="/tmp/ganmetric_bench_compress")
    args = ap.parse_args()
    layers, out = Path(args.layers_out), Path(args.out)
    runs = []
    if args.only in (None, "face"):
        runs.append(("dcgan-face, mse, basis: average mse metric (50 points)",
                     *_run("face_mse", "dcgan-face", "mse", _average(layers / "face_mse" / "image"),
                           args.face_samples, out)))
        runs.append(("dcgan-face, mse, basis: SeFa directions",
                     *_run("face_sefa", "dcgan-face", "mse", "sefa", args.face_samples, out, random_bases=0)))
        runs.append(("dcgan-face, lpips-alex (random backbone), basis: average lpips metric (50 points)",
                     *_run("face_lpips", "dcgan-face", "lpips-alex", _average(layers / "face_lpips" / "image"),
                           args.face_samples, out)))
    if args.only in (None, "eye"):
        runs.append(("eyes-cdcgan (amber), mse, basis: average mse metric (20 points)",
                     *_run("eye_mse", "eyes-cdcgan", "mse", _average(layers / "eye_mse" / "image"),
                           args.eye_samples, out)))
    for title, comp, seconds in runs:
        print(_markdown(title, comp, seconds))
        print()


if __name__ == "__main__":
    main()
