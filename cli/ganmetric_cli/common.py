"""Shared CLI plumbing: one-line errors in flag names, the model/distance/solver option groups, code files.

The option groups build the library's own request objects: ``model_options`` gives a
command one ``model_spec`` (:class:`ganmetric.generators.ModelSpec`: only what the user
typed, so a command reading a file fills the rest from the file's record),
``distance_options`` one ``distance_spec`` (:class:`ganmetric.distances.DistanceSpec`; its flags
generated from the registry of distances in :mod:`.distance_flags`) and
``metric_options`` one ``solver`` dict of the metric's numerical options.
"""
from __future__ import annotations

import functools
import json
import os
import re
import signal
import sys
import warnings
from pathlib import Path

import click
import numpy as np

import ganmetric
from ganmetric import checks
from ganmetric.errors import GanmetricError, InputError, first_line
from ganmetric.basis import basis_meta
from ganmetric.generators import ModelSpec, load_recorded_generator
from ganmetric.io import describe_file

from .distance_flags import DISTANCE_FLAGS, DISTANCE_FLAGS_IN_WORDS, distance_options  # noqa: F401 (generated)


#: exit statuses: bad input (what the user typed or gave: click's usage errors use 2 too), a failure at run
#: time (weights unavailable, a non-deterministic generator, ...), an interrupt (Ctrl-C)
EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def one_line_error(message: str, exc: BaseException) -> click.ClickException:
    """The ``Error: message`` line for ``exc``, with its exit status: :data:`EXIT_BAD_INPUT` for bad input
    (``InputError``, a path that is missing or not allowed), else :data:`EXIT_FAILED`."""
    error = click.ClickException(message)
    error.exit_code = EXIT_BAD_INPUT if isinstance(exc, (InputError, FileNotFoundError, PermissionError)) \
        else EXIT_FAILED
    return error


class OneLineErrors(click.Group):
    """A click group that turns ganmetric's own errors (bad input, weights, files) into one
    ``Error: ...`` line on stderr, never a traceback (exit status 2 for bad input, 1 for a failure
    at run time: :func:`one_line_error`), and shows warnings as one ``Warning: ...`` line each (not
    Python's file:line form)."""

    def invoke(self, ctx):
        previous = warnings.showwarning
        warnings.showwarning = _one_line_warning
        try:
            return super().invoke(ctx)
        except (GanmetricError, FileNotFoundError, PermissionError) as exc:
            raise one_line_error(first_line(exc), exc) from None
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        finally:
            warnings.showwarning = previous


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"Warning: {first_line(message) if isinstance(message, Warning) else message}", err=True)


def argument_flags(**mapping):
    """Name the flags of library arguments a command passes under another name, e.g.
    ``@argument_flags(out_dir="--out")`` (put it above ``@click.command``)."""
    def deco(command):
        command.argument_flags = {**getattr(command, "argument_flags", {}), **mapping}
        return command
    return deco


def _flag_map(command: click.Command) -> dict[str, str]:
    flags = {}
    for p in command.params:
        longs = [o for o in getattr(p, "opts", []) if o.startswith("--")]
        if longs:
            flags[p.name] = max(longs, key=len)
    return {**flags, **getattr(command, "argument_flags", {})}


def _tokens(words) -> str:
    """A regex matching any of ``words`` as a whole token (not inside a word or a path)."""
    return r"(?<![\w./-])(" + "|".join(map(re.escape, sorted(words, key=len, reverse=True))) + r")(?![\w-])"


def in_flag_names(message: str, exc: GanmetricError, command: click.Command, paths=()) -> str:
    """The library's message in the command's flag names.

    An error about one argument (``exc.argument``) that the user gave as a flag reads as
    click's own: ``Invalid value for --eps: must be a finite number > 0, got 0``. In the rest
    of the message (and in an error about a flag the user did not give, such as images too
    small for LPIPS without ``--resize``) the argument, every argument name written with an
    underscore (``max_iter``, ``out_dir``: identifiers, never plain words) and every name the
    command maps with :func:`argument_flags` become flags; the user's own paths are kept.
    """
    flags = _flag_map(command)
    argument = getattr(exc, "argument", None)
    if argument in flags and _given(argument) and not message.startswith("Invalid "):  # "Invalid model x." stays
        body = message[len(argument) + 1:] if message.startswith(argument + " ") else message
        return f"Invalid value for {flags[argument]}: {_rewrite(body, flags, command, paths)}"
    return _rewrite(message, flags, command, paths, also=argument)


def _given(name: str) -> bool:
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _rewrite(message: str, flags: dict, command: click.Command, paths, also: str | None = None) -> str:
    explicit = getattr(command, "argument_flags", {})
    wanted = {k: v for k, v in flags.items() if "_" in k or k in explicit or k == also}
    if not wanted:
        return message
    paths = [str(p) for p in paths if p]
    if paths:
        pieces = re.split(_tokens(paths), message)
        return "".join(p if i % 2 else _rewrite(p, flags, command, [], also) for i, p in enumerate(pieces))
    return re.sub(_tokens(wanted), lambda m: wanted[m.group(1)], message)


def install_flag_names(group: click.Group) -> None:
    """Make every command under ``group`` report library errors in its own flag names."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            install_flag_names(command)
        elif not getattr(command.callback, "_flag_names", False):
            command.callback = _reporting_flags(command.callback)


def _reporting_flags(callback):
    @functools.wraps(callback)
    def wrapped(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except GanmetricError as exc:
            ctx = click.get_current_context()
            paths = [v for v in ctx.params.values() if isinstance(v, (str, Path))]
            paths += [x for v in ctx.params.values() if isinstance(v, (tuple, list)) for x in v
                      if isinstance(x, (str, Path))]
            raise one_line_error(in_flag_names(first_line(exc), exc, ctx.command, paths), exc) from None
    wrapped._flag_names = True
    return wrapped


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


class SeedParam(click.ParamType):
    """A seed flag: an integer in [0, 2**63) (:func:`ganmetric.checks.seed`), refused as the flag's
    bad value before anything is loaded."""

    name = "integer"

    def convert(self, value, param, ctx):
        try:
            number = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value), 10)
        except ValueError:
            self.fail(f"{value!r} is not a valid integer", param, ctx)
        try:
            return checks.seed(number)
        except ganmetric.InputError as exc:
            self.fail(first_line(exc).removeprefix("seed "), param, ctx)


#: the type of every --seed flag
SEED = SeedParam()


def seed_list(value: str, flag: str) -> list[int]:
    """Comma-separated seeds (``--action-seeds 0,1,2``), each checked as a seed.

    Raises:
        click.BadParameter: not integers, none given, or one outside [0, 2**63).
    """
    try:
        items = [int(v) for v in value.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated seeds like 0,1,2, got {value!r}", param_hint=flag) from None
    if not items:
        raise click.BadParameter("expected at least one seed", param_hint=flag)
    return [_seed_or_fail(v, flag) for v in items]


def _seed_or_fail(value: int, flag: str) -> int:
    try:
        return checks.seed(value)
    except ganmetric.InputError as exc:
        raise click.BadParameter(first_line(exc).removeprefix("seed "), param_hint=flag) from None


class ChunkParam(click.ParamType):
    """``--chunk``: ``auto`` or an integer (the library checks that it is at least 1)."""

    name = "auto|INTEGER"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            self.fail(f"must be auto or an integer, got {value}", param, ctx)


#: metric_tensor's solver arguments and their flags
SOLVER_FLAGS = {"method": "--method", "k": "--k", "chunk": "--chunk", "eps": "--eps", "max_iter": "--max-iter",
                "tol": "--tol"}


def metric_options(f):
    """--method, --k, --chunk, --eps, --max-iter, --tol, --allow-tf32, passed to the command as one
    ``solver`` dict of ``metric_tensor`` arguments (None where not given; ``allow_tf32`` a bool)."""

    @functools.wraps(f)
    def command(*args, **kwargs):
        kwargs["solver"] = {name: kwargs.pop(name) for name in SOLVER_FLAGS}
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
        resolved = ganmetric.resolve_method(solver["method"], D.has_features, n, solver["k"])
        which = resolved if solver["method"] == resolved else f"{solver['method']} (here {resolved})"
        one = len(unused) == 1
        raise click.UsageError(f"{', '.join(SOLVER_FLAGS[name] for name in unused)} {'is' if one else 'are'} not used "
                               f"by method {which}; leave {'it' if one else 'them'} out or choose a method that "
                               f"uses {'it' if one else 'them'}")


def check_points_or_z(points, z_file) -> None:
    """``--points N`` or ``--z FILE.npy``, exactly one, with N >= 1 (batch, layers)."""
    if (points is None) == (z_file is None):
        raise click.UsageError("give exactly one of --points N or --z FILE.npy")
    if points is not None and points < 1:
        raise click.BadParameter(f"must be at least 1, got {points}", param_hint="--points")


#: what a code file may be, for every --z-like flag's help
CODE_FILES = "A ganmetric result file (.npz) gives its point z, an axis file its points."


def read_codes(z_file, latent_dim: int, *, flag: str = "--z") -> np.ndarray:
    """Codes from a file, validated: (N, latent_dim), finite, float32/float64.

    The file is a ``.npy`` of codes, a ``.npz`` holding one array, or on purpose a ganmetric
    result file (its point ``z``) or axis file (its ``points``) (see :data:`CODE_FILES`).

    Raises:
        InputError: missing, unreadable or not an array file (saying what it is), an ``.npz``
            of several arrays that is no ganmetric file, wrong shape, NaN.
    """
    path = Path(z_file)
    if not path.is_file():
        raise ganmetric.InputError(f"{flag} file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
        if isinstance(arr, np.lib.npyio.NpzFile):
            with arr:
                arr = _npz_codes(arr, path, flag)
    except (OSError, ValueError, EOFError, IndexError, KeyError) as exc:
        if isinstance(exc, ganmetric.InputError):
            raise
        what = describe_file(path)
        if what in (None, "a numpy .npy array", "a numpy .npz archive"):
            raise ganmetric.InputError(f"cannot read {flag} {path}: the file is damaged or not a .npy array of "
                                       f"latent codes") from exc
        raise ganmetric.InputError(f"{flag} {path} is {what}, not a .npy array of latent codes") from exc
    return checks.latent_codes(np.asarray(arr), latent_dim, name=f"{flag} {path.name}").cpu().numpy()


def _npz_codes(data, path: Path, flag: str) -> np.ndarray:
    """The codes of an ``.npz``: a ganmetric result's ``z``, an axis file's ``points``, or its one array."""
    keys = list(data.files)
    if "meta" in keys:
        fmt = str(json.loads(str(data["meta"])).get("format", ""))
        for prefix, key in (("ganmetric-result/", "z"), ("ganmetric-axes/", "points")):
            if fmt.startswith(prefix) and key in keys:
                return data[key]
    if len(keys) == 1:
        return data[keys[0]]
    raise ganmetric.InputError(f"{flag} {path.name} holds the arrays {', '.join(keys)}: give a .npy of codes (or an "
                               f".npz of one array, a ganmetric result file or an axis file)")


class stop_on_sigint:
    """Context manager: the first Ctrl-C asks a long run to stop after its current step (a
    KeyboardInterrupt raised inside torch can be swallowed there and perturb the step being
    computed); a second one exits at once (atomic writes leave no partial file, and a staged
    output folder keeps its previous set). Entering it gives the ``stop()`` callable the
    library's long runs poll.

    Args:
        step: what a step is, for the message ("point", "generation", ...).
    """

    def __init__(self, step: str = "point"):
        self.step = step

    def __enter__(self):
        self.requested = False
        self.previous = signal.getsignal(signal.SIGINT)
        if self.previous is signal.SIG_IGN:        # e.g. a background job: keep ignoring
            return lambda: False
        signal.signal(signal.SIGINT, self._handle)
        return lambda: self.requested

    def _handle(self, signum, frame):
        if self.requested:
            os.write(2, b"\nInterrupted.\n")
            os._exit(130)
        self.requested = True
        os.write(2, f"\nStopping after the current {self.step} (Ctrl-C again to stop at once)...\n".encode())

    def __exit__(self, *exc):
        if self.previous is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, self.previous)
        return False


def generator_for_basis(model_spec: ModelSpec, basis, device, dtype):
    """The model: with a basis file, the one it records (restated options must match); else as given."""
    if basis is None:
        return model_spec.load(device=device, dtype=dtype)
    return load_recorded_generator(basis_meta(basis), model_spec, device=device, dtype=dtype,
                                   what=f"the basis {Path(basis).name}")
