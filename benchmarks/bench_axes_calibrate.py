"""Calibrated steps on dcgan-face: generator passes and seconds, side by side.

Compares, on the same axes and targets, (a) our search (start at the metric's prediction
t = sqrt(2 d / lambda), bracket, bisection with a sqrt-interpolated try every other round),
(b) the same start with plain bisection, and (c) plain bisection from t = 1 (no metric).
Run: flock /tmp/bench.lock python benchmarks/bench_axes_calibrate.py
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path[:0] = [os.path.join(os.path.dirname(__file__), "..")]
import ganmetric  # noqa: E402
from ganmetric.axes import calibrate_steps  # noqa: E402


def main():
    G = ganmetric.load_generator("dcgan-face")
    D = ganmetric.load_distance("mse")
    z0 = G.sample(1, seed=0)
    res = ganmetric.metric_tensor(G, D, z0, method="jacobian")
    rows = res.eigvecs.double().numpy().T
    lam = res.eigvals.double().numpy()
    idx = [0, 1, 2, 4, 8]
    n = G.latent_dim
    print(f"dcgan-face float32, mse, axes {idx}, 3 targets per side up to 0.05, rtol 1e-3, torch threads "
          f"{__import__('torch').get_num_threads()}, cpus {os.cpu_count()}")
    cases = [("metric start + interp", (rows, lam), True), ("metric start, bisection", (rows, lam), False),
             ("t=1 start, bisection", (rows, 2 * 0.05 / 3 * np.ones(n)), False)]
    base = None
    for name, axes, interp in cases:
        t = time.perf_counter()
        cal = calibrate_steps(G, D, z0, axes, indices=idx, max_distance=0.05, n_targets=3, interpolate=interp)
        sec = time.perf_counter() - t
        base = base or sec
        print(f"{name:<26} passes {cal.evaluations:>3}  {sec:6.2f} s  x{sec / base:4.2f}  "
              f"max rel err {cal.max_relative_error():.1e}  reached {cal.reached.all()}")


if __name__ == "__main__":
    main()
