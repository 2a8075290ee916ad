"""Files: atomic writes, strict JSON, ``.npz`` arrays with a JSON ``meta``, what a file is, torch weights.

Every file the package writes goes through :func:`atomic_write_bytes` (a temporary name,
fsync, rename), so no reader ever sees half a file. The package's ``.npz`` formats (results,
averages, axes) are arrays plus a strict-JSON ``meta`` string: :func:`save_npz_with_meta`
and :func:`read_npz_with_meta` are their one writer and reader.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError, ResultFileError

def sha256_file(path) -> str:
    """Hex sha256 digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    Raises:
        InputError: the folder does not exist or is not writable.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_save_npz(path, arrays: dict) -> Path:
    """``np.savez`` to memory, then :func:`atomic_write_bytes` (never a half-written file)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def check_writable(path) -> Path:
    """Fail early (before long work) if ``path`` cannot be written; create missing parent folders.

    Raises:
        InputError: a parent cannot be created, the folder is not writable, or path is a folder.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {path}: folder {folder} is not writable")
    return path


def jsonable(obj):
    """``obj`` with every value strict JSON can hold: NaN and infinities become None (undefined),
    numpy scalars and arrays become Python numbers and lists, paths and other objects strings."""
    import math
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, str):
        return obj
    try:
        import torch
        if isinstance(obj, torch.Tensor):
            return jsonable(obj.detach().cpu().tolist())
        if isinstance(obj, (torch.dtype, torch.device)):
            return str(obj).replace("torch.", "")
    except ImportError:  # pragma: no cover
        pass
    return str(obj)


def json_text(obj, *, indent: int | None = 1) -> str:
    """Strict JSON text of ``obj`` (see :func:`jsonable`: NaN/inf as null), ending with a newline."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False) + "\n"


def write_json(path, obj, *, indent: int | None = 1) -> Path:
    """Write ``obj`` as strict JSON (no NaN/Infinity tokens) to ``path`` atomically."""
    return atomic_write_bytes(path, json_text(obj, indent=indent).encode())


#: leading bytes of file kinds users pass by mistake, for messages that say what a file is
_MAGIC = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
          (b"BM", "a BMP image"), (b"\x93NUMPY", "a numpy .npy array"), (b"\x80", "a pickle file"),
          (b"%PDF", "a PDF document"))


def describe_file(path) -> str | None:
    """What a file looks like from its first bytes ("a JPEG image", "a numpy .npz archive",
    "a PyTorch file (torch.save)", ...), or None if unknown or unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(10)
    except OSError:
        return None
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if len(head) == 10 and head[8:10] == b'{"' and 2 <= int.from_bytes(head[:8], "little") < 1 << 28:
        return "a safetensors file"  # an 8-byte little-endian header length, then the JSON header
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "a zip archive"
        if names and all(n.endswith(".npy") for n in names):
            return "a numpy .npz archive"
        if any(n.endswith("data.pkl") for n in names):
            return "a PyTorch file (torch.save)"
        if any(n.endswith("constants.pkl") for n in names):
            return "a TorchScript file (torch.jit.save)"
        return "a zip archive"
    return None


def load_torch_file(path, *, what: str = "weights file", safe_globals=()):
    """``torch.load(path, weights_only=True)`` on CPU, with errors in plain words; a ``.safetensors``
    file (by suffix or content) is read with the ``safetensors`` package instead (a flat dict of tensors).

    Only tensors and plain containers are read (never arbitrary pickled objects), so a
    file that holds other objects is refused; the message says what the file is instead
    of repeating torch's advice to load it unsafely.

    Args:
        path: the file.
        what: what to call it in messages ("weights file", "LPIPS backbone file", ...).
        safe_globals: extra classes allowed in the file (e.g. ``argparse.Namespace``).

    Raises:
        InputError: the file does not exist.
        WeightsError: it is not a PyTorch file, or holds more than tensors.
    """
    import torch
    from .errors import WeightsError
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    if path.suffix == ".safetensors" or describe_file(path) == "a safetensors file":
        return _load_safetensors(path, what)
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        kind = describe_file(path)
        if kind in ("a PyTorch file (torch.save)", "a pickle file") and "Weights only load failed" in str(exc):
            raise WeightsError(f"{what} {path} holds Python objects other than tensors; ganmetric reads only "
                               f"tensors and plain containers (save a state dict with torch.save(module.state_dict()"
                               f", path))") from exc
        raise WeightsError(f"{what} {path} is {kind or 'not a PyTorch file'}, not weights saved with torch.save"
                           ) from exc


def _load_safetensors(path: Path, what: str) -> dict:
    """Every tensor of a safetensors file, on the CPU (a dict name -> tensor).

    Raises:
        WeightsError: not a readable safetensors file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from .errors import WeightsError
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise WeightsError(f"{what} {path} is not a readable safetensors file ({lines[0] if lines else type(exc).__name__})"
                           ) from exc


def versions() -> dict:
    import torch
    from . import __version__
    out = {"ganmetric": __version__, "torch": torch.__version__, "numpy": np.__version__,
           "python": platform.python_version()}
    try:
        import importlib.metadata as md
        out["lpips"] = md.version("lpips")
    except Exception:
        pass
    return out


def save_npz_with_meta(path, arrays: dict, meta: dict) -> Path:
    """Write arrays plus ``meta`` (as a strict-JSON 0-d string array named ``meta``) atomically.

    The one writer of the package's ``.npz`` formats (results, averages, axes); read them
    back with :func:`read_npz_with_meta`.
    """
    return atomic_save_npz(path, {**arrays, "meta": np.array(json_text(meta, indent=None).strip())})


def read_npz_with_meta(path, *, kind: str, required, format_prefix: str,
                       hint=None) -> tuple[dict, dict]:
    """Read every array of an ``.npz`` and its JSON ``meta``, checking keys and format.

    Args:
        path: the file.
        kind: what to call it in messages ("ganmetric result", "axis", ...).
        required: array names that must be present.
        format_prefix: what ``meta["format"]`` must start with.
        hint: optional ``arrays -> str`` appended to the missing-keys message.

    Raises:
        ResultFileError: missing file, not an npz, missing arrays, bad meta or format.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{kind} file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        what = describe_file(path)
        raise ResultFileError(f"{path} is not a readable {kind} file (.npz)" + (f": it is {what}" if what else "")
                              ) from exc
    missing = [key for key in required if key not in arrays]
    if missing:
        raise ResultFileError(f"{path} is not a {kind} file: missing {', '.join(missing)}"
                              + (hint(arrays) if hint else ""))
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: meta is not valid JSON") from exc
    if not isinstance(meta, dict) or not str(meta.get("format", "")).startswith(format_prefix):
        raise ResultFileError(f"{path} is not a {kind} file (meta.format is not {format_prefix}...)")
    return arrays, meta
