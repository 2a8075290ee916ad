"""How far the metric's quadratic prediction holds along its own axes (the numbers behind docs/axes.md).

For the setting of docs/axes.md (dcgan-face, pixel MSE, the metric at seed 0, axes 0, 1, 2, 4, 8) it
prints, per axis, the ratio real / predicted of ``d(G(z0), G(z0 + t u))`` against
``lambda t^2 / 2`` at a few t (both signs), the largest |t| below which the ratio stays
within 5% of 1 on both sides, and the real distance at t = -3 and +3 (the ends of the
montage on that page). Everything in float64, so that small t are not rounding noise.

Run: OMP_NUM_THREADS=1 python benchmarks/axes_quadratic.py
(about a CPU-minute)
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch

sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..")]
import ganmetric  # noqa: E402
from ganmetric.axes import distance_curves, predicted_distance  # noqa: E402

AXES = [0, 1, 2, 4, 8]
SHOWN = [0.01, 0.05, 0.25, 0.5, 1.0, 3.0]


def main():
    G = ganmetric.load_generator("dcgan-face", dtype="float64")
    D = ganmetric.load_distance("mse", dtype="float64")
    z0 = G.sample(1, seed=0).double()
    res = ganmetric.metric_tensor(G, D, z0, method="jacobian")
    rows = res.eigvecs.double().numpy().T
    lam = res.eigvals.double().numpy()
    fine = np.geomspace(1e-3, 3, 250)  # to locate where the ratio leaves [0.95, 1.05]
    ts = np.concatenate([-fine[::-1], fine])
    real = distance_curves(G, D, z0, rows, AXES, ts)
    print(f"dcgan-face, float64, mse (mean over C, H, W of [-1, 1] images), metric at seed 0 "
          f"(|z0| = {float(torch.linalg.vector_norm(z0)):.3f})")
    print("ratio = real d / (lambda t^2 / 2) at -t / +t; '5% to |t|': the smallest |t| where it leaves [0.95, 1.05]")
    print(f"{'axis':>4} {'lambda':>7}  " + "  ".join(f"{f't={t:g}':>11}" for t in SHOWN)
          + f"  {'5% to |t|':>9}  {'d(t=-3)':>7} {'d(t=+3)':>7}")
    for a, i in enumerate(AXES):
        ratio = real[a] / predicted_distance(lam[i], ts)
        cells = []
        for t in SHOWN:
            neg, pos = (np.interp(s * t, ts, ratio) for s in (-1, 1))
            cells.append(f"{neg:5.2f}/{pos:4.2f}")
        off = np.abs(ratio - 1) > 0.05
        within = float(np.min(np.abs(ts[off]))) if off.any() else float("inf")  # first |t| where it leaves 5%
        end = distance_curves(G, D, z0, rows, [i], [-3.0, 3.0])[0]
        print(f"{i:>4} {lam[i]:7.4f}  " + "  ".join(f"{c:>11}" for c in cells)
              + f"  {within:>9.2g}  {end[0]:7.4f} {end[1]:7.4f}")


if __name__ == "__main__":
    main()
