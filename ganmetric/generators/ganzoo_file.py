"""Reading pytorch_GAN_zoo checkpoints (``.pth``) without running code from them.

facebookresearch/pytorch_GAN_zoo saves ``torch.save(model.getStateDict())``: a dict with
``config`` (a pickled ``models.utils.config.BaseConfig`` instance: the model's settings as
attributes), ``netG``, ``netD`` and ``avgG`` (state dicts; ``avgG`` is the moving-average
generator, the one to use), and ``tmp`` when training state was kept. ``torch.load`` with
``weights_only=True`` refuses the config object, so the file is read weights-only with one
class allowed in: a stand-in registered under ``models.utils.config.BaseConfig`` whose
pickled state becomes a plain dict. Every value in it must then be plain (numbers, strings,
bools, None, lists and dicts of them); anything else is refused in one line. No code from
the repository (or the file) runs.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import InputError, WeightsError
from ..io import describe_file

#: where pytorch_GAN_zoo's config class lives; the only class a checkpoint may name
BASE_CONFIG = "models.utils.config.BaseConfig"


class BaseConfigRecord:
    """Stands in for ``models.utils.config.BaseConfig`` while unpickling: keeps its attributes as a dict."""

    def __init__(self):
        self.values = {}

    def __setstate__(self, state):
        self.values = state if isinstance(state, dict) else {"_state": state}


#: what the unpickler may meet besides tensors and plain containers: the stand-in, under the repository's name
SAFE_GLOBALS = [(BaseConfigRecord, BASE_CONFIG)]


def _plain(value, where: str, key: str):
    """``value`` with stand-in records turned into dicts, or WeightsError if it is not plain."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, BaseConfigRecord):
        value = value.values
    if isinstance(value, (list, tuple)):
        return [_plain(v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, where, f"{key}.{k}") for k, v in value.items()}
    raise WeightsError(f"{where}: its pickled config holds {type(value).__name__} at {key}; ganmetric reads only "
                       f"plain values (numbers, strings, lists, dicts) from a pytorch_GAN_zoo config")


def plain_config(record, *, where: str = "checkpoint") -> dict:
    """The ``config`` entry of a checkpoint as a plain dict.

    Raises:
        WeightsError: not a BaseConfig (or dict), or holding a value that is not plain.
    """
    if isinstance(record, BaseConfigRecord):
        record = record.values
    if not isinstance(record, dict):
        raise WeightsError(f"{where}: 'config' should be pytorch_GAN_zoo's BaseConfig, got {type(record).__name__}")
    return _plain(record, where, "config")


def load_ganzoo_file(path, *, mmap: bool = False):
    """``torch.load`` of a pytorch_GAN_zoo ``.pth`` weights-only, its BaseConfig read as data.

    Args:
        path: the file.
        mmap: map the tensors' storage instead of reading it (zip-format files only).

    Returns:
        The loaded object (a dict for a pytorch_GAN_zoo file; its ``config`` still a
        :class:`BaseConfigRecord`: see :func:`plain_config`).

    Raises:
        InputError: the file does not exist.
        WeightsError: not a PyTorch file, or one holding a class other than BaseConfig (named).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"weights file not found: {path}", argument="weights")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap or None)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds; each becomes one line
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise WeightsError(f"{path} holds a pickled {found.group(1)}; ganmetric reads only tensors, plain values "
                               f"and pytorch_GAN_zoo's BaseConfig (as data), and never runs code from a file") from exc
        kind = describe_file(path)
        raise WeightsError(f"{path} is {kind or 'not a PyTorch file'}, not a checkpoint saved with torch.save") from exc


def split_ganzoo(obj, *, where: str = "checkpoint") -> tuple[dict, dict]:
    """(plain config, ``avgG`` state dict) of a loaded pytorch_GAN_zoo checkpoint.

    Raises:
        WeightsError: not a dict with ``config`` and ``avgG`` (a checkpoint without ``avgG``
            was saved without the average generator the authors use), or ``avgG`` not tensors.
    """
    if not isinstance(obj, dict) or "config" not in obj:
        keys = ", ".join(sorted(map(str, obj))[:8]) if isinstance(obj, dict) else type(obj).__name__
        raise WeightsError(f"{where}: expected a pytorch_GAN_zoo checkpoint (keys config, netG, netD, avgG); found {keys}")
    if "avgG" not in obj:
        raise WeightsError(f"{where}: this pytorch_GAN_zoo checkpoint has no avgG (the average generator the authors "
                           f"use); it holds {', '.join(sorted(map(str, obj)))}")
    state = obj["avgG"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{where}: 'avgG' must be a state dict of tensors")
    return plain_config(obj["config"], where=where), {k: v.contiguous() for k, v in state.items()}


def ganzoo_family(config: dict) -> str | None:
    """``pggan`` or ``gan-zoo-dcgan`` from a plain config's keys (None if neither)."""
    if "depthScale0" in config:
        return "pggan"
    if "dimG" in config:
        return "gan-zoo-dcgan"
    return None


def save_ganzoo_checkpoint(path, config: dict, avgG: dict, *, netG: dict | None = None, netD: dict | None = None):
    """Write a checkpoint in pytorch_GAN_zoo's published format (for tests, benchmarks and demos).

    ``{"config": BaseConfig, "netG", "netD", "avgG"}`` with ``config`` pickled as an instance of
    ``models.utils.config.BaseConfig`` holding ``config``'s items as attributes, exactly as
    ``BaseGAN.save`` writes it. The class is a stand-in, registered under that name only while
    the file is written.

    Args:
        path: the ``.pth`` to write (atomically).
        config: plain settings (``latentVectorDim``, ``depthScale0``, ...).
        avgG: the average generator's state dict (saved as given, keys with ``.module.``
            for PGGAN as the repository writes them).
        netG, netD: the other entries (default: ``avgG`` and an empty dict).
    """
    import io
    import types

    from ..io import atomic_write_bytes, modules_named
    modules = {n: types.ModuleType(n) for n in ("models", "models.utils", "models.utils.config")}
    cls = type("BaseConfig", (), {"__module__": "models.utils.config"})
    modules["models.utils.config"].BaseConfig = cls
    record = cls()
    record.__dict__.update(config)
    buf = io.BytesIO()
    with modules_named(modules):
        torch.save({"config": record, "netG": netG if netG is not None else avgG,
                    "netD": netD if netD is not None else {}, "avgG": avgG}, buf)
    return atomic_write_bytes(path, buf.getvalue())
