"""Reading an exported-program archive (``torch.export.save``, .pt2) without running what it carries.

``torch.export.load`` unpickles some of an archive's entries with ``weights_only=False``
(payloads flagged ``use_pickle``: tensor subclasses, torchbind and opaque objects), falls
back to ``weights_only=False`` when a pickled entry (the sample inputs, legacy weights)
fails the weights-only load, and loads compiled AOTInductor code as a shared library. Any of
them runs code from the file at load time. So the archive is read into memory and checked
against an allow-list of what a plain generator's archive holds before torch sees it, and
torch then reads those same bytes (never the file again):

- ``archive_format`` ``pt2``, ``archive_version``, ``byteorder``, ``version``, ``.data/*`` (bookkeeping);
- ``models/NAME.json``: the program (JSON; its operators are looked up in ``torch``);
- ``data/weights/``, ``data/constants/``: each ``*_config.json`` payload raw tensor bytes
  (``use_pickle`` false), the ``weight_*`` / ``tensor_*`` files they name;
- ``data/sample_inputs/NAME.pt``: must load with ``torch.load(weights_only=True)`` (then
  torch's own first, weights-only, attempt succeeds and its unsafe fallback never runs);
- ``extra/*``: text torch only reads.

Anything else (compiled code, pickled payloads, legacy pickled weights, the pre-2.7 format)
is refused in one line. The program itself can still call any torch operator when it runs:
like a TorchScript file, an exported program is a program (load only files you trust).
"""
from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path

import torch

from ..errors import InputError

#: entries a plain exported generator's archive holds (relative to the archive's root folder)
_BOOKKEEPING = re.compile(r"^(archive_format|archive_version|byteorder|version|\.data/.+)$")
_PROGRAM = re.compile(r"^models/[^/]+\.json$")
_PAYLOADS = {"data/weights/": "weight_", "data/constants/": "tensor_"}
_CONFIG = re.compile(r"^data/(weights|constants)/[^/]+_(weights|constants)_config\.json$")
_SAMPLE_INPUTS = re.compile(r"^data/sample_inputs/[^/]+\.pt$")
_EXTRA = re.compile(r"^extra/.+$")


def read_exported_program(path: Path):
    """``torch.export.load`` of ``path`` after checking that loading runs nothing from the file.

    Args:
        path: a ``.pt2`` file.

    Returns:
        The ``ExportedProgram``.

    Raises:
        InputError: an archive holding entries that would run code or unpickle objects when
            loaded (named in the message), or in the pre-2.7 format.
        ValueError: not a .pt2 archive at all (the caller says what the file is).
    """
    data = Path(path).read_bytes()
    _check_archive(data, Path(path))
    return torch.export.load(io.BytesIO(data))


def _check_archive(data: bytes, path: Path) -> None:
    """Raise InputError for an archive that would run code on load; ValueError for one that is no archive."""
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))  # the reader torch.export.load uses
        names = list(reader.get_all_records())
    except Exception as exc:
        raise ValueError(f"{path} is not a zip archive torch can read") from exc

    def refuse(why: str) -> InputError:
        return InputError(f"{path.name} is an exported program that holds {why}: loading it would run code or "
                          f"unpickle objects from the file; ganmetric loads only exported programs of plain tensors "
                          f"(torch.export.save of a plain nn.Module)", argument="model")

    if "archive_format" not in names or reader.get_record("archive_format") != b"pt2":
        if any(name.endswith("serialized_exported_program.json") for name in names):
            raise InputError(f"{path.name} is an exported program in the format of torch before 2.7, whose weights "
                             f"are pickles; save it again with torch.export.save", argument="model")
        raise ValueError(f"{path} is not a .pt2 archive")
    payloads, named = set(), set()
    for name in names:
        if _BOOKKEEPING.match(name) or _PROGRAM.match(name) or _EXTRA.match(name):
            continue
        if _CONFIG.match(name):
            named |= _check_config(reader.get_record(name), name, refuse)
        elif _SAMPLE_INPUTS.match(name):
            _check_weights_only(reader.get_record(name), name, refuse)
        elif any(name.startswith(folder) for folder in _PAYLOADS):
            payloads.add(name)  # must be named by a config, as raw bytes
        elif name.startswith("data/aotinductor/"):
            raise refuse("compiled AOTInductor code")
        else:
            raise refuse(f"the entry {name}")
    unnamed = sorted(payloads - named)
    if unnamed:
        raise refuse(f"the entry {unnamed[0]} outside its raw-tensor payloads (a pickle?)")


def _check_config(raw: bytes, name: str, refuse) -> set[str]:
    """The files a weights/constants config names; each payload must be raw tensor bytes in a
    ``weight_*``/``tensor_*`` file."""
    folder = name[:name.rindex("/") + 1]
    try:
        config = json.loads(raw.decode())["config"]
        payloads = [(key, meta["path_name"], meta["use_pickle"]) for key, meta in dict(config).items()]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise refuse(f"an unreadable payload list {name}") from exc
    for key, file_name, use_pickle in payloads:
        if use_pickle is not False or not str(file_name).startswith(_PAYLOADS[folder]) or "/" in str(file_name):
            raise refuse(f"the pickled payload {key} ({folder}{file_name})")
    return {folder + str(file_name) for _, file_name, _ in payloads}


def _check_weights_only(raw: bytes, name: str, refuse) -> None:
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the outcome is what counts
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise refuse(f"the entry {name}, a pickle of more than tensors") from exc
