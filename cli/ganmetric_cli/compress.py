"""``ganmetric compress``: project codes onto the top-k directions of a basis and measure the image change."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ganmetric import analysis
from ganmetric import axes as gax
from ganmetric.basis import basis_meta
from ganmetric.distances import describe_distance, recorded_distance_spec
from ganmetric.generators import describe_model, load_recorded_generator

from .common import distance_options, model_options
from .errors import EXIT_INTERRUPTED
from .flags import Feeds, bad_value
from .interrupts import stop_on_sigint
from .params import SEED, IntList

#: --directions values computed from the model itself
METHODS = ("sefa", "ganspace")


def default_ks(n: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... below n, then n."""
    steps = [m * 10 ** e for e in range(6) for m in (1, 2, 5)]
    return [k for k in steps if k < n] + [n]


def _model_and_basis(model_spec, device, dtype, hessian, axes_file, directions):
    """The generator (a basis file's recorded model) and the basis (a path, or Directions for --directions)."""
    given = [f for f in (hessian, axes_file, directions) if f is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one basis: --hessian RESULT.npz, --axes AXES.npz or "
                               "--directions FILE.npy|sefa|ganspace")
    if directions is None:
        path = hessian or axes_file
        meta = basis_meta(path)
        G = load_recorded_generator(meta, model_spec, device=device, dtype=dtype, what=f"the basis {Path(path).name}")
        return G, path, meta
    G = model_spec.load(device=device, dtype=dtype)
    if directions == "sefa":
        return G, gax.sefa_directions(G), {}
    if directions == "ganspace":
        return G, gax.ganspace_directions(G, k=G.latent_dim, n_samples=max(5000, 2 * G.latent_dim)), {}
    return G, gax.load_directions(directions, latent_dim=G.latent_dim), {}


@click.command()
@model_options
@distance_options
@click.option("--hessian", cls=Feeds, feeds="basis", type=click.Path(dir_okay=False), default=None,
              help="Basis: the eigenvectors of a result file (a point or an average metric) of the same model.")
@click.option("--axes", "axes_file", cls=Feeds, feeds="basis", type=click.Path(dir_okay=False), default=None,
              help="Basis: an axis file.")
@click.option("--directions", cls=Feeds, feeds="basis", default=None,
              help="Basis: a .npy of directions (m, n), one per row (orthonormalised in order), or sefa / ganspace "
                   "(computed from the model).")
@click.option("--samples", type=int, default=200, show_default=True, help="Codes drawn from the model's prior.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the codes and of the random bases.")
@click.option("--ks", type=IntList("1,2,5,10"), default=None,
              help="Ascending distinct k in [0, n] (default 1,2,5,10,20,50,... below n, then n).")
@click.option("--random-bases", type=int, default=5, show_default=True,
              help="Random orthonormal bases to compare with (0: none).")
@click.option("--center", is_flag=True,
              help="Project around the point the metric was computed at instead of 0 (needs --hessian or --axes).")
@click.option("--fill", "fills", type=click.Choice(["none", "norm", "both"]), default="both", show_default=True,
              help="none: z_k as projected; norm: rescaled to |z - z0|; both.")
@click.option("--montage-samples", type=int, default=4, show_default=True, help="Rows of montage.png.")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Output folder (written whole when the run ends).")
@click.option("--overwrite", is_flag=True,
              help="Replace the outputs of an earlier run in --out (without it such a folder is refused).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def compress(model_spec, device, dtype, distance_spec, hessian, axes_file, directions, samples, seed, ks,
             random_bases, center, fills, montage_samples, out_dir, overwrite, quiet):
    """How much of a code can be projected away? z_k = z0 + U_k U_k^T (z - z0) and d(G(z), G(z_k)).

    For --samples codes z from the model's prior and each k: the mean, std and median of the
    change d(G(z), G(z_k)) for the basis and for --random-bases random orthonormal k-dimensional
    subspaces (seeded), and the fraction of |z - z0|^2 kept; z0 = 0, or with --center the
    metric's own point. Writes curve.csv (k, basis, fill, mean, std, median, kept_fraction),
    curve.png, montage.png, summary.json (the smallest k whose mean distance is below 10% and
    1% of the k = 0 distance, per basis) and codes_k{K}.npy. The distance defaults to the one
    the basis file records. The folder is written whole when the run ends (a folder holding
    an earlier run's files needs --overwrite); Ctrl-C stops after the current chunk of
    samples and writes the results over the samples measured, "interrupted": true in
    summary.json (exit status 130).

    \b
    Examples:
      ganmetric compress --hessian face_avg.npz --samples 200 --ks 1,2,5,10,20,50,100 --out face_compress
      ganmetric compress --model dcgan-face --directions sefa --distance mse --out face_sefa
    """
    if samples < 1:
        raise bad_value("samples", f"must be at least 1, got {samples}")
    G, basis, meta = _model_and_basis(model_spec, device, dtype, hessian, axes_file, directions)
    D = recorded_distance_spec(meta, distance_spec, what="the basis").load(device=device, dtype=dtype, generator=G)
    codes = G.sample(samples, seed=seed)
    with stop_on_sigint("chunk of samples") as stop:
        res = analysis.compress(G, D, basis, codes, ks if ks is not None else default_ks(G.latent_dim),
                                center="point" if center else None,
                                fills=("none", "norm") if fills == "both" else (fills,), random_bases=random_bases,
                                seed=seed, montage_samples=montage_samples, codes_seed=seed, out_dir=out_dir,
                                overwrite=overwrite, progress=not quiet, stop=stop)
    _report(G, D, res, out_dir)
    if res.meta["interrupted"]:
        click.echo(f"Interrupted: the results over the {res.meta['n_samples']} samples measured are written in "
                   f"{out_dir}.",
                   err=True)
        sys.exit(EXIT_INTERRUPTED)


def _report(G, D, res, out) -> None:
    click.echo(describe_model(G))
    m = res.meta
    click.echo(f"distance {describe_distance(D)}; basis {m['basis']['basis']}"
               + (" (orthonormalised)" if m["basis_orthonormalised"] else "") + f"; z0: {m['center']}; "
               f"{m['n_samples']} samples" + (f" (interrupted: {m['n_samples']} of {m['n_samples_requested']} "
                                               f"measured)" if m["interrupted"] else ""))
    means = {(r["k"], r["basis"], r["fill"]): r for r in res.rows}
    random = m["random_bases"] > 0
    for fill in res.fills:
        click.echo(f"fill {fill}: {'k':>5} {'kept':>6} {res.label:>10}" + (f" {'random':>10}" if random else ""))
        for k in res.ks:
            r = means[k, res.label, fill]
            line = f"{'':>11}{k:>5} {r['kept_fraction']:>6.3f} {r['mean']:>10.4g}"
            click.echo(line + (f" {means[k, 'random', fill]['mean']:>10.4g}" if random else ""))
    for line in res.threshold_lines():
        click.echo(line)
    click.echo(f"wrote {out}/: curve.csv, curve.png, " + ("montage.png, " if res.images is not None else "")
               + f"summary.json, {', '.join(f'codes_k{k}.npy' for k in res.listed)}")
