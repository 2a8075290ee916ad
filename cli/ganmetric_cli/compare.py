"""``ganmetric compare A.npz B.npz``: two metrics of one latent space side by side."""
from __future__ import annotations

import warnings
from pathlib import Path

import click

from ganmetric import analysis
from ganmetric.io import atomic_write_bytes, check_writable, write_json
from ganmetric.staging import written_together


@click.command()
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@click.option("--k", type=int, default=10, show_default=True,
              help="Size of the compared top eigenspaces (cut to the eigenpairs both files hold).")
@click.option("--out", "-o", "prefix", default="compare", show_default=True,
              help="Output prefix: PREFIX.json, PREFIX.csv (per-rank table) and PREFIX.png.")
def compare(a, b, k, prefix):
    """Compare two metrics of the same latent size (two result files).

    Prints and writes: the principal angles between the top-k eigenspaces (degrees); each
    metric along the other's eigenvectors, vHv_AB[i] = u_i(A)^T H_B u_i(A) and vHv_BA over
    every rank both files hold, with the pair's log-scale and linear-scale consistency
    (what `ganmetric homogeneity` computes for two points) and the ratio
    vHv_AB[i] / lambda_i(B) (1: the same eigenpair); corr(vec H_A, vec H_B) (from the
    metrics rebuilt from the eigenpairs both hold when a file has only top-k ones, said);
    and both spectra overlaid in PREFIX.png. Files of different latent sizes are refused;
    different models or latent spaces of one size get a warning.

    \b
    Examples:
      ganmetric compare face_mse.npz face_lpips.npz --k 10 --out mse_vs_lpips
      ganmetric compare face.npz top20.npz --k 20 --out jacobian_vs_lanczos
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # shown below as one line each
        cmp = analysis.compare_metrics(a, b, k=k)
    for note in cmp.warnings:
        click.echo(f"Warning: {note}", err=True)
    prefix = Path(prefix)
    png, csv, js = (check_writable(prefix.with_name(prefix.name + suffix), argument="prefix")
                    for suffix in (".png", ".csv", ".json"))
    with written_together():
        analysis.plot_comparison(cmp, png)
        atomic_write_bytes(csv, cmp.to_csv().encode())
        write_json(js, cmp.summary())
    click.echo(cmp.report())
    click.echo(f"wrote {png}, {csv}, {js}")
