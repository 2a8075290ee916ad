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

from .. import checks
from ..errors import InputError
from ..io import describe_file, sha256_file
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
    """Every pretrained config by name (first found wins, env folders first)."""
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
        raise InputError(f"cannot read model config {path}: {exc}") from exc
    if not isinstance(cfg, dict) or any(k not in cfg for k in REQUIRED_KEYS):
        raise InputError(f"model config {path} must be a JSON object with keys {', '.join(REQUIRED_KEYS)}")
    cfg["_path"] = str(path)
    return cfg


SAVED_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".pt2")
#: NVIDIA StyleGAN2-ADA / StyleGAN3 network pickles (read without running their code)
NVIDIA_SUFFIX = ".pkl"


def load_generator(name_or_path: str, *, device="cpu", dtype=None, latent_space: str | None = None,
                   **options) -> Generator:
    """Build a generator by registry name or from a saved file.

    Args:
        name_or_path: a pretrained config name (``ganmetric models list``), a config
            ``.json`` path, a saved generator (TorchScript ``.pt``/``.ts``, exported
            program ``.pt2``), an NVIDIA StyleGAN2-ADA/StyleGAN3 network pickle ``.pkl``
            (read without running its code: :mod:`ganmetric.generators.nvidia`), or a
            user's ``module.path:factory`` (see :mod:`ganmetric.generators.custom`).
        device: where the generator lives ("cpu", "cuda", ...).
        dtype: "float32" (default) or "float64".
        latent_space: which latent space to expose, for models with several.
        **options: family options (e.g. ``latent_dim`` and ``output_range`` for saved
            files and custom modules, ``weights`` (a state-dict file or, for BigGAN, a
            folder) for pretrained configs and custom modules, ``class_name`` for
            conditional models, ``truncation`` and ``class_index`` for BigGAN).

    Returns:
        A frozen generator whose ``name`` is ``name_or_path`` as given and whose
        ``map_options()``, ``weights`` and ``file_sha256`` say exactly what it is.

    Raises:
        InputError: unknown name, missing/corrupt file, a file that is not a model, bad option.
        WeightsError: weights unavailable or failing verification.
    """
    dev = checks.device(device)
    dt = checks.dtype(dtype or "float32")
    name = str(name_or_path)
    path = Path(name).expanduser()
    if is_factory_spec(name):
        check_options(load_custom_generator, f"a custom model ({name})", options)
        gen = load_custom_generator(name, latent_space=latent_space, **options)
    elif name.lower().endswith(SAVED_SUFFIXES):
        check_options(load_saved_generator, f"a saved generator file ({path.name})", options)
        gen = load_saved_generator(path, latent_space=latent_space, **options)
    elif name.lower().endswith(NVIDIA_SUFFIX):
        from .nvidia import load_nvidia_pickle  # imported on first use (cold start)
        check_options(load_nvidia_pickle, f"an NVIDIA network pickle ({path.name})", options)
        gen = load_nvidia_pickle(path, latent_space=latent_space, **options)
    else:
        gen = _from_config(name, path, latent_space, options)
    return gen.to(device=dev, dtype=dt).freeze()


def loader_options(name: str) -> list[str] | None:
    """The options :func:`load_generator` accepts for model ``name`` (None if it cannot tell)."""
    from .families import option_names
    if is_factory_spec(name):
        return option_names(load_custom_generator)
    if name.lower().endswith(SAVED_SUFFIXES):
        return option_names(load_saved_generator)
    if name.lower().endswith(NVIDIA_SUFFIX):
        from .nvidia import load_nvidia_pickle
        return option_names(load_nvidia_pickle)
    try:
        cfg = read_config(Path(name).expanduser()) if name.endswith(".json") else available_configs().get(name)
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
        raise InputError(_not_a_model(name, path))
    else:
        configs = available_configs()
        checks.one_of("model", name, configs)
        cfg = configs[name]
    family = checks.one_of("model family", cfg["family"], FAMILIES)
    spaces = list(cfg["latent_spaces"])
    space = checks.one_of(f"latent space for {cfg['name']}", latent_space or spaces[0], spaces)
    check_options(FAMILIES[family], f"model {cfg['name']}", options)
    gen = FAMILIES[family](cfg, latent_space=space, **options)
    if name.endswith(".json"):
        gen.name, gen.file_sha256 = name, sha256_file(path)
    return gen


def _not_a_model(name: str, path: Path) -> str:
    """Why ``name`` is not a model, and what kinds of path are."""
    kinds = ("a model is a name from `ganmetric models list`, a config .json, a saved generator "
             "(.pt/.ts TorchScript, .pt2 exported program), an NVIDIA network pickle (.pkl) or module.path:factory")
    if not path.exists():
        return f"model file not found: {name} ({kinds})"
    what = describe_file(path) if path.is_file() else "a folder"
    return f"{name} is {what or 'not a model file'}, not a generator: {kinds}"
