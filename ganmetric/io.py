"""Files: atomic writes, strict JSON, ``.npz`` arrays with a JSON ``meta``, what a file is, torch weights.

Every file the package writes goes through :func:`atomic_write_bytes` (a temporary name,
fsync, rename), so no reader ever sees half a file; the files a command writes side by side
(a spectrum's .png, .csv and .json) are put in place together by
:func:`ganmetric.staging.written_together`, and a command's output folder is swapped in
whole by :func:`ganmetric.staging.staged_dir`. The package's ``.npz`` formats (results,
averages, axes) are arrays plus a strict-JSON ``meta`` string: :func:`save_npz_with_meta`
and :func:`read_npz_with_meta` are their one writer and reader.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import platform
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import InputError, OutputError, ResultFileError
from .staging import pending_files

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

    The temporary file is ``.NAME.PID-XXXXXXXX.tmp``; one that a killed process left behind
    for the same name is removed first (see :func:`remove_stale_temps`). Nothing is left
    when the write fails (a full disk included).

    Args:
        path: the file.
        data: its bytes.

    Raises:
        InputError: the folder does not exist or is not writable.
        OutputError: the write failed (e.g. the disk is full).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: folder {folder} does not exist", argument="path")
    remove_stale_temps(folder, [path.name])
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}", argument="path") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        pending = pending_files()
        if pending is None:
            os.replace(tmp, path)
        else:
            pending.append((tmp, path))   # put in place with the rest of its set (written_together)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    return path


#: a temporary file whose writer is gone is removed once it is this old (seconds): a writer on
#: another machine sharing the folder has a pid this machine does not know
STALE_TEMP_SECONDS = 10.0
#: temporary files named before they carried their writer's pid are removed once this old (seconds)
STALE_UNNAMED_TEMP_SECONDS = 3600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temps(folder, names) -> list[Path]:
    """Remove the temporary files (``.NAME.*.tmp``) that killed writers of ``names`` left in ``folder``.

    A temporary file is stale when the process named in it (``.NAME.PID-XXXXXXXX.tmp``) no
    longer runs here and it is older than :data:`STALE_TEMP_SECONDS`, or, for a name without a
    pid, when it is older than :data:`STALE_UNNAMED_TEMP_SECONDS`: a live writer's file is kept.

    Returns:
        The files removed.
    """
    import time
    folder = Path(folder)
    removed, now = [], time.time()
    for name in names:
        head = f".{name}."
        try:
            candidates = [p for p in folder.glob(f".{glob.escape(name)}.*.tmp")]
        except OSError:
            return removed
        for tmp in candidates:
            tag = tmp.name[len(head):-len(".tmp")]
            pid = tag.split("-", 1)[0]
            try:
                age = now - tmp.stat().st_mtime
            except OSError:
                continue
            if pid.isdigit() and "-" in tag:
                stale = int(pid) != os.getpid() and not _pid_alive(int(pid)) and age > STALE_TEMP_SECONDS
            else:
                stale = age > STALE_UNNAMED_TEMP_SECONDS
            if stale:
                try:
                    tmp.unlink()
                    removed.append(tmp)
                except OSError:
                    pass
    return removed


def npy_bytes(array) -> bytes:
    """An array as the bytes of a ``.npy`` file (numbers only, never a pickle), to write with
    :func:`atomic_write_bytes`.

    Args:
        array: a numpy array or anything ``np.asarray`` takes (a CPU tensor).
    """
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


def atomic_save_npz(path, arrays: dict) -> Path:
    """``np.savez`` to memory, then :func:`atomic_write_bytes` (never a half-written file)."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def check_writable(path, *, argument: str = "path") -> Path:
    """Fail early (before long work) if ``path`` cannot be written; create missing parent folders.

    Args:
        path: the file to be written.
        argument: the argument that named it (the error's ``argument``).

    Raises:
        InputError: a parent cannot be created, the folder is not writable, or path is a folder.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder", argument=argument)
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create folder {folder}: {exc.strerror or exc}", argument=argument) from exc
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {path}: folder {folder} is not writable", argument=argument)
    return path


def check_suffix(path, suffixes, what: str, *, argument: str = "path") -> Path:
    """Refuse a file name whose suffix is not one of the formats the file is written in.

    A file's format never follows a name the user chose by chance: ``--out t3.txt`` for a
    result file is refused rather than written as an ``.npz`` named ``.txt``.

    Args:
        path: the file to be written.
        suffixes: the suffixes it may have (lower case, with the dot).
        what: what the file is, for the message ("a ganmetric result file (.npz)").
        argument: the argument that named it (the error's ``argument``).

    Returns:
        ``path`` as a Path.

    Raises:
        InputError: another suffix (or none).
    """
    path = Path(path)
    if path.suffix.lower() not in tuple(suffixes):
        raise InputError(f"{argument} is written as {what}: its name must end in {' or '.join(suffixes)}, "
                         f"got {path.name}", argument=argument)
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
        if any(n.endswith("constants.pkl") for n in names):  # a TorchScript archive holds a data.pkl too
            return "a TorchScript file (torch.jit.save)"
        if any(n.endswith("data.pkl") for n in names):
            return "a PyTorch file (torch.save)"
        return "a zip archive"
    return None


def _broken_zip(path) -> bool:
    """Whether ``path`` starts as a zip archive (an .npz) but cannot be read through: truncated
    (no central directory) or with a damaged member (CRC or decompression error)."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return False
    except OSError:
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is not None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error):
        return True


@contextlib.contextmanager
def modules_named(modules: dict):
    """``with modules_named({"pkg.mod": module, ...}):`` the given modules are in ``sys.modules`` under those
    names, and whatever held each name before is back afterwards (or the name is gone).

    For writing files in another project's pickled format: pickle records a class by the name of its module,
    and that project's modules need not exist here (stand-ins take their names while the file is written).

    Args:
        modules: module name -> the module object to register under it.
    """
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_torch_file(path, *, what: str = "weights file", safe_globals=(), argument: str = "weights"):
    """``torch.load(path, weights_only=True)`` on CPU, with errors in plain words; a ``.safetensors``
    file (by suffix or content) is read with the ``safetensors`` package instead (a flat dict of tensors).

    Only tensors and plain containers are read (never arbitrary pickled objects), so a
    file that holds other objects is refused; the message says what the file is instead
    of repeating torch's advice to load it unsafely.

    Args:
        path: the file.
        what: what to call it in messages ("weights file", "LPIPS backbone file", ...).
        safe_globals: extra classes allowed in the file (e.g. ``argparse.Namespace``).
        argument: the argument that named the file (the error's ``argument``).

    Raises:
        InputError: the file does not exist.
        WeightsError: it is not a PyTorch file, or holds more than tensors.
    """
    import torch
    from .errors import WeightsError
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"{what} not found: {path}", argument=argument)
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

    Raises:
        InputError: ``path`` does not end in ``.npz``.
        OutputError: the write failed.
    """
    check_suffix(path, (".npz",), "a numpy .npz archive", argument="path")
    return atomic_save_npz(path, {**arrays, "meta": np.array(json_text(meta, indent=None).strip())})


def read_npz_with_meta(path, *, kind: str, required, format_prefix: str, hint=None,
                       argument: str = "path") -> tuple[dict, dict]:
    """Read every array of an ``.npz`` and its JSON ``meta``, checking keys and format.

    Args:
        path: the file.
        kind: what to call it in messages ("ganmetric result", "axis", ...).
        required: array names that must be present.
        format_prefix: what ``meta["format"]`` must start with.
        hint: optional ``arrays -> str`` appended to the missing-keys message.
        argument: the argument that named the file (the error's ``argument``).

    Raises:
        ResultFileError: missing file, not an npz, missing arrays, bad meta or format.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{kind} file not found: {path}", argument=argument)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if _broken_zip(path):  # the right kind of file, cut short or damaged: say so, not "a zip archive"
            error = ResultFileError(f"{path} is truncated or corrupt: an .npz (zip) file that cannot be read to the "
                                    f"end", argument=argument)
            error.damaged = True
            raise error from exc
        what = describe_file(path)
        raise ResultFileError(f"{path} is not a readable {kind} file (.npz)" + (f": it is {what}" if what else ""),
                              argument=argument) from exc
    missing = [key for key in required if key not in arrays]
    if missing:
        raise ResultFileError(f"{path} is not a {kind} file: missing {', '.join(missing)}"
                              + (hint(arrays) if hint else ""), argument=argument)
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: meta is not valid JSON", argument=argument) from exc
    if not isinstance(meta, dict) or not str(meta.get("format", "")).startswith(format_prefix):
        raise ResultFileError(f"{path} is not a {kind} file (meta.format is not {format_prefix}...)", argument=argument)
    return arrays, meta
