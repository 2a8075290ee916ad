"""Reading latent codes from the files that every --z-like flag takes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ganmetric import checks
from ganmetric.errors import InputError
from ganmetric.io import describe_file

#: what a code file may be, for every --z-like flag's help
CODE_FILES = "A ganmetric result file (.npz) gives its point z, an axis file its points."


def read_codes(z_file, latent_dim: int, *, argument: str = "z_file") -> np.ndarray:
    """Codes from a file, validated: (N, latent_dim), finite, float32/float64.

    The file is a ``.npy`` of codes, a ``.npz`` holding one array, or on purpose a ganmetric
    result file (its point ``z``) or axis file (its ``points``) (see :data:`CODE_FILES`).

    Args:
        z_file: the file.
        latent_dim: the size of one code.
        argument: the command's parameter that named the file (its errors name that flag).

    Raises:
        InputError: missing, unreadable or not an array file (saying what it is), an ``.npz``
            of several arrays that is no ganmetric file, wrong shape, NaN.
    """
    path = Path(z_file)
    if not path.is_file():
        raise InputError(f"file not found: {path}", argument=argument)
    try:
        arr = np.load(path, allow_pickle=False)
        if isinstance(arr, np.lib.npyio.NpzFile):
            with arr:
                arr = _npz_codes(arr, path, argument)
    except (OSError, ValueError, EOFError, IndexError, KeyError) as exc:
        if isinstance(exc, InputError):
            raise
        what = describe_file(path)
        if what in (None, "a numpy .npy array", "a numpy .npz archive"):
            raise InputError(f"cannot read {path}: the file is damaged or not a .npy array of latent codes",
                             argument=argument) from exc
        raise InputError(f"{path} is {what}, not a .npy array of latent codes", argument=argument) from exc
    return checks.latent_codes(argument, np.asarray(arr), latent_dim, shown=path.name).cpu().numpy()


def _npz_codes(data, path: Path, argument: str) -> np.ndarray:
    """The codes of an ``.npz``: a ganmetric result's ``z``, an axis file's ``points``, or its one array."""
    keys = list(data.files)
    if "meta" in keys:
        fmt = str(json.loads(str(data["meta"])).get("format", ""))
        for prefix, key in (("ganmetric-result/", "z"), ("ganmetric-axes/", "points")):
            if fmt.startswith(prefix) and key in keys:
                return data[key]
    if len(keys) == 1:
        return data[keys[0]]
    raise InputError(f"{path.name} holds the arrays {', '.join(keys)}: give a .npy of codes (or an .npz of one array, "
                     f"a ganmetric result file or an axis file)", argument=argument)
