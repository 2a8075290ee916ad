"""``ganmetric path``: the geodesic between two codes next to the straight line and SLERP, or the length of a path."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click
from click.core import ParameterSource

from ganmetric.distances import describe_distance
from ganmetric.errors import InputError, NumericalWarning
from ganmetric.generators import describe_model
from ganmetric.paths import (INTERPOLATIONS, OPTIMIZERS, OUTPUT_PATTERNS, PATH_METHODS, check_outputs, output_files,
                             path_length, path_summary, prepare_paths, report_lines, run_paths, write_outputs)
from ganmetric.staging import staged_dir

from .codes import CODE_FILES, read_codes
from .common import distance_options, model_options
from .errors import EXIT_INTERRUPTED
from .flags import Feeds, flag_table
from .interrupts import stop_on_sigint
from .params import SEED

#: options that make paths, refused with --measure
_MAKING = ("from_seed", "to_seed", "z_from", "z_to", "methods", "points", "init", "prior_weight", "refine",
           "optimizer", "max_iter", "tol")


def _endpoint(G, seed, z_file, seed_option: str, file_option: str):
    """One endpoint: drawn with the seed, or read from the file (exactly one code); and its record."""
    if (seed is None) == (z_file is None):
        flags = flag_table(click.get_current_context().command)
        raise click.UsageError(f"give {flags[seed_option]} or {flags[file_option]} (one of them) for each end of the "
                               f"path")
    if z_file is None:
        return G.sample(1, seed=seed)[0], {"seed": seed}
    codes = read_codes(z_file, G.latent_dim, argument=file_option)
    if codes.shape[0] != 1:
        raise InputError(f"{Path(z_file).name} must hold one code of size {G.latent_dim}, got {codes.shape[0]} codes",
                         argument=file_option)
    return codes[0], {"file": str(z_file)}


def _measure(G, D, measure, out, chunk, frames, scale, overwrite):
    """--measure: the length of the path in a file; with --out, its summary, montage, steps and GIF."""
    codes = read_codes(measure, G.latent_dim, argument="measure")
    if codes.shape[0] < 2:
        raise InputError(f"{Path(measure).name} must hold a path of at least 2 codes, shape (T + 1, {G.latent_dim}), "
                         f"got 1 code", argument="measure")
    files = check_outputs(out, ["measured"], codes=False, frames=frames, scale=scale, overwrite=overwrite) \
        if out else None
    paths = {"measured": path_length(G, D, codes, chunk=chunk)}
    if out:
        summary = path_summary(G, D, paths, options={"chunk": chunk}, endpoints={"path_file": str(measure)},
                               files=files)
        write_outputs(out, G, D, paths, summary, files, frames=frames, scale=scale, overwrite=overwrite)
    return paths, files


def _make(G, D, plan, out, frames, scale, overwrite, quiet, record):
    """The paths of ``plan``, written whole into ``out`` (what was made so far when Ctrl-C stopped the run)."""
    check_outputs(out, plan.methods, frames=frames, scale=scale, overwrite=overwrite)
    with staged_dir(out, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="path") as stage:
        with warnings.catch_warnings(), stop_on_sigint("iteration") as stop:  # warnings: said below in flag names
            warnings.simplefilter("ignore", NumericalWarning)
            paths = run_paths(plan, progress=not quiet, stop=stop)
        interrupted = stop()
        files = output_files(paths)
        summary = path_summary(G, D, paths, options=record, endpoints=record.pop("endpoints"), files=files,
                               interrupted=interrupted)
        write_outputs(stage, G, D, paths, summary, files, frames=frames, scale=scale)
    return paths, files, interrupted


@click.command()
@model_options
@distance_options
@click.option("--from-seed", cls=Feeds, feeds="z_a", type=SEED, default=None,
              help="Start of the path: the model's code G.sample(1, seed=A).")
@click.option("--to-seed", cls=Feeds, feeds="z_b", type=SEED, default=None,
              help="End of the path: G.sample(1, seed=B).")
@click.option("--z-from", cls=Feeds, feeds="z_a", type=click.Path(dir_okay=False), default=None,
              help="Start of the path from a file: a .npy of shape (n,) or (1, n). " + CODE_FILES)
@click.option("--z-to", cls=Feeds, feeds="z_b", type=click.Path(dir_okay=False), default=None,
              help="End of the path from a file.")
@click.option("--points", type=int, default=None, help="Codes of each path, both ends included, >= 3 (default 16).")
@click.option("--method", "methods", default=",".join(PATH_METHODS), show_default=True,
              help="Comma-separated paths to make: " + "; ".join(f"{k}: {v}" for k, v in PATH_METHODS.items()))
@click.option("--init", type=click.Choice(list(INTERPOLATIONS)), default=None,
              help="Geodesic: the path it starts from (default linear).")
@click.option("--prior-weight", type=float, default=None,
              help="Geodesic: weight w of the penalty w * sum_i (|z_i| - sqrt(n))^2 / n that keeps codes near the "
                   "prior's shell (default 0: the geodesic may cut through low-norm codes).")
@click.option("--refine", type=int, default=None, is_flag=False, flag_value=1,
              help="Geodesic: after convergence, insert a midpoint between every two codes and continue; "
                   "--refine alone once, --refine N N times. Every path then has (points-1)*2^N+1 codes.")
@click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default=None,
              help="Geodesic: " + "; ".join(f"{k}: {v}" for k, v in OPTIMIZERS.items()))
@click.option("--max-iter", type=int, default=None, help="Geodesic: iterations at most per stage (default 200).")
@click.option("--tol", type=float, default=None,
              help="Geodesic: stop when the relative decrease of the energy, averaged over 5 iterations, is below "
                   "this (default 1e-4).")
@click.option("--chunk", type=int, default=None,
              help="Codes per generator pass (default 64; lower it to bound memory).")
@click.option("--measure", type=click.Path(dir_okay=False), default=None,
              help="Measure the path in this file instead (a .npy of shape (T+1, n)): its length, energy and steps.")
@click.option("--frames", type=int, default=16, show_default=True, help="Montage columns at most.")
@click.option("--scale", type=int, default=1, show_default=True, help="Montage: integer upscaling of each image.")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (created with its parents if missing; written whole when the run ends). Default: "
                   "paths (with --measure: no files).")
@click.option("--overwrite", is_flag=True,
              help="Replace the outputs of an earlier run in --out (without it such a folder is refused).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def path(model_spec, device, dtype, distance_spec, from_seed, to_seed, z_from, z_to, points, methods, init,
         prior_weight, refine, optimizer, max_iter, tol, chunk, measure, frames, scale, out_dir, overwrite, quiet):
    """Paths between two latent codes that follow the images: the discrete geodesic, with the
    straight line and SLERP for comparison, or the length of any path (--measure).

    For a path z_0 .. z_T, step s_i = sqrt(d(G(z_i), G(z_i+1))), length L = sum s_i and energy
    E = T sum s_i^2 (L^2 <= E, equal for equal steps). The geodesic minimises E over the
    interior codes: the images change as little and as evenly as possible under --distance.

    \b
    Writes into --out: codes_{method}.npy (points x n), summary.json, montage.png (one row
    per method, captioned with the length travelled), steps.png (s_i along each path) and
    path_{method}.gif. The folder is written whole when the run ends (a folder holding an
    earlier run's files needs --overwrite). Ctrl-C stops the geodesic after its current
    iteration and writes the paths made so far, "interrupted": true in summary.json (exit
    status 130).

    \b
    Examples:
      ganmetric path --model dcgan-face --distance lpips-alex --from-seed 1 --to-seed 2 --points 16 --out path12
      ganmetric path --model dcgan-face --z-from a.npy --z-to b.npy --points 32 --method geodesic,linear,slerp --out p
      ganmetric path --measure my_path.npy --model dcgan-face --distance mse
    """
    ctx = click.get_current_context()
    flags = flag_table(ctx.command)
    given = [flags[name] for name in _MAKING if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT]
    if measure is not None and given:
        one = len(given) == 1
        raise click.UsageError(f"--measure measures a path from a file; {', '.join(given)} "
                               f"{'makes' if one else 'make'} paths: leave {'it' if one else 'them'} out")
    G = model_spec.load(device=device, dtype=dtype)
    D = distance_spec.load(device=device, dtype=dtype)
    interrupted = False
    if measure is not None:
        paths, files = _measure(G, D, measure, out_dir, chunk, frames, scale, overwrite)
        where = f"path {measure}"
    else:
        out_dir = out_dir or "paths"
        z_a, from_record = _endpoint(G, from_seed, z_from, "from_seed", "z_from")
        z_b, to_record = _endpoint(G, to_seed, z_to, "to_seed", "z_to")
        plan = prepare_paths(G, D, z_a, z_b, methods=methods, points=16 if points is None else points, init=init,
                             prior_weight=prior_weight, refine=refine, optimizer=optimizer, max_iter=max_iter,
                             tol=tol, chunk=chunk)
        record = {**plan.record(), "device": str(device), "dtype": dtype,
                  "endpoints": {"from": from_record, "to": to_record}}
        paths, files, interrupted = _make(G, D, plan, out_dir, frames, scale, overwrite, quiet, record)
        where = f"from {_words(from_record)} to {_words(to_record)}"
    click.echo(describe_model(G))
    click.echo(f"distance {describe_distance(D)}; {where}")
    for line in report_lines(paths):
        click.echo(line)
    geo = paths.get("geodesic")
    if interrupted:
        click.echo("interrupted: " + "; ".join(_interrupted_words(paths, plan.methods)))
    elif geo is not None and geo.stages[-1]["stop_reason"] == "max_iter":
        click.echo(f"note: the geodesic stopped at --max-iter {geo.options['max_iter']} before its stopping rule "
                   f"(--tol {geo.options['tol']:g}) was met; raise --max-iter or --tol")
    if files:
        click.echo(f"wrote {Path(out_dir)}/: " + ", ".join(files.values()))
    if interrupted:
        click.echo(f"Interrupted: the paths made so far are written in {out_dir}.", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _interrupted_words(paths: dict, methods) -> list[str]:
    geo, missing = paths.get("geodesic"), [m for m in methods if m not in paths]
    words = [f"the geodesic stopped in stage {len(geo.stages)} after {geo.iterations} iterations, before its "
             f"stopping rule was met"] if geo is not None and geo.stages[-1]["stop_reason"] == "interrupted" else []
    return words + ([f"not made: {', '.join(missing)}"] if missing else []) or ["every path was made"]


def _words(record: dict) -> str:
    return f"seed {record['seed']}" if "seed" in record else str(record["file"])
