"""What a model file is, from its bytes and layout: the table that routes a file to its loader.

``load_generator(FILE)`` asks :func:`identify` before anything is loaded as a program:

- a TorchScript file (a zip with ``constants.pkl``) or an exported program (a zip with
  ``archive_format``): the saved-generator routes (:mod:`.saved`), programs the user named;
- an NVIDIA network pickle (a plain pickle naming ``dnnlib`` / ``torch_utils.persistence``;
  found by scanning its opcodes, nothing is unpickled): the NVIDIA loader;
- a ``torch.save`` checkpoint (zip or legacy format): read weights-only (tensors, plain
  containers, ``argparse.Namespace`` and pytorch_GAN_zoo's ``BaseConfig`` as data) and routed
  by its layout, :data:`CHECKPOINT_LAYOUTS`, to a family's builder with ``weights=FILE``.

Anything else: one line naming what was found.
"""
from __future__ import annotations

import argparse
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError, WeightsError
from ..io import describe_file
from .ganzoo_file import ganzoo_family, plain_config

#: the first pickle of a legacy (non-zip) torch.save file holds this number
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: modules whose names in a plain pickle mark an NVIDIA network pickle (dnnlib / torch_utils persistence)
NVIDIA_MODULES = ("torch_utils.persistence", "dnnlib.util", "dnnlib.tflib")
#: opcodes scanned before a plain pickle is called unknown
SCAN_LIMIT = 20000
#: the function that loads NVIDIA pickles (the nvidia-pkl work): module, attribute
NVIDIA_LOADER = ("ganmetric.generators.nvidia", "load_nvidia_pickle")


@dataclass(frozen=True)
class FileKind:
    """What a file is.

    Attributes:
        route: ``torchscript``, ``exported-program``, ``nvidia-pickle``, ``checkpoint`` (a known
            layout: ``family`` says whose) or ``unknown``.
        what: the file in words, for messages.
        family: the family whose builder loads a checkpoint (else None).
    """

    route: str
    what: str
    family: str | None = None


def _keys(obj) -> set:
    return set(map(str, obj)) if isinstance(obj, dict) else set()


def _ganzoo(obj) -> str | None:
    if isinstance(obj, dict) and "config" in obj and ("avgG" in obj or "netG" in obj):
        try:
            return ganzoo_family(plain_config(obj["config"]))
        except WeightsError:
            return None
    return None


def _deepsim(obj) -> str | None:
    keys = {k.replace(".1.", ".") for k in _keys(obj)}
    return "deepsim" if {"defc7.weight", "deconv0.weight"} <= keys or {"Rconv6.weight", "deconv0.weight"} <= keys \
        else None


def _bigbigan(obj) -> str | None:
    keys = _keys(obj)
    blocks = any(k.startswith("blocks.") for k in keys) and any(k.startswith("output_layer.") for k in keys)
    return "bigbigan" if "shared.weight" in keys and blocks else None


#: (test(loaded object) -> family or None, the layout in words); the first that answers wins
CHECKPOINT_LAYOUTS = (
    (lambda o: "stylegan2" if "g_ema" in _keys(o) else None, "a rosinality StyleGAN2 checkpoint (g_ema)"),
    (lambda o: "stylegan1" if "g_running" in _keys(o) else None, "a rosinality StyleGAN checkpoint (g_running)"),
    (_ganzoo, "a pytorch_GAN_zoo checkpoint (config, avgG)"),
    (_deepsim, "a DeePSim generator state dict (defc7/Rconv6 ... deconv0)"),
    (_bigbigan, "a BigGAN-PyTorch generator state dict (shared, blocks, output_layer)"),
    (lambda o: "stylegan2" if "input.input" in _keys(o) else None, "a StyleGAN2 generator state dict (input.input)"),
)


def _zip_kind(path: Path) -> FileKind | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(n.endswith("constants.pkl") for n in names):
        return FileKind("torchscript", "a TorchScript file (torch.jit.save)")
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return FileKind("exported-program", "an exported program (torch.export.save)")
    if any(n.endswith("data.pkl") for n in names):
        return FileKind("checkpoint", "a PyTorch file (torch.save)")
    return None


def _pickle_kind(path: Path) -> FileKind | None:
    """Legacy torch.save files and NVIDIA pickles, told apart by scanning opcodes (nothing is unpickled)."""
    strings = []
    try:
        with open(path, "rb") as f:
            for i, (op, arg, _) in enumerate(pickletools.genops(f)):
                if i == 1 and op.name in ("LONG1", "LONG4", "INT") and arg == LEGACY_MAGIC:
                    return FileKind("checkpoint", "a PyTorch file (torch.save, legacy format)")
                if isinstance(arg, str):
                    strings.append(arg)
                    if any(arg.startswith(m) for m in NVIDIA_MODULES):
                        return FileKind("nvidia-pickle", "an NVIDIA network pickle (dnnlib)")
                if i > SCAN_LIMIT:
                    break
    except Exception:  # noqa: BLE001 - a truncated or foreign stream is simply not one of ours
        pass
    return None


def read_checkpoint(path, *, mmap: bool = False):
    """``torch.load`` weights-only with the few classes checkpoints of the known layouts carry, as data.

    Raises:
        WeightsError: the file holds another class (named), or is not readable.
    """
    from .ganzoo_file import load_ganzoo_file
    with torch.serialization.safe_globals([argparse.Namespace]):
        return load_ganzoo_file(path, mmap=mmap)


def checkpoint_family(obj) -> tuple[str, str] | None:
    """(family, layout in words) of a loaded checkpoint, or None when no layout matches."""
    for test, words in CHECKPOINT_LAYOUTS:
        family = test(obj)
        if family is not None:
            return family, words
    return None


def identify(path) -> FileKind:
    """What the model file ``path`` is (see the module docstring); a checkpoint's layout decides its family.

    Raises:
        InputError: the file does not exist.
        WeightsError: a checkpoint that holds a class other than the allowed ones.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"model file not found: {path}", argument="model")
    with open(path, "rb") as f:
        head = f.read(4)
    kind = _zip_kind(path) if head.startswith(b"PK") else _pickle_kind(path) if head[:1] == b"\x80" else None
    if kind is None:
        return FileKind("unknown", describe_file(path) or "not a model file")
    if kind.route != "checkpoint":
        return kind
    obj = read_checkpoint(path, mmap=kind.what == "a PyTorch file (torch.save)")
    found = checkpoint_family(obj)
    if found is None:
        return FileKind("unknown", f"a PyTorch file (torch.save) whose layout ganmetric does not know ({_shown(obj)})")
    return FileKind("checkpoint", found[1], found[0])


def _shown(obj) -> str:
    if not isinstance(obj, dict):
        return f"a {type(obj).__name__}"
    keys = sorted(map(str, obj))
    return "keys " + ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")


def known_layouts() -> str:
    """The layouts :func:`identify` routes, in words (for messages)."""
    return "; ".join(words for _, words in CHECKPOINT_LAYOUTS)


def nvidia_loader():
    """The NVIDIA pickle loader, ``load(path, *, latent_space, **options)``.

    Raises:
        InputError: this installation has no NVIDIA pickle loader.
    """
    import importlib
    try:
        return getattr(importlib.import_module(NVIDIA_LOADER[0]), NVIDIA_LOADER[1])
    except (ImportError, AttributeError):
        raise InputError("NVIDIA network pickles (.pkl) cannot be loaded by this installation of ganmetric",
                         argument="model") from None
