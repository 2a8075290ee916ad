"""``ganmetric layers``: the metric of each of the generator's layers next to the image metric."""
from __future__ import annotations

import sys

import click

from ganmetric import analysis
from ganmetric.distances import describe_distance
from ganmetric.generators import describe_model

from .codes import CODE_FILES, read_codes
from .common import check_points_or_z, distance_options, metric_options, model_options, refuse_unused
from .errors import EXIT_FAILED, EXIT_INTERRUPTED
from .interrupts import stop_on_sigint
from .params import SEED


@click.command("layers")
@model_options
@distance_options
@click.option("--points", "-n", "n_points", type=int, default=None,
              help="Number of latent points drawn from the model's prior.")
@click.option("--max-points", type=int, default=analysis.MAX_POINTS, show_default=True,
              help="The most points a run may have (as `ganmetric batch`).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed for --points (as `ganmetric batch`).")
@click.option("--z", "z_file", type=click.Path(dir_okay=False), default=None,
              help="Use these latent points instead: a .npy of shape (N, n). " + CODE_FILES)
@click.option("--layers", default="all", show_default=True,
              help="'all' (every usable submodule without submodules) or comma-separated names as listed by "
                   "`ganmetric models layers MODEL`.")
@metric_options
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Run folder: one batch folder per layer (layer_NAME/) and image/, run.json, layers.csv, "
                   "layers.json, layers_spectra.png, layers_summary.png.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def layers_command(model_spec, device, dtype, distance_spec, n_points, max_points, seed, z_file, layers, solver,
                   out_dir, quiet):
    """Metrics of the generator's own layers at the same codes, next to the image metric.

    For each chosen layer the pull-back metric of d = mean squared difference of the layer's
    activations (--distance layer:NAME), and the image distance's (--distance), each as a
    resumable batch folder (Ctrl-C keeps what is done; run the same command to resume; a
    folder of another model, distance, layer list or method is refused; a second run into
    the same folder is refused while the first runs). Then per layer, in
    forward order: output shape, anisotropy counts (0.99, 0.999 of the trace, as
    `ganmetric spectrum`), mean top eigenvalue, effective rank (sum l)^2 / sum l^2, mean
    log-scale homogeneity, and the alignment with the image metric at k = 10 and 50 (capped
    at n): mean over points of ||U_layer,k^T U_image,k||_F^2 / k, 1 for the same top-k
    eigenspace, k/n for random subspaces (printed as the baseline). A point whose image or
    metric is not finite in some folder is left out of every row; the run then ends with an
    error line saying how many.

    \b
    Examples:
      ganmetric layers --model dcgan-face --distance mse --points 50 --layers main.2,main.5,main.13 --out fl
      ganmetric layers --model eyes-cdcgan --distance mse --points 20 --layers all --out eye_layers
    """
    check_points_or_z(n_points, z_file)
    with analysis.process_group(device) as ctx:
        G = model_spec.load(device=str(ctx.device), dtype=dtype)
        D = distance_spec.load(device=str(ctx.device), dtype=dtype, generator=G)
        refuse_unused(solver, D, G.latent_dim)
        codes = read_codes(z_file, G.latent_dim) if z_file else \
            analysis.batch_codes(G, n_points, seed, max_points=max_points, k=solver["k"])
        with stop_on_sigint("point") as stop:
            table = analysis.layer_metrics(G, layers, codes, out_dir, D, **solver, seed=None if z_file else seed,
                                           z_file=z_file, max_points=max_points, progress=not quiet, stop=stop)
        if table.interrupted:
            if ctx.is_main:
                click.echo(f"Interrupted: the points computed are saved in {out_dir}; run the same command to resume.",
                           err=True)
            sys.exit(EXIT_INTERRUPTED)
        if ctx.is_main:
            _print_table(G, D, table)
            click.echo("wrote " + ", ".join(str(p) for p in table.files))
        failed = table.meta["failed_points"]
        if failed and ctx.is_main:  # rank 0 alone fails: a failing rank makes torchrun stop the others mid-report
            click.echo(f"Error: {len(failed)} of {table.meta['n_points']} points failed in some folder (their "
                       f"image or metric was not finite): the table is over the other "
                       f"{table.meta['points_used']}; each folder's manifest.json lists its failed points", err=True)
            sys.exit(EXIT_FAILED)


def _print_table(G, D, table) -> None:
    click.echo(describe_model(G))
    click.echo(f"image distance {describe_distance(D)}; {table.meta['n_points']} points, method "
               f"{table.meta['resolved_method']}")
    align = [f"k={k}" for k in table.alignment_ks]
    click.echo(f"{'layer':<24} {'shape':<14} {'n99':>4} {'n999':>5} {'top eig':>9} {'eff.rank':>8} {'homog':>6} "
               + " ".join(f"{a:>7}" for a in align))
    fmt = lambda v, f: "n/a" if v is None else format(v, f)  # noqa: E731
    for r in table.rows:
        click.echo(f"{r['layer']:<24} {r['shape'] or '-':<14} {fmt(r['n99'], 'd'):>4} {fmt(r['n999'], 'd'):>5} "
                   f"{fmt(r['top_eigval'], '.3g'):>9} {fmt(r['effective_rank'], '.1f'):>8} "
                   f"{fmt(r['homogeneity_log'], '.2f'):>6} "
                   + " ".join(f"{fmt(r[f'align_k{k}'], '.3f'):>7}" for k in table.alignment_ks))
    click.echo(f"{'random subspaces (k/n)':<24} {'':<14} {'':>4} {'':>5} {'':>9} {'':>8} {'':>6} "
               + " ".join(f"{b:>7.3f}" for b in table.baselines.values()))
