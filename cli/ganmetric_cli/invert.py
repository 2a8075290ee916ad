"""``ganmetric invert``: fit a latent code to an image, optionally in a metric's eigenbasis."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ganmetric.inversion import (CROPS, DEFAULT_MAX_PIXELS, OPTIMIZERS, OUTPUT_PATTERNS, OUTPUTS, PIXEL_LOSSES,
                                 RESAMPLE, inversion_summary, prepare_inversion, report_lines, run_inversion,
                                 write_outputs)
from ganmetric.generators import describe_model
from ganmetric.staging import staged_dir

from .codes import CODE_FILES, read_codes
from .common import distance_options, generator_for_basis, model_options
from .errors import EXIT_INTERRUPTED
from .flags import bad_value
from .interrupts import stop_on_sigint
from .params import SEED

def _box(ctx, param, value):
    """--box x0,y0,x1,y1 as four integers (the library checks order and bounds)."""
    if value is None:
        return None
    try:
        box = tuple(int(v) for v in value.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise click.BadParameter(f"expected x0,y0,x1,y1 (four integers, pixels of the image), got {value}")
    return box


def _report(G, res, folder: Path) -> None:
    click.echo(describe_model(G))
    for line in report_lines(res):
        click.echo(line)
    click.echo(f"wrote {folder}/: " + ", ".join(OUTPUTS.values()))


@click.command()
@model_options
@distance_options
@click.option("--image", "-i", "target", required=True, type=click.Path(dir_okay=False),
              help="Target image (PNG/JPEG): converted to RGB, cut to --box, centre-cropped, resized to the model's.")
@click.option("--box", callback=_box, default=None, metavar="X0,Y0,X1,Y1",
              help="Cut the image to this box first (pixels; e.g. a tight box around a face for a face GAN).")
@click.option("--hessian", "basis", type=click.Path(dir_okay=False), default=None,
              help="Optimise in this basis: a result file of the same model (e.g. from `ganmetric average` or "
                   "`ganmetric hessian`; its eigenvectors) or an axes file. Default: plain optimisation in z.")
@click.option("--eigval-power", type=float, default=0.0, show_default=True,
              help="Scale basis direction i by (lambda_i / lambda_1)^-P (needs eigenvalues; 0.5 equalises curvature).")
@click.option("--basis-k", type=int, default=None, help="Use only the top k basis directions (needs --hessian).")
@click.option("--steps", type=int, default=500, show_default=True, help="Optimiser steps.")
@click.option("--restarts", type=int, default=4, show_default=True, help="Starting codes.")
@click.option("--chunk", type=int, default=None,
              help="Restarts optimised together (default 64; lower it to bound memory; results do not change).")
@click.option("--lr", type=float, default=0.05, show_default=True, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default="adam", show_default=True,
              help="The optimiser of the code (or of its coefficients in the --hessian basis).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the starting codes.")
@click.option("--distance-weight", type=float, default=1.0, show_default=True, help="Weight of --distance.")
@click.option("--pixel-weight", type=float, default=0.0, show_default=True,
              help="Weight of a pixel term added to the distance (the paper used LPIPS + L1).")
@click.option("--pixel-loss", type=click.Choice(PIXEL_LOSSES), default="l1", show_default=True,
              help="The pixel term weighted by --pixel-weight.")
@click.option("--crop", type=click.Choice(CROPS), default="center", show_default=True,
              help="center: crop to the model's aspect ratio; none: stretch.")
@click.option("--resample", type=click.Choice(RESAMPLE), default="bicubic", show_default=True,
              help="The filter that resizes --image to the model's resolution.")
@click.option("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, show_default=True,
              help="Refuse a larger --image (width x height, read from its header before decoding; a 50-megapixel "
                   "photo decodes to 150 MB). Raise it for larger images you mean to use.")
@click.option("--true-z", type=click.Path(dir_okay=False), default=None,
              help="A known code (.npy, shape (n,)): report the fit's cosine similarity and L2 distance to it. "
                   + CODE_FILES)
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False), default="inversion", show_default=True,
              help="Output folder (created with its parents if missing; written whole when the run ends).")
@click.option("--overwrite", is_flag=True,
              help="Replace the outputs of an earlier run in --out (without it such a folder is refused).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def invert(model_spec, device, dtype, distance_spec, target, box, basis, eigval_power, basis_k, steps, restarts, chunk,
           lr, optimizer, seed, distance_weight, pixel_weight, pixel_loss, crop, resample, max_pixels, true_z, out_dir,
           overwrite, quiet):
    """Find the latent code whose image best matches a target image.

    Minimises distance_weight * d(G(z), target) + pixel_weight * pixel(G(z), target)
    from several starting codes. With --hessian the optimiser works on the coefficients c
    of z = z_init + U c, U the metric's eigenvectors (Wang & Ponce 2021). Prints the fit's
    distance, PSNR and SSIM (and with --true-z its distance to that code).

    \b
    Writes into --out: code.npy (best code, (n,)), codes.npy (every restart's code),
    losses.npy (restarts x steps), fit.png, side_by_side.png (target | fit),
    loss_curve.png and summary.json. The folder is written whole when the run ends (a
    folder holding an earlier run's files needs --overwrite). Ctrl-C stops after the
    current step and writes the best code so far, "interrupted": true in summary.json
    (exit status 130).

    \b
    Examples:
      ganmetric invert --model dcgan-face --distance mse --image face.png --out inv
      ganmetric invert --model dcgan-face --distance mse --image photo.jpg --box 161,113,369,321 --out inv
      ganmetric invert --model dcgan-face --distance mse --image face.png --hessian avg.npz --out inv_metric
    """
    if basis_k is not None and basis is None:
        raise bad_value("basis_k", "needs --hessian (the basis to take the top k directions from)")
    G = generator_for_basis(model_spec, basis, device, dtype)
    D = distance_spec.load(device=device, dtype=dtype) if distance_weight > 0 else None
    known = read_codes(true_z, G.latent_dim, argument="true_z") if true_z is not None else None
    problem = prepare_inversion(G, target, D, basis, steps=steps, lr=lr, restarts=restarts, seed=seed,
                                optimizer=optimizer, distance_weight=distance_weight, pixel_weight=pixel_weight,
                                pixel_loss=pixel_loss, eigval_power=eigval_power, basis_k=basis_k, true_z=known,
                                chunk=chunk, box=box, crop=crop, resample=resample, max_pixels=max_pixels)
    folder = Path(out_dir)
    with staged_dir(folder, outputs=OUTPUT_PATTERNS, overwrite=overwrite, what="invert") as stage:  # locked for the run
        with stop_on_sigint("step") as stop:
            res = run_inversion(problem, progress=not quiet, stop=stop)
        write_outputs(stage, res, inversion_summary(G, D, res, image=target, box=box, basis_file=basis,
                                                    true_z_file=true_z))
    _report(G, res, folder)
    if res.interrupted:
        click.echo(f"Interrupted: the best code so far and the rest are written in {folder}.", err=True)
        sys.exit(EXIT_INTERRUPTED)
