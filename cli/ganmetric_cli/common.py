"""The option groups that commands share: the model's, the distance's and the solver's.

The option groups build the library's own request objects: ``model_options`` gives a
command one ``model_spec`` (:class:`ganmetric.generators.ModelSpec`: only what the user
typed, so a command reading a file fills the rest from the file's record),
``distance_options`` one ``distance_spec`` (:class:`ganmetric.distances.DistanceSpec`; its flags
generated from the registry of distances in :mod:`.distance_flags`) and
``metric_options`` one ``solver`` dict of the metric's numerical options. Each option's
Python name is the library argument it feeds (:mod:`ganmetric_cli.flags`).
"""
from __future__ import annotations

import functools
from pathlib import Path

import click

import ganmetric
from ganmetric.basis import basis_meta
from ganmetric.generators import ModelSpec, load_recorded_generator

from .distance_flags import DISTANCE_FLAGS, DISTANCE_FLAGS_IN_WORDS, distance_options  # noqa: F401 (generated)
from .flags import bad_value, flag_table
from .params import SEED, ChunkParam


#: ``--model`` options -> ``ModelSpec.options`` keys (None when not given)
_MODEL_OPTIONS = ("latent_dim", "output_range", "class_name", "weights", "class_index", "truncation",
                  "reference_seed")
_MODEL_OPTIONS += ("variant", "clamp")
_MODEL_OPTIONS += ("resolution", "noise", "mean_style")
_MODEL_OPTIONS += ("network", "truncation_cutoff", "noise_mode", "trust_pickled_code")


def model_options(f):
    """The model's options, passed to the command as ``model_spec`` (a ModelSpec of what was
    typed), plus ``device`` and ``dtype``."""

    @functools.wraps(f)
    def command(*args, **kwargs):
        options = {k: kwargs.pop(k) for k in _MODEL_OPTIONS}
        options["trust_pickled_code"] = options["trust_pickled_code"] or None  # not given: no option at all
        kwargs["model_spec"] = ModelSpec(kwargs.pop("model"), kwargs.pop("latent_space"), options)
        return f(*args, **kwargs)

    opts = [
        click.option("--model", "-m", default=None,
                     help="Pretrained model name (see `ganmetric models list`), a config .json, a model "
                          "file (a checkpoint of a known layout: rosinality StyleGAN2, pytorch_GAN_zoo, DeePSim, "
                          "...; a saved generator: TorchScript .pt/.ts or exported program .pt2; an NVIDIA "
                          "StyleGAN2-ADA/StyleGAN3 network pickle .pkl, read without running its code), "
                          "hf://OWNER/REPO/PATH[@REVISION] (a file from the Hugging Face Hub cache), or your own "
                          "code as module.path:factory. A TorchScript or exported-program file is a program and "
                          "module:factory runs your code: load only files you trust. Default: the model the input "
                          "file records if it is a pretrained one (any other must be named here), else "
                          f"{ganmetric.generators.spec.DEFAULT_MODEL}."),
        click.option("--latent-space", default=None,
                     help="Latent space for models with several (biggan: full, noise, class; stylegan2 and NVIDIA "
                          ".pkl: w, z, w+; stylegan1: z, w, w+)."),
        click.option("--latent-dim", type=int, default=None, help="Latent size of a saved generator file or "
                                                                  "custom module, if it does not record it."),
        click.option("--output-range", type=click.Choice(["-1,1", "0,1"]), default=None,
                     help="Output range of a saved generator file or custom module (default -1,1)."),
        click.option("--class-name", default=None, help="Class of a conditional model (e.g. eyes-cdcgan: blue)."),
        click.option("--weights", type=click.Path(), default=None,
                     help="Weights: a state-dict file (torch.save, or .safetensors) loaded strictly into a custom "
                          "module or a pretrained config's architecture; for BigGAN a folder with config.json and "
                          "pytorch_model.bin; or hf://OWNER/REPO/PATH[@REVISION]."),
        click.option("--class-index", type=int, default=None,
                     help="BigGAN: ImageNet class index (0-999) of the reference point and samples; a conditional "
                          "NVIDIA .pkl: its class (required)."),
        click.option("--truncation", type=float, default=None,
                     help="BigGAN: truncation in (0, 1] (default 1); StyleGAN2 and NVIDIA .pkl: psi around the "
                          "average w (acts on z codes and samples); StyleGAN (stylegan1): psi, the style weight "
                          "(default 0.7)."),
        click.option("--reference-seed", type=SEED, default=None,
                     help="BigGAN: seed of the reference point's fixed part (default 0)."),
        click.option("--network", type=click.Choice(["G_ema", "G"]), default=None,
                     help="NVIDIA .pkl: which generator of the snapshot (default G_ema, the averaged one)."),
        click.option("--truncation-cutoff", type=int, default=None,
                     help="NVIDIA .pkl: truncate only the first N styles (NVIDIA's truncation_cutoff; z and w+)."),
        click.option("--noise-mode", type=click.Choice(["const", "none", "random"]), default=None,
                     help="NVIDIA StyleGAN2 .pkl: the noise inputs (default const, the file's fixed maps; random is "
                          "not a deterministic map and the metric refuses it)."),
        click.option("--trust-pickled-code", is_flag=True, default=False,
                     help="NVIDIA .pkl: load with NVIDIA's own loader, which RUNS the Python code stored in the "
                          "file (needs NVIDIA's repository on PYTHONPATH). Only for a file you trust; recorded."),
        click.option("--variant", type=click.Choice(["fc6", "fc7", "fc8", "pool5"]), default=None,
                     help="DeePSim: which generator (default: read from the weights' shapes; fc6 and fc7 share "
                          "their shapes, so say fc7)."),
        click.option("--clamp/--no-clamp", default=None,
                     help="DeePSim: clamp images to the valid range as the authors do (default on; the metric then "
                          "ignores saturated pixels); StyleGAN2 and StyleGAN (stylegan1): clamp to [-1, 1] (default "
                          "off)."),
        click.option("--resolution", type=int, default=None,
                     help="StyleGAN (stylegan1): output side, 4, 8, ... up to the checkpoint's largest (default 256)."),
        click.option("--noise", type=click.Path(), default=None,
                     help="StyleGAN (stylegan1): an .npz of the fixed noise images, one per scale 4, 8, ..., "
                          "resolution in that order (np.savez(f, *noise); each (1, 1, s, s)). Default: drawn with "
                          "seed 0."),
        click.option("--mean-style", type=click.Path(), default=None,
                     help="StyleGAN (stylegan1): an .npy of the truncation centre (style_dim,). Default: estimated "
                          "as the authors' get_mean_style does (seed 0)."),
        click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ..."),
        click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True,
                     help="Precision of the generator, the distance and every computation (float64: slower, "
                          "for checks)."),
    ]
    for opt in reversed(opts):
        command = opt(command)
    return command


#: metric_tensor's solver arguments, each an option of the same name
SOLVER_OPTIONS = ("method", "k", "chunk", "eps", "max_iter", "tol")


def metric_options(f):
    """--method, --k, --chunk, --eps, --max-iter, --tol, --allow-tf32, passed to the command as one
    ``solver`` dict of ``metric_tensor`` arguments (None where not given; ``allow_tf32`` a bool)."""

    @functools.wraps(f)
    def command(*args, **kwargs):
        kwargs["solver"] = {name: kwargs.pop(name) for name in SOLVER_OPTIONS}
        kwargs["solver"]["allow_tf32"] = kwargs.pop("allow_tf32")
        return f(*args, **kwargs)

    method_help = "; ".join(f"{name}: {m.help}" for name, m in ganmetric.METHODS.items())
    opts = [
        click.option("--method", type=click.Choice(list(ganmetric.METHODS)), default="auto", show_default=True,
                     help=method_help),
        click.option("--k", type=int, default=None,
                     help="Top-k eigenpairs (default: all for full methods, 20 for iterative ones)."),
        click.option("--chunk", type=ChunkParam(), default=None,
                     help="Tangents per batched pass: auto (default: as many as fit half the free memory of the "
                          "device, measured on one code; a pass that runs out of memory is retried with half) or "
                          "an integer. bp and backward-iter do not batch."),
        click.option("--eps", type=float, default=None,
                     help="forward-iter only: step relative to |z0|, > 0 (default 1e-3)."),
        click.option("--max-iter", type=int, default=None,
                     help="Lanczos methods only: products at most (at least k)."),
        click.option("--tol", type=float, default=None, help="Lanczos methods only: relative residual tolerance, > 0."),
        click.option("--allow-tf32", is_flag=True,
                     help="Let CUDA convolutions and matrix products run in TF32 (faster on Ampere and newer GPUs; "
                          "products then carry about 1e-3 relative error, so --tol below 1e-3 is not reachable). "
                          "Off by default: every product is exact float32. Recorded in the result."),
    ]
    for opt in reversed(opts):
        command = opt(command)
    return command


def refuse_unused(solver: dict, D, n: int) -> None:
    """Refuse solver flags that the method (auto resolved) would not read, instead of ignoring them.

    Raises:
        click.UsageError: naming the flags and the method.
    """
    given = [name for name, value in solver.items()
             if value is not None and name not in ("method", "k", "allow_tf32")]
    unused = ganmetric.unused_options(solver["method"], D.has_features, n, solver["k"], given)
    if unused:
        flags = flag_table(click.get_current_context().command)
        resolved = ganmetric.resolve_method(solver["method"], D.has_features, n, solver["k"])
        which = resolved if solver["method"] == resolved else f"{solver['method']} (here {resolved})"
        one = len(unused) == 1
        raise click.UsageError(f"{', '.join(flags[name] for name in unused)} {'is' if one else 'are'} not used "
                               f"by method {which}; leave {'it' if one else 'them'} out or choose a method that "
                               f"uses {'it' if one else 'them'}")


def check_points_or_z(n_points, z_file) -> None:
    """``--points N`` or ``--z FILE.npy``, exactly one, with N >= 1 (batch, layers)."""
    if (n_points is None) == (z_file is None):
        raise click.UsageError("give exactly one of --points N or --z FILE.npy")
    if n_points is not None and n_points < 1:
        raise bad_value("n_points", f"must be at least 1, got {n_points}")


def generator_for_basis(model_spec: ModelSpec, basis, device, dtype):
    """The model: with a basis file, the one it records (restated options must match); else as given."""
    if basis is None:
        return model_spec.load(device=device, dtype=dtype)
    return load_recorded_generator(basis_meta(basis), model_spec, device=device, dtype=dtype,
                                   what=f"the basis {Path(basis).name}")
