"""Metric engine benchmark (issue 2): every Hessian method side by side, with the targets.

Prints, in one run, for ``dcgan-face`` with ``mse`` (64 px) and with ``lpips-alex``
(random backbone) at 64 px and at ``resize=256``:

- seconds per method (``metric_tensor`` as a user calls it: probe, products, eigh);
- ``t(bp) / t(jacobian)`` and ``t(jacobian) / t(floor)``, the floor being one batched
  no-grad forward of n codes through G and ``D.features`` (forward-mode products cost
  about one forward pass each when batched, so this is what the full metric can cost);
- for the top 20: ``t(backward-iter) / t(auto, k=20)`` and the relative eigenvalue error
  of each against the full H (the ``jacobian`` method's H, eigvalsh in float64); also shown,
  the error against a float64 evaluation of the whole map (float32 rounding flips a few
  ReLU masks, which moves H itself: that part is precision, not method);

and, on a larger latent space (a random-weight DCGAN with nz = 1024, MSE), ``t(jacobian)``
against ``t(gn-lanczos, k=20)`` with its eigenvalue error. A PASS/MISS table closes the run.

Timing: one warm-up call per method, then the median of ``--reps`` calls (3 by default;
``bp`` at 256 px gets ``--slow-reps``, 1 by default, and says so), taken round-robin
across methods so that load from other jobs on a shared machine hits them alike. A cold-start line times
the first call in a fresh process (imports, oneDNN primitive creation, torch's lazy
``torch._dynamo`` import on the first autograd pass through BatchNorm).

``--floor-only`` times just the floor and ``jacobian`` for the three dcgan-face cases
(issue 16's target: ``t(jacobian) / t(floor) <= 1.2``), every run interleaved across the
cases, and reports the ratio of the medians.

Usage::

    flock /tmp/bench.lock python benchmarks/bench_metric.py [--quick] [--json out.json]
    flock /tmp/bench.lock python benchmarks/bench_metric.py --floor-only [--reps 7]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever copy is installed

import torch  # noqa: E402

import ganmetric  # noqa: E402
from ganmetric.generators import DCGANGenerator  # noqa: E402
from ganmetric.hessian import jacobian_gram, metric_tensor  # noqa: E402
from ganmetric.hessian import Objective  # noqa: E402

K = 20
METHODS = [("jacobian", None), ("bp", None), ("fwd-over-rev", None), ("gn-lanczos", K),
           ("backward-iter", K), ("forward-iter", K), ("auto", K)]
TARGETS = {"bp_over_jacobian": 10.0, "jacobian_over_floor": 1.5, "backward_iter_over_auto": 3.0,
           "eig_rel_err": 1e-4}


def rel_eig_err(vals: torch.Tensor, ref: torch.Tensor) -> float:
    """max_i |lambda_i - ref_i| / ref_i over the top len(vals) eigenvalues."""
    k = vals.numel()
    v, r = vals.detach().double().cpu(), ref[:k]
    return float(((v - r).abs() / r.abs()).max())


def reference_eigvals(G, D, z, chunk=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 reference: the Jacobian Gram of float64 copies of G and D, eigvalsh in float64."""
    import copy
    G64, D64 = copy.deepcopy(G).double(), copy.deepcopy(D).double()
    H = jacobian_gram(Objective(G64, D64, z[0].double()), chunk=chunk).H
    return torch.linalg.eigvalsh(H).flip(0), H


def random_dcgan(nz: int, seed: int = 0) -> DCGANGenerator:
    """A random-weight DCGAN (64 px) initialised as DCGAN does, BatchNorm stats from a few batches.

    Conv weights N(0, 0.02), BatchNorm weight N(1, 0.02) and bias 0 (Radford et al.);
    running statistics are the cumulative averages over 4 batches of 64 prior codes, so
    the eval-mode network is well scaled (no saturated tanh, no dead layers).
    """
    gen = torch.Generator().manual_seed(seed)
    G = DCGANGenerator(name=f"dcgan-random-{nz}", nz=nz)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, torch.nn.ConvTranspose2d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.02)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + torch.randn(m.weight.shape, generator=gen) * 0.02)
                m.bias.zero_()
                m.reset_running_stats()
                m.momentum = None  # cumulative average
                m.train(True)  # the submodule only: Generator.train refuses on purpose
        for i in range(4):
            G.main(torch.randn(64, nz, 1, 1, generator=gen))
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1
    return G.freeze()


def floor_fn(G, D, n: int, seed: int = 1):
    Z = G.sample(n, seed=seed)

    def run():
        with torch.no_grad():
            return D.features(G(Z))
    return run


def bench_config(label, G, D, z, *, reps, slow_reps, methods, ref_chunk=None, log=print):
    """Times every method on one (G, D, z); returns a dict of measurements.

    Every method (and the floor) is warmed up once, then the timed runs go round-robin
    (rep 1 of every method, then rep 2, ...), so a burst of load from other jobs on the
    shared machine hits all of them alike instead of one method's whole series.
    """
    n = G.latent_dim
    out = {"label": label, "n": n, "methods": {}}
    # the targets' reference: the full H of the jacobian method (same float32 map), eigvalsh in float64;
    # also reported: a float64 evaluation of the whole map (float32 rounding flips some ReLU masks)
    H32 = jacobian_gram(Objective(G, D, z[0]), chunk=ref_chunk).H.double()
    ref_vals = torch.linalg.eigvalsh(H32).flip(0)
    ref64_vals, H64 = reference_eigvals(G, D, z, chunk=ref_chunk)
    out["float32_vs_float64_H_rel_diff"] = float((H32 - H64).norm() / H64.norm())

    def call(name, k):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # non-convergence is reported in the table instead
                return metric_tensor(G, D, z, method=name, k=k)
        return run

    jobs = [("floor", None, floor_fn(G, D, n), reps)]
    jobs += [(name, k, call(name, k), slow_reps if (name == "bp" and label.endswith("256")) else reps)
             for name, k in methods]
    times = {name: [] for name, *_ in jobs}
    last = {name: fn() for name, _, fn, _ in jobs}  # warm-up
    for rep in range(reps):
        for name, _, fn, r in jobs:
            if rep < r:
                t0 = time.perf_counter()
                last[name] = fn()
                times[name].append(time.perf_counter() - t0)
    t_floor = statistics.median(times["floor"])
    out["floor"] = {"seconds": t_floor, "all": times["floor"], "features": int(last["floor"].shape[1])}
    log(f"  floor (no-grad forward of {n} codes, F={last['floor'].shape[1]}): {t_floor:.3f} s")
    log(f"  float32 H vs float64 H (whole map in float64): rel diff {out['float32_vs_float64_H_rel_diff']:.1e}")
    for name, k, _, r in jobs[1:]:
        res, t = last[name], statistics.median(times[name])
        row = {"seconds": t, "all": times[name], "reps": r, "resolved": res.method, "k": res.k,
               "eig_rel_err": rel_eig_err(res.eigvals[:K], ref_vals),
               "eig_rel_err_f64": rel_eig_err(res.eigvals[:K], ref64_vals), "converged": res.converged,
               "n_products": res.n_products}
        if res.H is not None:
            row["H_rel_err"] = float((res.H.double().cpu() - H32).norm() / H32.norm())
        out["methods"][name if k is None or name != "auto" else "auto-k20"] = row
        extra = f"H rel err {row['H_rel_err']:.1e}" if "H_rel_err" in row else \
            f"top-{K} eig rel err {row['eig_rel_err']:.1e} (vs float64 map {row['eig_rel_err_f64']:.1e}), " \
            f"{res.n_products} products" + ("" if res.converged else ", NOT converged")
        how = f"median of {r}" + (f", resolved {res.method}" if name == "auto" else "")
        log(f"  {name + (f' k={k}' if k else ''):<18} {t:8.3f} s  ({how}; {extra})")
    m = out["methods"]
    if "jacobian" in m:
        out["jacobian_over_floor"] = m["jacobian"]["seconds"] / t_floor
        if "bp" in m:
            out["bp_over_jacobian"] = m["bp"]["seconds"] / m["jacobian"]["seconds"]
    if "backward-iter" in m and "auto-k20" in m:
        out["backward_iter_over_auto"] = m["backward-iter"]["seconds"] / m["auto-k20"]["seconds"]
    for key in ("bp_over_jacobian", "jacobian_over_floor", "backward_iter_over_auto"):
        if key in out:
            log(f"  {key.replace('_over_', ' / ')}: {out[key]:.2f}")
    return out


def dcgan_face_cases(quick: bool = False) -> list[tuple[str, object, int | None]]:
    """(label, distance, reference chunk) of the dcgan-face cases: mse and lpips-alex at 64 px, lpips-alex at 256."""
    cases = [("dcgan-face mse 64", ganmetric.load_distance("mse"), None),
             ("dcgan-face lpips-alex 64", ganmetric.load_distance("lpips-alex", lpips_backbone="random"), None)]
    if not quick:
        cases.append(("dcgan-face lpips-alex 256",
                      ganmetric.load_distance("lpips-alex", lpips_backbone="random", resize=256), 25))
    return cases


def floor_ratios(reps: int, quick: bool = False, log=print) -> dict:
    """``t(jacobian) / t(floor)`` on dcgan-face: medians of ``reps`` runs, interleaved across every case and job.

    ``jacobian`` is ``metric_tensor(method="jacobian")`` as a user calls it (probe, products,
    Gram, eigh); the floor one no-grad forward of the n codes through G and ``D.features``.
    """
    G = ganmetric.load_generator("dcgan-face")
    z, n = G.sample(1, seed=0), G.latent_dim
    jobs = []
    for label, D, _ in dcgan_face_cases(quick):
        jobs.append((label, "floor", floor_fn(G, D, n)))
        jobs.append((label, "jacobian", lambda D=D: metric_tensor(G, D, z, method="jacobian")))
    times = {(label, name): [] for label, name, _ in jobs}
    for _, _, fn in jobs:
        fn()  # warm-up
    for _ in range(reps):
        for label, name, fn in jobs:
            t0 = time.perf_counter()
            fn()
            times[label, name].append(time.perf_counter() - t0)
    out = {}
    for label in dict.fromkeys(label for label, _, _ in jobs):
        tf, tj = statistics.median(times[label, "floor"]), statistics.median(times[label, "jacobian"])
        # each jacobian run next to the floor run just before it: load from other jobs drifts less within a pair
        paired = statistics.median(j / f for f, j in zip(times[label, "floor"], times[label, "jacobian"]))
        out[label] = {"floor": tf, "jacobian": tj, "ratio": tj / tf, "paired_ratio": paired,
                      "floor_all": times[label, "floor"], "jacobian_all": times[label, "jacobian"]}
        log(f"  {label:<26} floor {tf:.3f} s  jacobian {tj:.3f} s  jacobian/floor {tj / tf:.2f} "
            f"(median of paired ratios {paired:.2f}; target <= 1.2: {'PASS' if tj / tf <= 1.2 else 'MISS'})")
    return out


def cold_start() -> dict:
    """First and second ``metric_tensor(jacobian)`` calls in a fresh process, and torch._dynamo's import."""
    code = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import torch, ganmetric
t1 = time.perf_counter()
G = ganmetric.load_generator("dcgan-face"); D = ganmetric.load_distance("mse"); z = G.sample(1, seed=0)
t2 = time.perf_counter()
ganmetric.metric_tensor(G, D, z, method="jacobian")
t3 = time.perf_counter()
ganmetric.metric_tensor(G, D, z, method="jacobian")
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_call": t3 - t2, "second_call": t4 - t3}))
"""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    res = json.loads(subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True,
                                    env=env, check=True).stdout.strip().splitlines()[-1])
    dyn = subprocess.run([sys.executable, "-c", "import time, torch; t = time.perf_counter(); import torch._dynamo; "
                          "print(time.perf_counter() - t)"], capture_output=True, text=True, env=env, check=True)
    res["import_torch_dynamo"] = float(dyn.stdout.strip().splitlines()[-1])
    return res


def verdicts(results: dict) -> list[tuple[str, str, str, bool]]:
    """(case, target, measured, passed) rows."""
    rows = []
    e = TARGETS["eig_rel_err"]
    for cfg in results["configs"]:
        lab, m = cfg["label"], cfg["methods"]
        if "bp_over_jacobian" in cfg:
            rows.append((lab, f"t(bp)/t(jacobian) >= {TARGETS['bp_over_jacobian']:g}",
                         f"{cfg['bp_over_jacobian']:.2f}", cfg["bp_over_jacobian"] >= TARGETS["bp_over_jacobian"]))
        if "jacobian_over_floor" in cfg:
            rows.append((lab, f"t(jacobian)/t(floor) <= {TARGETS['jacobian_over_floor']:g}",
                         f"{cfg['jacobian_over_floor']:.2f}",
                         cfg["jacobian_over_floor"] <= TARGETS["jacobian_over_floor"]))
        if "backward_iter_over_auto" in cfg:
            err = m["auto-k20"]["eig_rel_err"]
            rows.append((lab, f"t(backward-iter)/t(auto k=20) >= {TARGETS['backward_iter_over_auto']:g}, err <= {e:g}",
                         f"{cfg['backward_iter_over_auto']:.2f}, err {err:.1e} (backward-iter "
                         f"{m['backward-iter']['eig_rel_err']:.1e})",
                         cfg["backward_iter_over_auto"] >= TARGETS["backward_iter_over_auto"] and err <= e))
        if "gn-lanczos" in m:
            err = m["gn-lanczos"]["eig_rel_err"]
            rows.append((lab, f"gn-lanczos top-{K} eig rel err <= {e:g}", f"{err:.1e}", err <= e))
        if cfg.get("large") and "jacobian" in m and "gn-lanczos" in m:
            tj, tl = m["jacobian"]["seconds"], m["gn-lanczos"]["seconds"]
            rows.append((lab, "t(gn-lanczos k=20) < t(jacobian)", f"{tl:.2f} s vs {tj:.2f} s", tl < tj))
    return rows


def machine() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
            "loadavg_start": os.getloadavg()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 rep, skip resize=256")
    ap.add_argument("--reps", type=int, default=None, help="timed runs per method (default 3, quick 1)")
    ap.add_argument("--slow-reps", type=int, default=1, help="timed runs of bp at 256 px (default 1: ~10 s each)")
    ap.add_argument("--large-n", type=int, default=1024, help="latent size of the random DCGAN")
    ap.add_argument("--no-cold", action="store_true", help="skip the fresh-process first-call timing")
    ap.add_argument("--floor-only", action="store_true", help="only t(jacobian)/t(floor) of the dcgan-face cases")
    ap.add_argument("--json", type=Path, default=None, help="also write every measurement to this file")
    args = ap.parse_args(argv)
    if args.floor_only:
        info = machine()
        reps = args.reps or 7
        print(f"torch {info['torch']} | {info['threads']} threads | {info['cpu_count']} CPUs | load avg "
              f"{info['loadavg_start'][0]:.2f} | float32, median of {reps} interleaved runs after a warm-up")
        ratios = floor_ratios(reps, quick=args.quick)
        if args.json:
            args.json.write_text(json.dumps({"machine": info, "reps": reps, "floor_ratios": ratios}, indent=1))
        return 0
    reps = args.reps or (1 if args.quick else 3)
    slow_reps = min(args.slow_reps, reps)
    torch.manual_seed(0)
    info = machine()
    print(f"ganmetric {ganmetric.__version__} | torch {info['torch']} | {info['threads']} threads | "
          f"{info['cpu_count']} CPUs ({info['processor']}) | load avg {info['loadavg_start'][0]:.2f} | "
          f"float32, median of {reps} after a warm-up")
    t_start = time.perf_counter()
    results = {"machine": info, "reps": reps, "slow_reps": slow_reps, "configs": []}
    if not args.no_cold:
        cold = cold_start()
        results["cold_start"] = cold
        print(f"cold start (fresh process, dcgan-face + mse): import {cold['import']:.2f} s, "
              f"load {cold['load']:.2f} s, "
              f"first jacobian call {cold['first_call']:.2f} s, second {cold['second_call']:.2f} s "
              f"(of which torch._dynamo import alone, in a fresh process: {cold['import_torch_dynamo']:.2f} s)")

    G = ganmetric.load_generator("dcgan-face")
    z = G.sample(1, seed=0)
    for label, D, ref_chunk in dcgan_face_cases(args.quick):
        print(f"\n[{label}] n = {G.latent_dim}")
        results["configs"].append(bench_config(label, G, D, z, reps=reps, slow_reps=slow_reps, methods=METHODS,
                                               ref_chunk=ref_chunk))

    Gl = random_dcgan(args.large_n)
    zl = Gl.sample(1, seed=0)
    label = f"random dcgan nz={args.large_n} mse 64"
    print(f"\n[{label}] n = {args.large_n}")
    cfg = bench_config(label, Gl, ganmetric.load_distance("mse"), zl, reps=reps, slow_reps=slow_reps,
                       methods=[("jacobian", None), ("gn-lanczos", K)], ref_chunk=256)
    cfg["large"] = True
    results["configs"].append(cfg)

    rows = verdicts(results)
    results["verdicts"] = [{"case": c, "target": t, "measured": m, "pass": p} for c, t, m, p in rows]
    results["total_seconds"] = time.perf_counter() - t_start
    results["machine"]["loadavg_end"] = os.getloadavg()
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f"\n{'case':<{w[0]}}  {'target':<{w[1]}}  {'measured':<{w[2]}}  verdict")
    for c, t, m, p in rows:
        print(f"{c:<{w[0]}}  {t:<{w[1]}}  {m:<{w[2]}}  {'PASS' if p else 'MISS'}")
    print(f"\ntotal {results['total_seconds']:.0f} s; load avg at the end {results['machine']['loadavg_end'][0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
