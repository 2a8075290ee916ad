"""Shared CLI plumbing: one-line errors, common options, model/distance loading, z input."""
from __future__ import annotations

import functools
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


#: model options that reach ``load_model`` through the click context instead of the command's
#: signature, so that adding them here does not change every command's parameters.
CONTEXT_MODEL_OPTIONS = ("weights", "class_index", "truncation")


def model_options(f):
    """--model, --latent-space, --latent-dim, --output-range, --class-name, --device, --dtype, and
    --weights, --class-index, --truncation (the last three are stored in the click context and
    read by :func:`load_model`, not passed to the command)."""

    @functools.wraps(f)
    def command(*args, **kwargs):
        extra = {k: kwargs.pop(k, None) for k in CONTEXT_MODEL_OPTIONS}
        click.get_current_context().meta["ganmetric.model_options"] = extra
        return f(*args, **kwargs)

    opts = [
        click.option("--model", "-m", default="dcgan-face", show_default=True,
                     help="Pretrained model name (see `ganmetric models list`), a config .json, a saved "
                          "generator file (TorchScript .pt/.ts or exported program .pt2), or your own "
                          "code as module.path:factory."),
        click.option("--latent-space", default=None,
                     help="Latent space for models with several (biggan: full, noise, class)."),
        click.option("--latent-dim", type=int, default=None, help="Latent size of a saved generator file or "
                                                                  "custom module, if it does not record it."),
        click.option("--output-range", type=click.Choice(["-1,1", "0,1"]), default=None,
                     help="Output range of a saved generator file or custom module (default -1,1)."),
        click.option("--class-name", default=None, help="Class of a conditional model (e.g. eyes-cdcgan: blue)."),
        click.option("--weights", type=click.Path(), default=None,
                     help="Weights: a state-dict file (torch.save) loaded strictly into a custom module or a "
                          "pretrained config's architecture; for BigGAN a folder with config.json and "
                          "pytorch_model.bin."),
        click.option("--class-index", type=int, default=None,
                     help="BigGAN: ImageNet class index (0-999) of the reference point and samples."),
        click.option("--truncation", type=float, default=None, help="BigGAN: truncation in (0, 1] (default 1)."),
        click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ..."),
        click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True),
    ]
    for opt in reversed(opts):
        command = opt(command)
    return command


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
               dtype="float32", weights=None, class_index=None, truncation=None):
    """``ganmetric.load_generator`` with the options given on the command line.

    ``weights``, ``class_index`` and ``truncation`` default to the values ``model_options``
    stored in the current click context.
    """
    ctx = click.get_current_context(silent=True)
    stored = ctx.meta.get("ganmetric.model_options", {}) if ctx is not None else {}
    given = {"weights": weights, "class_index": class_index, "truncation": truncation}
    opts = {"latent_dim": latent_dim, "output_range": output_range, "class_name": class_name}
    opts.update({k: v if v is not None else stored.get(k) for k, v in given.items()})
    opts = {k: v for k, v in opts.items() if v is not None}
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
