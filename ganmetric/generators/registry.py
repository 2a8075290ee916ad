"""Pretrained-config registry and ``load_generator``.

A config is a JSON file in ``pretrained_configs/`` (or a folder named in
``$GANMETRIC_CONFIG_PATH``): data only, never code. Its ``family`` selects a builder
registered with :func:`~ganmetric.generators.families.register_family` (a built-in
family's module is imported, and registers it, on first use); the builder returns a frozen
:class:`~ganmetric.generators.base.Generator` with its weights loaded.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .. import checks
from ..errors import InputError, WeightsError
from ..io import describe_file, sha256_file
from . import formats, hub
from .base import Generator
from .custom import is_factory_spec, load_custom_generator
from .families import FAMILIES, check_options
from .saved import load_saved_generator


def _config_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("GANMETRIC_CONFIG_PATH", "").split(os.pathsep) if p]
    try:
        import ganmetric.pretrained_configs as pc  # installed mapping of pretrained_configs/
        dirs += [Path(p) for p in pc.__path__]
    except ImportError:
        pass
    dirs.append(Path(__file__).resolve().parents[2] / "pretrained_configs")  # source checkout
    return dirs


def available_configs() -> dict[str, dict]:
    """Every pretrained config by name (first found wins, env folders first).

    Returns:
        name -> the config (the parsed JSON: ``family``, ``latent_spaces``, ``weights``, ...), sorted by name.
    """
    configs: dict[str, dict] = {}
    for d in _config_dirs():
        for path in sorted(d.glob("*.json")) if d.is_dir() else []:
            cfg = read_config(path)
            configs.setdefault(cfg["name"], cfg)
    return configs


REQUIRED_KEYS = ("name", "family", "latent_spaces")


def read_config(path: Path) -> dict:
    """Parse and check one config file.

    Raises:
        InputError: not JSON, or missing a required key.
    """
    try:
        cfg = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read model config {path}: {exc}", argument="model") from exc
    if not isinstance(cfg, dict) or any(k not in cfg for k in REQUIRED_KEYS):
        raise InputError(f"model config {path} must be a JSON object with keys {', '.join(REQUIRED_KEYS)}",
                         argument="model")
    cfg["_path"] = str(path)
    return cfg


SAVED_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".pt2")


def load_generator(name_or_path: str, *, device="cpu", dtype=None, latent_space: str | None = None,
                   **options) -> Generator:
    """Build a generator by registry name or from a model file.

    Args:
        name_or_path: a pretrained config name (``ganmetric models list``), a config
            ``.json`` path, a model file (a checkpoint of a known layout, loaded by its
            family: see :mod:`ganmetric.generators.formats`; a saved generator: TorchScript
            ``.pt``/``.ts``, exported program ``.pt2``; an NVIDIA StyleGAN2-ADA/StyleGAN3
            network pickle ``.pkl``, read without running its code: :mod:`ganmetric.generators.nvidia`),
            ``hf://OWNER/REPO/PATH[@REVISION]`` (a file from the Hugging Face Hub, then loaded by
            its format), or a user's
            ``module.path:factory`` (see :mod:`ganmetric.generators.custom`).
        device: where the generator lives ("cpu", "cuda", ...).
        dtype: "float32" (default) or "float64".
        latent_space: which latent space to expose, for models with several.
        **options: family options (e.g. ``latent_dim`` and ``output_range`` for saved
            files and custom modules, ``weights`` (a state-dict file, an ``hf://`` file or,
            for BigGAN, a folder) for pretrained configs and custom modules, ``class_name``
            for conditional models, ``truncation`` and ``class_index`` for BigGAN,
            ``variant`` and ``clamp`` for DeePSim).

    Returns:
        A frozen generator whose ``name`` is ``name_or_path`` as given and whose
        ``map_options()``, ``weights`` and ``file_sha256`` say exactly what it is.

    Raises:
        InputError: unknown name, missing/corrupt file, a file that is not a model, bad option,
            a malformed ``hf://`` reference or one absent from the cache offline.
        WeightsError: weights unavailable or failing verification.
    """
    dev = checks.device(device)
    dt = checks.dtype(dtype or "float32")
    name = str(name_or_path)
    hub_records = {}
    if hub.is_hf(name):
        path, hub_records["model"] = hub.resolve(name, argument="model")
    else:
        path = Path(name).expanduser()
    if hub.is_hf(options.get("weights")):
        options["weights"], hub_records["weights"] = hub.resolve(options["weights"], argument="weights")
    # Built on the CPU whatever the default device (the same weights everywhere), then moved; the
    # modules' default initialisation (overwritten by the weights) draws from torch's global CPU
    # generator, whose state is restored: loading a model leaves the user's random streams alone.
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        if is_factory_spec(name):
            check_options(load_custom_generator, f"a custom model ({name})", options)
            gen = load_custom_generator(name, latent_space=latent_space, **options)
        elif not name.endswith(".json") and path.is_file():
            gen = _from_file(name, path, dev, latent_space, options)
        elif name.lower().endswith(SAVED_SUFFIXES):
            check_options(load_saved_generator, f"a saved generator file ({path.name})", options)
            gen = load_saved_generator(path, dev, latent_space=latent_space, **options)
        else:
            gen = _from_config(name, path, latent_space, options)
    if hub_records:  # what came from the Hub is recorded as such, the model as the user named it
        gen.name = name
        gen.weights = hub_records.get("model") or hub_records["weights"]
        if "model" in hub_records:
            gen.file_sha256 = hub_records["model"]["sha256"]
    return gen.to(device=dev, dtype=dt).freeze()


def is_pretrained_name(name) -> bool:
    """Whether ``name`` is a pretrained config's name that :func:`load_generator` resolves through
    the registry (config data and a registered family: never a file, a module or a program).

    The one test of what a result, axis or batch file's record may rebuild by itself
    (:func:`~ganmetric.generators.spec.load_recorded_generator`): any other kind of model, present
    or future, must be named by the user.
    """
    if not isinstance(name, str) or not name or ":" in name or "/" in name or os.sep in name:
        return False  # module:factory, a URL-like name, a path
    if name.lower().endswith(SAVED_SUFFIXES + (".json",)) or Path(name).exists():
        return False  # a file: load_generator would read it, not the registry
    return name in available_configs()


def _from_file(name: str, path: Path, dev, latent_space: str | None, options: dict) -> Generator:
    """A model file, loaded by what :func:`formats.identify` says it is."""
    kind = formats.identify(path)
    if kind.route == "nvidia-pickle":
        loader = formats.nvidia_loader()
        check_options(loader, f"an NVIDIA network pickle ({path.name})", options)
        return loader(path, latent_space=latent_space, **options)
    if kind.route == "checkpoint":
        return _from_checkpoint(name, path, kind, latent_space, options)
    if kind.route in ("torchscript", "exported-program") or name.lower().endswith(SAVED_SUFFIXES):
        if kind.route == "unknown" and kind.what.startswith("a PyTorch file"):
            raise InputError(f"{path} is a file saved with torch.save (a state dict?) whose layout ganmetric does not "
                             f"know: load it into your architecture with --model module.path:factory --weights {path} "
                             f"(layouts read by their family: {formats.known_layouts()})", argument="model")
        check_options(load_saved_generator, f"a saved generator file ({path.name})", options)
        return load_saved_generator(path, dev, latent_space=latent_space, **options)
    raise InputError(_not_a_model(name, path) if kind.route == "unknown" else f"{name} is {kind.what}",
                     argument="model")


def _from_checkpoint(name: str, path: Path, kind, latent_space: str | None, options: dict) -> Generator:
    """A checkpoint of a known layout, built by its family's builder with ``weights=`` the file."""
    family = kind.family
    if family not in FAMILIES:
        raise InputError(f"{name} is {kind.what}, but this installation of ganmetric has no '{family}' family",
                         argument="model")
    if "weights" in options:
        raise InputError(f"{name} is {kind.what}: the file is the weights; leave weights out, or give it with the "
                         f"model '{family}'", argument="weights")
    cfg = available_configs().get(family) or {"name": family, "family": family, "latent_spaces": {"z": None}}
    spaces = list(cfg["latent_spaces"])
    space = checks.one_of("latent_space", latent_space or spaces[0], spaces, what=f"latent space of {name}")
    check_options(FAMILIES[family], f"{kind.what} ({path.name})", options)
    gen = FAMILIES[family](cfg, latent_space=space, weights=str(path), **options)
    digest = gen.weights.get("sha256") if isinstance(gen.weights, dict) else None
    gen.name, gen.file_sha256 = name, digest or sha256_file(path)
    gen.weights = {"source": "saved-file"}  # the parameters are the model file itself (recorded by its sha256)
    return gen


def loader_options(name: str) -> list[str] | None:
    """The options :func:`load_generator` accepts for model ``name`` (None if it cannot tell)."""
    from .families import option_names
    if is_factory_spec(name):
        return option_names(load_custom_generator)
    path = hub.cached(name) if hub.is_hf(name) else Path(name).expanduser()
    if path is None:  # an hf:// file not in the cache
        return None
    if not name.endswith(".json") and path.is_file():
        try:
            kind = formats.identify(path)
        except (InputError, WeightsError):
            return None
        if kind.route == "checkpoint" and kind.family in FAMILIES:  # the file is the weights
            return [o for o in option_names(FAMILIES[kind.family]) if o != "weights"]
        if kind.route == "nvidia-pickle":
            try:
                return option_names(formats.nvidia_loader())
            except InputError:
                return None
    if name.lower().endswith(SAVED_SUFFIXES):
        return option_names(load_saved_generator)
    try:
        cfg = read_config(path) if name.endswith(".json") else available_configs().get(name)
    except InputError:
        return None
    if cfg is None or cfg.get("family") not in FAMILIES:
        return None
    return option_names(FAMILIES[cfg["family"]])


def _from_config(name: str, path: Path, latent_space: str | None, options: dict) -> Generator:
    """A pretrained config by name, or a config ``.json`` file, built by its family."""
    if name.endswith(".json"):
        cfg = read_config(path)
    elif path.is_file() or os.sep in name:
        raise InputError(_not_a_model(name, path), argument="model")
    else:
        configs = available_configs()
        checks.one_of("model", name, configs)
        cfg = configs[name]
    family = checks.one_of("model", cfg["family"], FAMILIES, what=f"model family of {cfg['name']}")
    spaces = list(cfg["latent_spaces"])
    space = checks.one_of("latent_space", latent_space or spaces[0], spaces, what=f"latent space of {cfg['name']}")
    check_options(FAMILIES[family], f"model {cfg['name']}", options)
    gen = FAMILIES[family](cfg, latent_space=space, **options)
    if name.endswith(".json"):
        gen.name, gen.file_sha256 = name, sha256_file(path)
    return gen


def _not_a_model(name: str, path: Path) -> str:
    """Why ``name`` is not a model, and what kinds of path are."""
    kinds = ("a model is a name from `ganmetric models list`, a config .json, a checkpoint of a known layout, "
             "a saved generator (.pt/.ts TorchScript, .pt2 exported program), an NVIDIA network pickle (.pkl), "
             "hf://OWNER/REPO/PATH or module.path:factory")
    if not path.exists():
        return f"model file not found: {name} ({kinds})"
    what = describe_file(path) if path.is_file() else "a folder"
    return f"{name} is {what or 'not a model file'}, not a generator: {kinds}"
