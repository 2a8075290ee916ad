"""What the axes commands write, and the one suffix rule per kind of output, checked before any work."""
from __future__ import annotations

from pathlib import Path

from .. import checks
from ..io import check_suffix
from ..plotting import IMAGE_FORMATS

#: kind of output -> the suffixes it may be written as (the file format follows the suffix)
OUTPUT_SUFFIXES = {"image": tuple(IMAGE_FORMATS), "curves": (".png",), "codes": (".npy",), "npz": (".npz",),
                   "csv": (".csv",), "json": (".json",)}
#: kind of output -> what it is, for messages
_WHAT = {"image": "an image (PNG or JPEG, by the suffix)", "curves": "a PNG plot", "codes": "a .npy array",
         "npz": "a numpy .npz archive", "csv": "a CSV table", "json": "a JSON file"}


def check_output(path, kind: str, *, argument: str = "out") -> Path:
    """Refuse a file name whose suffix does not name a format this kind of output is written in.

    Images (montages, edited images) are PNG or JPEG by suffix; distance curves are PNG;
    codes are ``.npy``; result and axis files ``.npz``; tables ``.csv``; records ``.json``.

    Args:
        path: the file to be written.
        kind: a key of :data:`OUTPUT_SUFFIXES`.
        argument: the argument that named the file (the error's ``argument``).

    Returns:
        ``path`` as a Path.

    Raises:
        InputError: an unknown kind, or a suffix the kind is not written as.
    """
    checks.one_of("kind", kind, OUTPUT_SUFFIXES)
    return check_suffix(path, OUTPUT_SUFFIXES[kind], _WHAT[kind], argument=argument)
