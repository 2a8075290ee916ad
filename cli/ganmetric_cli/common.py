"""Shared CLI plumbing: one-line errors, common options, model/distance loading, z input."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

import ganmetric
from ganmetric import checks
from ganmetric.distances import DISTANCES
from ganmetric.errors import GanmetricError


class OneLineErrors(click.Group):
    """A click group that turns ganmetric's own errors (bad input, weights, files) into one
    ``Error: ...`` line on stderr with exit status 1, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (GanmetricError, FileNotFoundError, PermissionError) as exc:
            raise click.ClickException(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


def model_options(f):
    """--model, --latent-space, --latent-dim, --class-name, --device, --dtype."""
    opts = [
        click.option("--model", "-m", default="dcgan-face", show_default=True,
                     help="Pretrained model name (see `ganmetric models list`), a config .json, or a saved "
                          "generator file (TorchScript .pt/.ts or exported program .pt2)."),
        click.option("--latent-space", default=None, help="Latent space for models with several (e.g. w, w+)."),
        click.option("--latent-dim", type=int, default=None, help="Latent size of a saved generator file, "
                                                                  "if the file does not record it."),
        click.option("--output-range", type=click.Choice(["-1,1", "0,1"]), default=None,
                     help="Output range of a saved generator file (default -1,1)."),
        click.option("--class-name", default=None, help="Class of a conditional model (e.g. eyes-cdcgan: blue)."),
        click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ..."),
        click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def distance_options(f):
    """--distance, --lpips-backbone, --resize."""
    opts = [
        click.option("--distance", "-d", type=click.Choice(DISTANCES), default="lpips-alex", show_default=True,
                     help="Image distance pulled back through the generator."),
        click.option("--lpips-backbone", default="pretrained", show_default=True,
                     help="LPIPS backbone weights: 'pretrained' (torchvision ImageNet, needs the network or "
                          "torch's cache), 'random' (untrained, offline/tests) or a path to a torchvision state dict."),
        click.option("--resize", type=int, default=None,
                     help="LPIPS: resize images to this square side first (the paper used 256)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def load_model(model, latent_space=None, latent_dim=None, output_range=None, class_name=None, device="cpu",
               dtype="float32"):
    opts = {}
    if latent_dim is not None:
        opts["latent_dim"] = latent_dim
    if output_range is not None:
        opts["output_range"] = output_range
    if class_name is not None:
        opts["class_name"] = class_name
    return ganmetric.load_generator(model, device=device, dtype=dtype, latent_space=latent_space, **opts)


def load_dist(distance, lpips_backbone="pretrained", resize=None, device="cpu", dtype="float32"):
    if distance == "mse" and resize is not None:
        raise ganmetric.InputError("--resize applies to LPIPS distances only")
    return ganmetric.load_distance(distance, device=device, dtype=dtype, lpips_backbone=lpips_backbone,
                                   resize=resize)


def read_codes(z_file, latent_dim: int) -> np.ndarray:
    """Codes from a .npy (or .npz with one array) file, validated: (N, latent_dim), finite."""
    path = Path(z_file)
    if not path.is_file():
        raise ganmetric.InputError(f"z file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
        if isinstance(arr, np.lib.npyio.NpzFile):
            with arr:
                keys = list(arr.files)
                arr = arr["z"] if "z" in keys else arr[keys[0]]
    except (OSError, ValueError, EOFError) as exc:
        raise ganmetric.InputError(f"cannot read z file {path}: expected a .npy array ({exc})") from exc
    return checks.latent_codes(np.asarray(arr), latent_dim, name=f"z file {path.name}").cpu().numpy()
