"""The metric engine on one large GPU: four cases, their times, errors and peak memory, as JSON and a Markdown table.

One command (about 8 minutes at most on an H100/H200-class GPU; nothing is downloaded; the
BigGAN case needs pytorch-pretrained-biggan, ``pip install -e ".[biggan]"``)::

    python benchmarks/bench_gpu.py --device cuda --out bench_gpu

Every product runs in exact float32 (TF32 off: ``metric_tensor``'s default, recorded in the
report as ``float32_precision``). The report is rewritten after each case, and a case that
fails (a missing package, out of memory, ...) records its error and the others still run; the
script exits 1 when a case failed or a threshold did not hold (every run converged, every
error against jacobian at most :data:`MAX_ERROR`).

Cases (float32, random weights throughout: a machine without network can run it):

1. ``dcgan-face`` (its cached pretrained weights when present, else the same architecture with
   seeded random weights) with ``lpips-alex`` (random backbone, ``random:0``) at 256 px: the full
   H by ``jacobian`` and by the paper's ``bp``, and the top 20 by the paper's ``backward-iter``;
   times as ratios to ``jacobian``, errors relative to ``jacobian``'s H.
2. BigGAN-deep-256's architecture (random weights, spectral norms converged) in ``full``
   (n = 256), pixel ``mse``: the full ``jacobian`` and ``gn-lanczos`` top 20.
3. StyleGAN2 256 px (rosinality's FFHQ-256 architecture, random weights) in ``w`` (n = 512):
   ``jacobian`` and ``gn-lanczos`` top 20.
4. StyleGAN2 1024 px (config-f architecture, random weights) in ``w+`` (n = 9216):
   ``gn-lanczos`` top 100 with ``chunk="auto"`` (the chunk it chose is reported).

Each case reports seconds, the chunk used, peak memory of the run (CUDA:
``torch.cuda.max_memory_allocated`` after a reset; CPU: the process's peak RSS, monotone) and,
for top-k methods, the products, whether Lanczos converged and the largest relative error of
the top-k eigenvalues against the full ``jacobian`` where that was computed.

``--quick`` runs the same four cases at tiny sizes on the CPU (seconds; tests/test_bench_gpu.py
runs it so that this script cannot rot).
"""
from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ganmetric  # noqa: E402
from ganmetric.errors import first_line  # noqa: E402
from ganmetric.generators.base import cpu_init_seed  # noqa: E402
from ganmetric.io import atomic_write_bytes, write_json  # noqa: E402
from ganmetric.precision import settings as precision_settings  # noqa: E402

#: the largest error against jacobian that a run may have (float32 products, TF32 off)
MAX_ERROR = 1e-5

#: BigGAN-deep-256's blocks (pytorch-pretrained-biggan's config for biggan-deep-256)
BIGGAN_DEEP_256 = dict(output_dim=256, layers=[(False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8),
                                               (False, 8, 8), (True, 8, 8), (False, 8, 4), (True, 4, 4),
                                               (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1)],
                       attention_layer_position=8)
#: a tiny BigGAN-deep for --quick (the tests' configuration)
BIGGAN_TINY = dict(output_dim=16, z_dim=16, class_embed_dim=16, channel_width=4, num_classes=10,
                   layers=[(False, 16, 8), (False, 8, 4), (True, 4, 2), (True, 2, 1)], attention_layer_position=2)


# --- models (random weights, built from the repository and installed packages only) ---

def dcgan_face(device, dtype=torch.float32):
    """dcgan-face with its pretrained weights if they are cached here, else seeded random ones (no download)."""
    from ganmetric.generators import registry, weights
    spec = registry.available_configs()["dcgan-face"]["weights"]
    cached = weights._installed_member(spec) is not None or weights.is_cached("dcgan-face", spec)
    G = ganmetric.load_generator("dcgan-face", device=device, pretrained=cached)
    return G.to(dtype=dtype), ("pretrained" if cached else "random")


def random_biggan(config: dict, device, dtype=torch.float32, seed: int = 0):
    """A BigGAN-deep of ``config`` with random weights, converged spectral norms, in ``full`` (n = 2 z_dim)."""
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    from ganmetric.generators.biggan import BigGANGenerator
    with cpu_init_seed(seed):  # the package initialises from the global CPU RNG (restored; CUDA's untouched)
        model = BigGAN(BigGANConfig(**config))
    with torch.no_grad():
        model.generator.bn.weight.fill_(1.0)  # left uninitialised by the package
        model.generator.bn.bias.zero_()
        for m in model.modules():
            if hasattr(m, "weight_orig") and hasattr(m, "weight_u"):  # sigma = the true spectral norm
                U, S, Vh = torch.linalg.svd(m.weight_orig.reshape(m.weight_orig.shape[0], -1), full_matrices=False)
                m.weight_u.copy_(U[:, 0])
                m.weight_v.copy_(Vh[0])
            if hasattr(m, "gamma"):
                m.gamma.fill_(0.5)
    G = BigGANGenerator(model.eval(), name=f"biggan-deep-{model.config.output_dim}-random", latent_space="full")
    return G.to(device=device, dtype=dtype).freeze()


def random_stylegan2(size: int, space: str, device, dtype=torch.float32, *, style_dim: int = 512, n_mlp: int = 8,
                     channels: list[int] | None = None, seed: int = 0):
    """A StyleGAN2 of side ``size`` (rosinality's architecture unless ``channels``) with seeded random weights."""
    from ganmetric.generators.stylegan2 import StyleGAN2Generator
    from ganmetric.generators.stylegan2_layers import StyleGAN2Network, rosinality_channels
    net = StyleGAN2Network(channels=channels or rosinality_channels(size), style_dim=style_dim,
                           n_mlp=n_mlp, seed=seed)
    G = StyleGAN2Generator(net, name=f"stylegan2-{size}-random", latent_space=space)
    return G.to(device=device, dtype=dtype).freeze()


def tiny_dcgan(device, dtype=torch.float32):
    """A small DCGAN (nz 8, 32 px) with seeded random weights, for --quick."""
    from ganmetric.generators.dcgan import DCGANGenerator
    with cpu_init_seed(0):
        G = DCGANGenerator(name="dcgan-tiny-random", nz=8, ngf=8, nc=3, resolution=32)
    return G.to(device=device, dtype=dtype).freeze(), "random"


# --- measuring ---

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":  # this script owns the process: the peak statistic is its own to reset
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float:
    """CUDA: the allocator's peak since the last reset; CPU: the process's peak RSS (monotone)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def warm_up(G, D, z) -> None:
    """A couple of Gauss-Newton products first, so that one-off costs (kernel selection, the first
    torch.func use) do not land in the first timed run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ganmetric.NumericalWarning)  # two products converge nothing
        ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=1, max_iter=2, chunk=2, probe=False)


def run(G, D, z, method: str, k: int | None = None, **options) -> tuple[dict, object]:
    """One ``metric_tensor`` run: its record (seconds, chunk, products, convergence, peak memory) and result."""
    device = z.device
    _sync(device)
    _reset_peak(device)
    t0 = time.perf_counter()
    res = ganmetric.metric_tensor(G, D, z, method=method, k=k, probe=False, **options)
    _sync(device)
    seconds = time.perf_counter() - t0
    record = {"method": method, "k": k, "seconds": round(seconds, 4), "chunk": res.options.get("chunk"),
              "products": res.n_products, "converged": bool(res.converged), "peak_mib": round(_peak_mib(device), 1)}
    return record, res


def _rel_fro(H, ref) -> float:
    return float((H.double() - ref.double()).norm() / ref.double().norm())


def _top_error(res, ref) -> float:
    """Largest |lambda_i - lambda_i(ref)| over the top k, relative to the reference's lambda_1."""
    k = res.eigvals.shape[0]
    ref_vals = ref.eigvals[:k].double()
    return float((res.eigvals.double() - ref_vals).abs().max() / ref_vals[0].abs())


def _compare(records: list[dict], results: list, ref_index: int = 0) -> None:
    """Add ratio and error (against the run at ``ref_index``, a full H) to every record."""
    ref_rec, ref = records[ref_index], results[ref_index]
    for rec, res in zip(records, results):
        rec["ratio"] = round(rec["seconds"] / ref_rec["seconds"], 3)
        rec["error"] = _rel_fro(res.H, ref.H) if res.H is not None else _top_error(res, ref)
        rec["error_kind"] = "rel. Frobenius of H" if res.H is not None else "top-k eigenvalues / lambda_1"


# --- the four cases ---

def case_dcgan_lpips(args, device) -> dict:
    G, weights = (tiny_dcgan if args.quick else dcgan_face)(device)
    resize = None if args.quick else 256
    D = ganmetric.load_distance("lpips-alex", device=device, lpips_backbone="random", resize=resize)
    z = G.sample(1, seed=0).to(device)
    warm_up(G, D, z)
    k = 4 if args.quick else 20
    runs = [run(G, D, z, "jacobian"), run(G, D, z, "bp"), run(G, D, z, "backward-iter", k=k)]
    records, results = [r[0] for r in runs], [r[1] for r in runs]
    _compare(records, results)
    return {"case": "dcgan-face + lpips-alex (random backbone)", "model": G.name, "weights": weights,
            "distance": f"lpips-alex random:0, {resize or G.resolution} px", "space": "z", "n": G.latent_dim,
            "runs": records}


def _jacobian_and_top(G, D, z, k: int, **lanczos) -> list[dict]:
    warm_up(G, D, z)
    runs = [run(G, D, z, "jacobian"), run(G, D, z, "gn-lanczos", k=k, **lanczos)]
    records, results = [r[0] for r in runs], [r[1] for r in runs]
    _compare(records, results)
    return records


def _full_and_top_case(G, args, device, case: str, space: str) -> dict:
    """A random-weights model's full jacobian and top-20 (top-4 at --quick), as one case record."""
    D = ganmetric.load_distance(args.distance, device=device, **_distance_options(args))
    z = G.sample(1, seed=0).to(device)
    return {"case": case, "model": G.name, "weights": "random", "distance": args.distance, "space": space,
            "n": G.latent_dim, "runs": _jacobian_and_top(G, D, z, 4 if args.quick else 20)}


def case_biggan(args, device) -> dict:
    G = random_biggan(BIGGAN_TINY if args.quick else {**BIGGAN_DEEP_256}, device)
    return _full_and_top_case(G, args, device, "BigGAN-deep-256 architecture, random weights", "full")


def case_stylegan2_w(args, device) -> dict:
    G = (random_stylegan2(16, "w", device, style_dim=16, n_mlp=2, channels=[16, 16, 8]) if args.quick
         else random_stylegan2(256, "w", device))
    return _full_and_top_case(G, args, device, "StyleGAN2-256 architecture, random weights", "w")


def case_stylegan2_wplus(args, device) -> dict:
    G = (random_stylegan2(16, "w+", device, style_dim=16, n_mlp=2, channels=[16, 16, 8]) if args.quick
         else random_stylegan2(1024, "w+", device))
    D = ganmetric.load_distance(args.distance, device=device, **_distance_options(args))
    z = G.sample(1, seed=0).to(device)
    warm_up(G, D, z)
    k = 8 if args.quick else 100
    record, _ = run(G, D, z, "gn-lanczos", k=k, chunk="auto", max_iter=args.max_iter)
    return {"case": "StyleGAN2-1024 architecture, random weights, w+ (auto chunk)", "model": G.name,
            "weights": "random", "distance": args.distance, "space": "w+", "n": G.latent_dim, "runs": [record]}


CASES = {"dcgan-lpips": case_dcgan_lpips, "biggan-256": case_biggan, "stylegan2-256-w": case_stylegan2_w,
         "stylegan2-1024-w+": case_stylegan2_wplus}


def _distance_options(args) -> dict:
    return {"lpips_backbone": "random", "resize": 256} if args.distance.startswith("lpips") else {}


# --- output ---

def markdown(report: dict) -> str:
    """The runs as one Markdown table."""
    lines = [f"GPU benchmark: {report['device']}, torch {report['torch']}, float32, TF32 off"
             + (" (--quick: tiny models)" if report["quick"] else ""), "",
             "| case | n | method | k | chunk | seconds | / jacobian | error vs jacobian | products | converged "
             "| peak MiB |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for case in report["cases"]:
        if "error" in case:
            lines.append(f"| {case['case']} | | failed: {case['error']} | | | | | | | | |")
            continue
        for r in case["runs"]:
            err = f"{r['error']:.1e}" if "error" in r else ""
            ratio = f"{r['ratio']:.2f}" if "ratio" in r else ""
            lines.append(f"| {case['model']} ({case['space']}, {case['distance']}) | {case['n']} | {r['method']} "
                         f"| {r['k'] or ''} | {r['chunk'] or ''} | {r['seconds']:.2f} | {ratio} | {err} "
                         f"| {r['products']} | {'yes' if r['converged'] else 'no'} | {r['peak_mib']:.0f} |")
    lines += ["", "Errors: full H against jacobian's (relative Frobenius); top-k against jacobian's top k "
              "(largest eigenvalue difference / lambda_1). Peak: CUDA max_memory_allocated per run "
              "(CPU: the process's peak RSS so far).", ""]
    failed = threshold_failures(report)
    lines.append("Thresholds (every run converged, errors <= %g): %s" % (MAX_ERROR, "; ".join(failed) or "all hold"))
    return "\n".join(lines) + "\n"


def threshold_failures(report: dict) -> list[str]:
    """What broke the thresholds: failed cases, runs that did not converge, errors above :data:`MAX_ERROR`."""
    out = []
    for case in report["cases"]:
        if "error" in case:
            out.append(f"{case['case']} failed")
            continue
        for r in case["runs"]:
            if not r["converged"]:
                out.append(f"{case['model']} {r['method']} did not converge")
            if r.get("error", 0.0) > MAX_ERROR:
                out.append(f"{case['model']} {r['method']} error {r['error']:.1e}")
    return out


def run_cases(args, device, report: dict, write) -> None:
    """Run the chosen cases in order; after each, its record (or its error) is in ``report`` and written."""
    t0 = time.perf_counter()
    for key in args.cases:
        try:
            record = CASES[key](args, device)
        except Exception as exc:  # recorded: the other cases still run, and what ran is kept
            record = {"case": key, "error": f"{type(exc).__name__}: {first_line(exc)}"}
        finally:
            _release(device)
        report["cases"].append(record)
        report["seconds"] = round(time.perf_counter() - t0, 1)
        write(report)
        print(f"{key}: {'failed (' + record['error'] + ')' if 'error' in record else 'done'} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)


def _release(device: torch.device) -> None:
    """Give a finished (or failed) case's memory back before the next one."""
    import gc
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    ap.add_argument("--out", default="bench_gpu", help="folder for bench_gpu.json and bench_gpu.md")
    ap.add_argument("--quick", action="store_true", help="tiny models on the CPU (seconds): the script's own test")
    ap.add_argument("--distance", default="mse", choices=["mse", "lpips-alex"],
                    help="distance of the BigGAN and StyleGAN2 cases (lpips-alex: random backbone, 256 px)")
    ap.add_argument("--max-iter", type=int, default=1000, help="products at most for the StyleGAN2-1024 top 100")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = ap.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() and not args.quick else "cpu"))
    if args.quick:
        args.max_iter = None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    report = {"device": name, "torch": torch.__version__, "quick": args.quick,
              "float32_precision": precision_settings(allow_tf32=False), "cases": []}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def write(rep: dict) -> None:
        write_json(out / "bench_gpu.json", rep)
        atomic_write_bytes(out / "bench_gpu.md", markdown(rep).encode())

    run_cases(args, device, report, write)
    report["threshold_failures"] = threshold_failures(report)
    write(report)
    print(markdown(report))
    return report


if __name__ == "__main__":
    sys.exit(1 if main()["threshold_failures"] else 0)
