"""``ganmetric invert``: fit a latent code to an image, optionally in a metric's eigenbasis."""
from __future__ import annotations

import io
import json
from pathlib import Path

import click
import numpy as np

import ganmetric
from ganmetric.inversion import OPTIMIZERS, PIXEL_LOSSES, image_to_png_bytes, loss_curve_png, side_by_side_png
from ganmetric.inversion.images import CROPS, RESAMPLE
from ganmetric.io import atomic_write_bytes, check_writable

from .common import distance_options, load_dist, load_model, model_options

#: The files written into --out.
OUTPUTS = {"code": "code.npy", "codes": "codes.npy", "losses": "losses.npy", "fit": "fit.png",
           "side_by_side": "side_by_side.png", "loss_curve": "loss_curve.png", "summary": "summary.json"}


def _out_dir(out) -> Path:
    """Create --out (its parent must exist) and check every output can be written, before any work."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ganmetric.InputError(f"--out {out} exists and is not a folder")
    if not out.exists():
        if not out.parent.is_dir():
            raise ganmetric.InputError(f"cannot create {out}: folder {out.parent} does not exist")
        out.mkdir()
    for name in OUTPUTS.values():
        check_writable(out / name)
    return out


def _npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr))
    return buf.getvalue()


@click.command()
@model_options
@distance_options
@click.option("--image", "-i", "image", required=True, type=click.Path(dir_okay=False),
              help="Target image (PNG/JPEG): converted to RGB, centre-cropped, resized to the model's images.")
@click.option("--hessian", "basis", type=click.Path(dir_okay=False), default=None,
              help="Optimise in this basis: a result file (e.g. from `ganmetric average` or `ganmetric hessian`; "
                   "its eigenvectors) or an axes .npz with 'axes' (K, n). Default: plain optimisation in z.")
@click.option("--eigval-power", type=float, default=0.0, show_default=True,
              help="Scale basis direction i by (lambda_i / lambda_1)^-P (needs eigenvalues; 0.5 equalises curvature).")
@click.option("--basis-k", type=int, default=None, help="Use only the top k basis directions.")
@click.option("--steps", type=int, default=500, show_default=True, help="Optimiser steps.")
@click.option("--restarts", type=int, default=4, show_default=True, help="Starting codes, optimised as one batch.")
@click.option("--lr", type=float, default=0.05, show_default=True, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the starting codes.")
@click.option("--distance-weight", type=float, default=1.0, show_default=True, help="Weight of --distance.")
@click.option("--pixel-weight", type=float, default=0.0, show_default=True,
              help="Weight of a pixel term added to the distance (the paper used LPIPS + L1).")
@click.option("--pixel-loss", type=click.Choice(PIXEL_LOSSES), default="l1", show_default=True)
@click.option("--crop", type=click.Choice(CROPS), default="center", show_default=True,
              help="center: crop to the model's aspect ratio; none: stretch.")
@click.option("--resample", type=click.Choice(RESAMPLE), default="bicubic", show_default=True)
@click.option("--out", "-o", type=click.Path(file_okay=False), default="inversion", show_default=True,
              help="Output folder (created if missing).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def invert(model, latent_space, latent_dim, output_range, class_name, device, dtype, distance, lpips_backbone,
           resize, image, basis, eigval_power, basis_k, steps, restarts, lr, optimizer, seed, distance_weight,
           pixel_weight, pixel_loss, crop, resample, out, quiet):
    """Find the latent code whose image best matches a target image.

    Minimises distance_weight * d(G(z), target) + pixel_weight * pixel(G(z), target) with
    Adam from several starting codes at once. With --hessian the optimiser works on the
    coefficients c of z = z_init + U c, U the metric's eigenvectors (Wang & Ponce 2021).

    \b
    Writes into --out: code.npy (best code, (n,)), codes.npy (every restart's code),
    losses.npy (restarts x steps), fit.png, side_by_side.png (target | fit),
    loss_curve.png and summary.json.

    \b
    Examples:
      ganmetric invert --model dcgan-face --distance mse --image face.png --out inv
      ganmetric average runs/ --out avg.npz
      ganmetric invert --model dcgan-face --distance mse --image face.png --hessian avg.npz --out inv_metric
    """
    folder = _out_dir(out)
    G = load_model(model, latent_space, latent_dim, output_range, class_name, device, dtype)
    D = load_dist(distance, lpips_backbone, resize, device, dtype) if distance_weight > 0 else None
    res = ganmetric.invert(G, image, D, basis, steps=steps, lr=lr, restarts=restarts, seed=seed,
                           optimizer=optimizer, distance_weight=distance_weight, pixel_weight=pixel_weight,
                           pixel_loss=pixel_loss, eigval_power=eigval_power, basis_k=basis_k, crop=crop,
                           resample=resample, progress=not quiet)
    title = f"{G.name}  {res.settings['distance'] or pixel_loss}  loss {res.loss:.4g}"
    summary = {"model": G.name, "latent_space": G.latent_space, "image": str(image), "basis_file": basis,
               **res.summary(), "files": OUTPUTS}
    atomic_write_bytes(folder / OUTPUTS["code"], _npy_bytes(res.z.numpy()))
    atomic_write_bytes(folder / OUTPUTS["codes"], _npy_bytes(res.codes.numpy()))
    atomic_write_bytes(folder / OUTPUTS["losses"], _npy_bytes(res.losses.numpy()))
    atomic_write_bytes(folder / OUTPUTS["fit"], image_to_png_bytes(res.image))
    atomic_write_bytes(folder / OUTPUTS["side_by_side"], side_by_side_png(res.target, res.image, title=title))
    atomic_write_bytes(folder / OUTPUTS["loss_curve"], loss_curve_png(res.losses, best=res.best_restart,
                                                                      title=title))
    atomic_write_bytes(folder / OUTPUTS["summary"], json.dumps(summary, indent=2, default=str).encode())
    where = f"basis {res.settings['basis']} (k={res.settings['basis_k']})" if basis else "plain z"
    click.echo(f"{G.name} [{G.latent_space}, n={G.latent_dim}]  {where}  {optimizer} lr={lr}  "
               f"{steps} steps x {restarts} restarts  {res.seconds:.1f} s")
    click.echo(f"best loss {res.loss:.5g} (restart {res.best_restart}); final losses: "
               + ", ".join(f"{v:.4g}" for v in res.final_losses.tolist()))
    click.echo(f"wrote {folder}/: " + ", ".join(OUTPUTS.values()))
