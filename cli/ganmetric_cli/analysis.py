"""``ganmetric batch | spectrum | homogeneity | average``: geometry over many latent points."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from ganmetric import analysis
from ganmetric.io import atomic_save_npz, atomic_write_bytes, check_suffix, check_writable, write_json
from ganmetric.staging import written_together

from ganmetric.distances import describe_distance
from ganmetric.generators import describe_model

from .codes import CODE_FILES, read_codes
from .common import check_points_or_z, distance_options, metric_options, model_options, refuse_unused
from .errors import EXIT_FAILED, EXIT_INTERRUPTED
from .flags import bad_value
from .interrupts import stop_on_sigint
from .params import SEED


@click.command()
@model_options
@distance_options
@click.option("--points", "-n", "n_points", type=int, default=None,
              help="Number of latent points drawn from the model's prior.")
@click.option("--max-points", type=int, default=analysis.MAX_POINTS, show_default=True,
              help="The most points a batch may have: more (--points or rows of --z) are refused before anything is "
                   "drawn or written, with the size they would write; raise it for a larger batch.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed for --points: point i is row i of G.sample(N, seed), which does not depend on N, so "
                   "point 0 is `ganmetric hessian --seed S` and a larger --points extends the folder.")
@click.option("--z", "z_file", type=click.Path(dir_okay=False), default=None,
              help="Use these latent points instead: a .npy of shape (N, n). " + CODE_FILES)
@metric_options
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Batch folder: manifest.json, codes.npy, point_00000.npz, ...")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def batch(model_spec, device, dtype, distance_spec, n_points, max_points, seed, z_file, solver, out_dir, quiet):
    """Compute the metric at N latent points: one result file per point plus a manifest.

    Resumable: run the same command again and it keeps the points whose files are valid,
    recomputes missing or corrupt ones, and refuses a folder holding another model,
    distance, method or latent space. Killing it (Ctrl-C or SIGKILL) loses nothing already
    written and never leaves a half-written file; Ctrl-C stops after the current point
    (exit status 130). A larger --points with the same --seed extends the folder (its
    codes.npy is the record of the codes it holds).

    A run locks the folder: a second run into it is refused, naming the first (a killed
    run's lock is released by the system). A point whose image or metric is not finite is
    not saved: manifest.json records it as failed with its reason, the run ends with an
    error line saying how many failed, and the same command computes them again.

    Under torchrun the points are split across ranks (point i goes to rank i % WORLD_SIZE);
    the folder is the same, point for point, as a single-process run. With --device cuda each
    rank takes cuda:LOCAL_RANK when the node has a GPU per rank (nccl), cuda:0 when each rank
    sees one GPU (CUDA_VISIBLE_DEVICES per rank), and shares the GPUs round robin when ranks
    outnumber them (gloo in both); --device cuda:K puts every rank on GPU K.

    \b
    Examples:
      ganmetric batch --model dcgan-face --distance mse --points 300 --seed 0 --out face_mse
      torchrun --nproc_per_node=4 -m ganmetric_cli batch --device cuda --points 300 --out face_lpips
    """
    check_points_or_z(n_points, z_file)
    with analysis.process_group(device) as ctx:
        G = model_spec.load(device=str(ctx.device), dtype=dtype)
        D = distance_spec.load(device=str(ctx.device), dtype=dtype, generator=G)  # layer names checked before writing
        refuse_unused(solver, D, G.latent_dim)
        codes = read_codes(z_file, G.latent_dim) if z_file else \
            analysis.batch_codes(G, n_points, seed, out_dir, max_points=max_points, k=solver["k"])
        with stop_on_sigint("point") as stop:
            s = analysis.batch_metric(G, D, codes, out_dir, **solver, seed=None if z_file else seed, z_file=z_file,
                                      max_points=max_points, progress=not quiet, stop=stop)
        if s.interrupted:
            if ctx.is_main:
                click.echo(f"Interrupted: {s.computed} point(s) computed in this run are saved in {s.out_dir}; "
                           f"run the same command to resume.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        if ctx.is_main:
            _batch_summary(G, D, solver["method"], s)
        if s.failed and ctx.is_main:  # rank 0 alone fails: a failing rank makes torchrun stop the others mid-report
            click.echo(f"Error: {_failed_words(s)}", err=True)
            sys.exit(EXIT_FAILED)


def _batch_summary(G, D, method, s) -> None:
    click.echo(describe_model(G))
    click.echo(f"distance {describe_distance(D)}  method={method}  {s.n_points} points on {s.world_size} process(es)")
    click.echo(f"computed {s.computed} (recomputed {s.recomputed} corrupt/stale), kept {s.skipped} "
               f"already done" + (f", failed {s.failed}" if s.failed else "") + f"; {s.seconds:.1f} s"
               + (f", {s.seconds / s.computed * s.world_size:.2f} s per point per process" if s.computed else ""))
    click.echo(f"wrote {s.out_dir}/ (point_*.npz and {s.manifest.name})")


def _failed_words(s) -> str:
    """How many points failed, which, and why (each reason once)."""
    indices = list(s.failures)
    shown = ", ".join(map(str, indices[:8])) + (f" and {len(indices) - 8} more" if len(indices) > 8 else "")
    reasons = "; ".join(dict.fromkeys(s.failures.values()))
    return (f"{s.failed} of {s.n_points} points failed ({shown}): {reasons}. They are not saved; {s.manifest.name} "
            f"lists them, and running the same command computes them again")


@click.command(help=f"""Spectra of many points: mean spectrum with 5-95 percentile band, anisotropy table.

SOURCES are batch folders (their point_*.npz) and/or result files (an average file too).
Writes PREFIX.png (the spectrum on a log scale, and the cumulative fraction with the
thresholds marked), PREFIX.csv and PREFIX.json, and prints the table: for each threshold,
the count of the mean spectrum (rank-wise mean over points) and the per-point counts'
mean, std, min, median and max.

{analysis.ANISOTROPY_DEFINITION}

\b
Example:
  ganmetric spectrum face_mse --out face_mse/spectrum
""")
@click.argument("sources", nargs=-1, required=True, type=click.Path())
@click.option("--out", "-o", "prefix", default=None,
              help="Output prefix (default: SOURCE/spectrum for one folder, else ./spectrum).")
@click.option("--thresholds", default=",".join(f"{t:g}" for t in analysis.THRESHOLDS), show_default=True,
              help="Comma-separated cumulative fractions, each in (0, 1].")
def spectrum(sources, prefix, thresholds):
    try:
        th = [float(t) for t in thresholds.split(",")]
    except ValueError:
        raise bad_value("thresholds", f"expected comma-separated numbers, got {thresholds}")
    rs = analysis.load_results(list(sources))
    st = analysis.spectrum_stats(rs, thresholds=th)
    prefix = Path(prefix) if prefix else _default_prefix(sources, "spectrum")
    png, csv, js = (check_writable(prefix.with_name(prefix.name + suffix), argument="prefix")
                    for suffix in (".png", ".csv", ".json"))
    click.echo(rs.describe())
    if not st.full:
        click.echo(f"note: top-k results: counts are fractions of the sum of the top {rs.k} eigenvalues, "
                   f"not of the full trace")
    with written_together():
        analysis.plot_spectrum(st, png, title=_title(rs))
        atomic_write_bytes(csv, st.to_csv().encode())
        write_json(js, {"description": rs.describe(), "n_points": len(rs), "dim": rs.dim, "k": rs.k,
                        "full": st.full, "definition": analysis.ANISOTROPY_DEFINITION, "anisotropy": st.table(),
                        "mean_spectrum": st.mean, "left_out": rs.skipped})
    click.echo(f"{'threshold':>10} {'mean spectrum':>14} {'per point mean':>15} {'std':>6} {'min':>5} "
               f"{'median':>7} {'max':>5}")
    for r in st.table():
        click.echo(f"{r['threshold']:>10g} {r['mean_spectrum']:>14d} {r['per_point_mean']:>15.2f} "
                   f"{r['per_point_std']:>6.2f} {r['per_point_min']:>5d} {r['per_point_median']:>7.1f} "
                   f"{r['per_point_max']:>5d}")
    click.echo(f"wrote {png}, {csv}, {js}")


def _title(rs) -> str:
    n = len(rs)
    return f"{rs.meta.get('model')} / {rs.meta.get('distance')}: {n} point{'' if n == 1 else 's'}"


def _default_prefix(sources, name) -> Path:
    if len(sources) == 1 and Path(sources[0]).is_dir():
        return Path(sources[0]) / name
    return Path(name)


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path())
@click.option("--out", "-o", "prefix", default=None,
              help="Output prefix (default: SOURCE/homogeneity for one folder, else ./homogeneity).")
@click.option("--device", default="cpu", show_default=True, help="Where to compute: cpu, cuda, cuda:1, ...")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def homogeneity(sources, prefix, device, quiet):
    """Is the metric the same everywhere? Pairwise consistency of N points.

    For every ordered pair (i, j): vHv_ij[k] = u_k(i)^T H_j u_k(i) over ranks k; the
    log-scale consistency corr(log10 vHv_ij, log10 lambda_j) (non-positive values masked),
    the linear-scale one corr(vHv_ij, lambda_j), and corr(vec H_i, vec H_j). Writes the
    three N x N matrices (PREFIX.npz: corr_log, corr_linear, corr_vec), PREFIX.json (mean
    and median of the off-diagonal entries), PREFIX_heatmap.png and PREFIX_hist.png.
    Top-k results use H rebuilt from their eigenpairs (said in the output).

    \b
    Example:
      ganmetric homogeneity face_mse
    """
    rs = analysis.load_results(list(sources), min_count=2)
    prefix = Path(prefix) if prefix else _default_prefix(sources, "homogeneity")
    outs = [check_writable(prefix.with_name(prefix.name + s), argument="prefix")
            for s in (".npz", ".json", "_heatmap.png", "_hist.png")]
    click.echo(rs.describe())
    h = analysis.homogeneity(rs, device=device, progress=not quiet)
    summary = {"description": rs.describe(), "left_out": rs.skipped, **h.summary()}
    with written_together():
        atomic_save_npz(outs[0], {"corr_log": h.corr_log, "corr_linear": h.corr_linear, "corr_vec": h.corr_vec,
                                  "files": np.array([r.path.name for r in rs.results])})
        write_json(outs[1], summary)
        analysis.plot_homogeneity_heatmap(h, outs[2], title=_title(rs))
        analysis.plot_homogeneity_hist(h, outs[3], title=_title(rs))
    if not h.full:
        click.echo("note: H reconstructed from top-k eigenpairs for some or all points")
    click.echo(f"{'off-diagonal pairs':<28} {'mean':>8} {'median':>8}")
    for key, label in (("corr_log", "log-scale consistency"), ("corr_linear", "linear-scale consistency"),
                       ("corr_vec", "corr(vec H_i, vec H_j)")):
        v = summary[key]
        fmt = lambda x: f"{x:8.4f}" if x is not None else "     n/a"
        click.echo(f"{label:<28} {fmt(v['mean'])} {fmt(v['median'])}")
    click.echo("wrote " + ", ".join(str(o) for o in outs))


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path())
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="average.npz", show_default=True,
              help="Result file for the average metric (meta kind 'average').")
def average(sources, out):
    """Average metric over the points and its eigendecomposition (the global axes).

    Writes a result file (eigvals, eigvecs, H, z = mean code, meta kind "average") that
    `ganmetric spectrum` and ganmetric.load_result accept. Top-k results contribute their
    rank-k reconstruction.

    \b
    Example:
      ganmetric average face_mse --out face_mse_avg.npz
    """
    check_writable(check_suffix(out, (".npz",), "a ganmetric result file (.npz)", argument="out"), argument="out")
    rs = analysis.load_results(list(sources))
    click.echo(rs.describe())
    avg = analysis.average_metric(rs)
    avg.save(out, seed=None, left_out=rs.skipped)
    counts = analysis.anisotropy_counts(avg.eigvals)
    click.echo("top eigenvalues of the average metric: " + ", ".join(f"{v:.4g}" for v in avg.eigvals[:5]))
    click.echo("anisotropy (eigen-directions for " + ", ".join(
        f"{t}: {c}" for t, c in zip(analysis.THRESHOLDS, counts)) + ")")
    click.echo(f"wrote {out}")


COMMANDS = (batch, spectrum, homogeneity, average)
