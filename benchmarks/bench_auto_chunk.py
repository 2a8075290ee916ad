"""What ``chunk="auto"`` chooses on this machine, and the measured peak memory of one pass at that chunk.

Run under the benchmark lock on shared machines (CPU; each measurement in a fresh process)::

    flock /tmp/bench.lock python benchmarks/bench_auto_chunk.py

For dcgan-face (cached pretrained weights, else random), BigGAN-deep-128 (random weights,
``full``, n = 256) and StyleGAN2-256 (random weights, ``w``, n = 512), pixel ``mse``, and the
methods ``jacobian`` (one batched jvp pass) and ``gn-lanczos`` (one batched jvp + vjp pass):

- the free memory ``auto`` saw, its bytes per tangent and the chunk it chose;
- one pass of ``c`` tangents (the auto chunk, or ``--max-chunk`` when that is smaller, to keep
  a CPU run short) and its measured peak: the rise of the process's resident set above its
  level before the pass (``VmHWM`` after ``/proc/self/clear_refs`` reset it, minus ``VmRSS``);
  torch's CPU allocator hands big blocks straight to the kernel, so RSS follows what torch
  holds, while tracemalloc sees none of it;
- the estimate for that pass (``c`` x bytes per tangent, plus its ``c`` output rows and
  ``chunking.PASS_OVERHEAD``) and the ratio estimate / measured (above 1: the estimate errs on
  the safe side).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

MODELS = ("dcgan-face", "biggan-deep-128", "stylegan2-256")
#: the measuring process's environment: one thread, and glibc's malloc handing every block of
#: 128 KiB or more straight to the kernel and back (its default raises that threshold after
#: frees, keeping freed memory resident, which blurs a peak measured as a rise of the RSS)
MEASURING_ENV = {"OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "131072"}
PRODUCTS = {"jacobian": "jacobian", "gn-lanczos": "gauss-newton"}


def _model(name: str):
    import bench_gpu
    if name == "dcgan-face":
        return bench_gpu.dcgan_face("cpu")[0]
    if name == "biggan-deep-128":
        return bench_gpu.random_biggan({}, "cpu")
    return bench_gpu.random_stylegan2(256, "w", "cpu")


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_one(model: str, method: str, max_chunk: int, repeats: int = 1) -> dict:
    """In this process: the auto choice, then passes of min(auto, max_chunk) tangents and the least peak of them."""
    import ganmetric
    from ganmetric import chunking
    from ganmetric.hessian import GaussNewtonOperator, Objective
    torch.set_num_threads(1)
    G = _model(model)
    D = ganmetric.load_distance("mse")
    z0 = G.sample(1, seed=0)[0]
    obj = Objective(G, D, z0)
    product = PRODUCTS[method]
    choice = chunking.auto_chunk(obj.forward_memory(chunking.COSTS[product].features), product, G.latent_dim,
                                 z0.device)
    c = min(choice.chunk, max_chunk)
    if method == "jacobian":
        def one_pass(V):
            return obj.jvp(obj.psi, V)
    else:
        op = GaussNewtonOperator(obj, chunk=c)

        def one_pass(V):
            return op.matmat(V.T.contiguous())
    g = torch.Generator().manual_seed(0)
    one_pass(torch.randn(2, G.latent_dim, generator=g))  # warm-up: one-off allocations are not the pass's
    V = torch.randn(c, G.latent_dim, generator=g)
    peaks, seconds = [], []
    for _ in range(repeats):  # the least of a few: anything else the process does only adds
        gc.collect()
        before = _status_bytes("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        t0 = time.perf_counter()
        one_pass(V)
        seconds.append(time.perf_counter() - t0)
        peaks.append(_status_bytes("VmHWM") - before)
    measured, seconds = min(peaks), min(seconds)
    out_rows = c * obj.forward_memory(features=True).out
    estimate = c * choice.per_tangent + out_rows + chunking.PASS_OVERHEAD
    mib = 2 ** 20
    return {"model": model, "method": method, "n": G.latent_dim, "free_mib": round(choice.free / mib),
            "per_tangent_mib": round(choice.per_tangent / mib, 2), "auto_chunk": choice.chunk, "pass_chunk": c,
            "estimate_mib": round(estimate / mib, 1), "measured_mib": round(measured / mib, 1),
            "ratio": round(estimate / max(measured, 1), 2), "seconds": round(seconds, 2)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--methods", nargs="+", choices=list(PRODUCTS), default=list(PRODUCTS))
    ap.add_argument("--max-chunk", type=int, default=64, help="tangents in the measured pass at most (CPU time)")
    ap.add_argument("--repeats", type=int, default=1, help="passes measured per case (the least peak is kept)")
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(*args.one, args.max_chunk, args.repeats)))
        return
    env = {**os.environ, **MEASURING_ENV}
    print("| model | n | method | free MiB | MiB per tangent | auto chunk | pass of | estimate MiB "
          "| measured MiB | estimate / measured | pass s |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models:
        for method in args.methods:
            out = subprocess.run([sys.executable, __file__, "--one", model, method, "--max-chunk",
                                  str(args.max_chunk), "--repeats", str(args.repeats)], capture_output=True,
                                 text=True, env=env, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {model} | {r['n']} | {method} | {r['free_mib']} | {r['per_tangent_mib']} | {r['auto_chunk']} "
                  f"| {r['pass_chunk']} | {r['estimate_mib']} | {r['measured_mib']} | {r['ratio']} "
                  f"| {r['seconds']} |", flush=True)


if __name__ == "__main__":
    main()
