"""Pretrained-config registry and ``load_generator``.

A config is a JSON file in ``pretrained_configs/`` (or a folder named in
``$GANMETRIC_CONFIG_PATH``): data only, never code. Its ``family`` selects a builder
registered with :func:`register_family`; the builder returns a frozen
:class:`~ganmetric.generators.base.Generator` with its weights loaded.
"""
from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Callable


from .. import checks
from ..errors import InputError
from .base import Generator
from .custom import is_factory_spec, load_custom_generator

FAMILIES: dict[str, Callable[..., Generator]] = {}


def register_family(name: str):
    """Decorator: register ``builder(config, *, latent_space, **options) -> Generator``."""
    def deco(fn):
        FAMILIES[name] = fn
        return fn
    return deco


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


def _check_options(builder, model: str, options: dict) -> None:
    """Refuse options a family's builder does not take (one line naming the valid ones)."""
    params = inspect.signature(builder).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n != "latent_space"]
    bad = sorted(set(options) - set(valid))
    if bad:
        raise InputError(f"option(s) {', '.join(bad)} do not apply to model {model}; "
                         f"it takes: {', '.join(valid) or 'none'}")


SAVED_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".pt2")


def load_generator(name_or_path: str, *, device="cpu", dtype=None, latent_space: str | None = None,
                   **options) -> Generator:
    """Build a generator by registry name or from a saved file.

    Args:
        name_or_path: a pretrained config name (``ganmetric models list``), a config
            ``.json`` path, a saved generator (TorchScript ``.pt``/``.ts``, exported
            program ``.pt2``), or a user's ``module.path:factory`` (see
            :mod:`ganmetric.generators.custom`).
        device: where the generator lives ("cpu", "cuda", ...).
        dtype: "float32" (default) or "float64".
        latent_space: which latent space to expose, for models with several.
        **options: family options (e.g. ``latent_dim`` and ``output_range`` for saved
            files and custom modules, ``weights`` (a state-dict file or, for BigGAN, a
            folder) for pretrained configs and custom modules, ``class_name`` for
            conditional models, ``truncation`` and ``class_index`` for BigGAN).

    Raises:
        InputError: unknown name, missing/corrupt file, bad option.
        WeightsError: weights unavailable or failing verification.
    """
    dev = checks.device(device)
    dt = checks.dtype(dtype or "float32")
    name = str(name_or_path)
    path = Path(name).expanduser()
    if name.endswith(".json"):
        cfg = read_config(path)
    elif is_factory_spec(name):
        gen = load_custom_generator(name, latent_space=latent_space, **options)
        return gen.to(device=dev, dtype=dt).freeze()
    elif name.lower().endswith(SAVED_SUFFIXES) or os.sep in name:
        from .saved import load_saved_generator
        return load_saved_generator(path, latent_space=latent_space, **options).to(device=dev, dtype=dt)
    else:
        configs = available_configs()
        checks.one_of("model", name, configs)
        cfg = configs[name]
    family = checks.one_of("model family", cfg["family"], FAMILIES)
    spaces = list(cfg["latent_spaces"])
    space = checks.one_of(f"latent space for {cfg['name']}", latent_space or spaces[0], spaces)
    _check_options(FAMILIES[family], cfg["name"], options)
    gen = FAMILIES[family](cfg, latent_space=space, **options)
    return gen.to(device=dev, dtype=dt).freeze()
