"""Cold start (issue 16): what a user pays in a fresh process, before the first result.

Times, each in ``--runs`` fresh processes (the median is reported, every run is kept in
the JSON), with the dcgan-face weights already cached:

- ``python -c "import torch"``: the floor no ganmetric change can go below;
- ``python -c "import ganmetric"`` and ``ganmetric --help``;
- the README's main command, ``ganmetric hessian --model dcgan-face --distance mse --seed 0
  --out face.npz``, and its excess over ``import torch`` (the target: at most 1.5 s);
- the same with ``--distance lpips-alex --lpips-backbone random`` (LPIPS's own cold cost);
- inside one fresh process: import, load, the first and the second ``metric_tensor`` call
  (dcgan-face, mse, and lpips-alex with the random backbone), and whether ``torch._dynamo``
  was imported by then (under ``vmap(jvp)`` an elementwise op between a tangent and a
  constant runs a decomposition whose first call imports it: about 2 s).

The runs of the different commands are interleaved (run 1 of each, then run 2, ...), so
load from other jobs on a shared machine hits them alike. This checkout is measured, not
an installed copy (``PYTHONPATH`` is set to it).

Usage::

    flock /tmp/bench.lock python benchmarks/bench_cold.py [--runs 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

IN_PROCESS = r"""
import json, sys, time
t0 = time.perf_counter()
import ganmetric
t1 = time.perf_counter()
G = ganmetric.load_generator("dcgan-face")
D = ganmetric.load_distance(sys.argv[1], **({"lpips_backbone": "random"} if sys.argv[1] != "mse" else {}))
z = G.sample(1, seed=0)
t2 = time.perf_counter()
ganmetric.metric_tensor(G, D, z)
t3 = time.perf_counter()
ganmetric.metric_tensor(G, D, z)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_call": t3 - t2, "second_call": t4 - t3,
                  "dynamo_imported": "torch._dynamo" in sys.modules,
                  "torchvision_imported": "torchvision" in sys.modules}))
"""

#: one method's first and second call on dcgan-face + mse in a fresh process (``--methods``)
METHOD_CALLS = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import ganmetric
G = ganmetric.load_generator("dcgan-face")
D = ganmetric.load_distance("mse")
z = G.sample(1, seed=0)
method = sys.argv[1]
opts = {"k": 5, "max_iter": 10} if method in ("backward-iter", "forward-iter") else (
    {"k": 5} if method == "gn-lanczos" else {})
times = []
for _ in range(2):
    t0 = time.perf_counter()
    ganmetric.metric_tensor(G, D, z, method=method, **opts)
    times.append(time.perf_counter() - t0)
print(json.dumps({"first_call": times[0], "second_call": times[1], "dynamo_imported": "torch._dynamo" in sys.modules,
                  "sympy_imported": "sympy" in sys.modules}))
"""


def _env() -> dict:
    path = os.pathsep.join([str(ROOT), str(ROOT / "cli"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return dict(os.environ, PYTHONPATH=path, PYTHONWARNINGS="ignore")


def _wall(cmd: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - t0


def _in_process(distance: str, cwd: str) -> dict:
    out = subprocess.run([sys.executable, "-c", IN_PROCESS, distance], cwd=cwd, env=_env(), check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def commands(out_dir: str) -> dict[str, list[str]]:
    """Name -> argv of every fresh-process command timed by wall clock."""
    py = sys.executable
    return {
        "import torch": [py, "-c", "import torch"],
        "import ganmetric": [py, "-c", "import ganmetric"],
        "ganmetric --help": [py, "-m", "ganmetric_cli", "--help"],
        "hessian (README main command)": [py, "-m", "ganmetric_cli", "hessian", "--model", "dcgan-face",
                                          "--distance", "mse", "--seed", "0", "--out",
                                          str(Path(out_dir) / "face.npz")],
        "hessian lpips-alex (random backbone)": [py, "-m", "ganmetric_cli", "hessian", "--model", "dcgan-face",
                                                 "--distance", "lpips-alex", "--lpips-backbone", "random",
                                                 "--seed", "0", "--out", str(Path(out_dir) / "face_lpips.npz")],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per command (default 5)")
    ap.add_argument("--distances", default="mse,lpips-alex", help="distances of the in-process timing")
    ap.add_argument("--json", type=Path, default=None, help="also write every measurement to this file")
    ap.add_argument("--methods", default="", help="comma-separated methods: also time each one's first and second "
                    "call on dcgan-face + mse in fresh processes (e.g. jacobian,gn-lanczos,fwd-over-rev)")
    args = ap.parse_args(argv)
    walls: dict[str, list[float]] = {}
    inproc: dict[str, list[dict]] = {d: [] for d in args.distances.split(",") if d}
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(tmp)
        _wall(cmds["hessian (README main command)"], tmp)  # warm the page cache, untimed
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                walls.setdefault(name, []).append(_wall(cmd, tmp))
            for dist in inproc:
                inproc[dist].append(_in_process(dist, tmp))
    med = {name: statistics.median(ts) for name, ts in walls.items()}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"median of {args.runs} fresh processes, load avg {os.getloadavg()[0]:.2f}")
    for name, t in med.items():
        print(f"  {name:<38} {t:6.2f} s   (runs: {', '.join(f'{x:.2f}' for x in walls[name])})")
    excess = med["hessian (README main command)"] - med["import torch"]
    verdict = "PASS" if excess <= 1.5 else "MISS"
    print(f"  {'main command - import torch':<38} {excess:6.2f} s   (target <= 1.5 s: {verdict})")
    summary = {}
    for dist, rows in inproc.items():
        summary[dist] = {key: statistics.median(r[key] for r in rows)
                         for key in ("import", "load", "first_call", "second_call")}
        summary[dist]["dynamo_imported"] = [r["dynamo_imported"] for r in rows]
        summary[dist]["torchvision_imported"] = [r["torchvision_imported"] for r in rows]
        s = summary[dist]
        print(f"  in process, dcgan-face + {dist}: import ganmetric {s['import']:.2f} s, load {s['load']:.2f} s, "
              f"first metric_tensor {s['first_call']:.2f} s, second {s['second_call']:.2f} s, "
              f"torch._dynamo imported: {any(s['dynamo_imported'])}, torchvision: {any(s['torchvision_imported'])}")
    methods = {}
    for method in (m for m in args.methods.split(",") if m):
        rows = []
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, "-c", METHOD_CALLS, method], env=_env(), check=True,
                                 capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
        methods[method] = {"first_call": statistics.median(r["first_call"] for r in rows),
                           "second_call": statistics.median(r["second_call"] for r in rows),
                           "dynamo_imported": any(r["dynamo_imported"] for r in rows),
                           "sympy_imported": any(r["sympy_imported"] for r in rows), "runs": rows}
        m = methods[method]
        print(f"  fresh process, dcgan-face + mse, {method:<13} first {m['first_call']:.2f} s, second "
              f"{m['second_call']:.2f} s, torch._dynamo imported: {m['dynamo_imported']}, sympy: {m['sympy_imported']}")
    if args.json:
        args.json.write_text(json.dumps({"walls": walls, "median": med, "excess_over_torch": excess,
                                         "in_process": inproc, "in_process_median": summary, "methods": methods,
                                         "loadavg": os.getloadavg()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
