"""The batch folder: its manifest, its codes (the record of a batch's points), and each point's status.

A batch directory holds::

    manifest.json        the batch's identity (model, latent space, distance and its options,
                         method, k, dtype, solver options, seed), the counts (n_points, n_done,
                         n_failed), whether the last run was interrupted, and the points done
                         or failed (a failed point with its reason; pending points are not
                         listed, so the manifest grows with the work done, not the work planned)
    codes.npy            the (N, n) latent codes, float64
    point_00000.npz ...  one result file per point (``ganmetric.io`` format, meta kind "point",
                         with ``index`` and the batch identity under ``batch``)

A batch grows by appending codes. :func:`batch_codes` draws the codes of a seeded batch:
row ``i`` of ``G.sample(N, seed)`` does not depend on ``N``, so a folder made with fewer
points and the same seed is extended by the new rows, and a folder's ``codes.npy`` stays
the record of the codes it holds.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from .. import checks
from ..distances.spec import distance_meta
from ..errors import InputError, ResultFileError
from ..generators.spec import model_meta
from ..io import atomic_write_bytes, json_text, jsonable
from ..result import load_result

MANIFEST = "manifest.json"
CODES = "codes.npy"
FORMAT = "ganmetric-batch/1"
#: seconds between manifest updates in a single-process run (each is an atomic write)
MANIFEST_EVERY = 5.0
#: the advice every refusal of a folder ends with (``out_dir`` is the argument's name; the CLI shows its flag)
OTHER_FOLDER = "choose another folder"
MAX_POINTS = 10_000
"""The most points a batch may have unless the caller raises ``max_points`` (the CLI's ``--max-points``)."""


def point_name(index: int) -> str:
    """File name of point ``index`` in a batch folder.

    Args:
        index: the point's index (row of the batch's codes).

    Returns:
        ``point_00000.npz`` for index 0.
    """
    return f"point_{index:05d}.npz"


def batch_identity(G, D, method: str, k: int | None, *, eps: float, max_iter: int | None, tol: float | None,
                   lanczos_seed: int, allow_tf32: bool = False) -> dict:
    """The options that define a batch's results (two runs agree on these or may not share a directory).

    The model's identity includes every option that changes its map (a conditional model's
    class, truncation, the weights' digest, ...: :func:`ganmetric.generators.model_meta`) and
    the distance's its full identity (a random LPIPS backbone's seed, ...). The device and
    ``chunk`` are left out: they change neither the mathematics nor what a user asked for,
    so a batch may be resumed on another device or with less memory. ``allow_tf32`` (TF32
    products on CUDA) changes the numbers: it is part of the solver options when set (absent
    when off, so folders written before it existed still resume).
    """
    dt = str(getattr(G, "dtype", torch.float32)).replace("torch.", "")
    solver = {"eps": eps, "max_iter": max_iter, "tol": tol, "lanczos_seed": lanczos_seed}
    if allow_tf32:
        solver["allow_tf32"] = True
    return jsonable({**model_meta(G), **distance_meta(D), "method": method, "k": k, "dtype": dt, "solver": solver})


def same_identity(recorded: dict, identity: dict) -> bool:
    """Whether a folder's recorded identity is this run's.

    A folder written before model options were recorded has no ``model_options``: it is
    compared on everything else it records (an unseeded ``random`` LPIPS backbone of such a
    folder still differs from every seeded one).
    """
    if "model_options" not in recorded:
        identity = {k: v for k, v in identity.items() if k != "model_options"}
    return recorded == identity


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def identity_differences(theirs: dict, ours: dict) -> str:
    """``key: directory has X, this run Y`` for every differing (nested) key, values as JSON."""
    a, b = _flat(theirs), _flat(ours)
    keys = [key for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    return "; ".join(f"{key}: directory has {json.dumps(a.get(key))}, this run {json.dumps(b.get(key))}"
                     for key in keys)


def _read_manifest(out_dir: Path) -> dict | None:
    path = out_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a readable batch manifest ({exc}); {OTHER_FOLDER}",
                         argument="out_dir") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "identity" not in manifest:
        raise InputError(f"{path} is not a ganmetric batch manifest; {OTHER_FOLDER}", argument="out_dir")
    return manifest


def _read_codes(out_dir: Path) -> np.ndarray | None:
    """The folder's ``codes.npy`` as an (m, n) array, or None (missing or unreadable: it is rewritten)."""
    try:
        old = np.load(out_dir / CODES, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return old if old.ndim == 2 else None


def _seed_note(manifest: dict | None, seed: int | None) -> str:
    theirs = (manifest or {}).get("seed")
    if theirs is None or seed is None or theirs == seed:
        return ""
    return f"; the folder's codes were drawn with seed {theirs}, this run's with seed {seed}"


def check_directory(out_dir: Path, identity: dict, codes: np.ndarray, seed: int | None = None) -> None:
    """Refuse a directory that belongs to another batch (other options, or codes this run does not extend)."""
    manifest = _read_manifest(out_dir)
    if manifest is not None and not same_identity(manifest["identity"], identity):
        differs = identity_differences(manifest["identity"], identity)
        raise InputError(f"{out_dir} holds a different batch ({differs}); "
                         f"{OTHER_FOLDER}", argument="out_dir")
    if not (out_dir / CODES).exists():
        return
    old = _read_codes(out_dir)
    if old is None:
        return  # a corrupt codes file is rewritten; every point is still checked against its own z
    n_old, N = old.shape[0], codes.shape[0]
    if old.shape[1] != codes.shape[1]:
        raise InputError(f"{out_dir} holds codes of size {old.shape[1]} in {CODES}, this run {codes.shape[1]}; "
                         f"{OTHER_FOLDER}", argument="out_dir")
    if n_old > N:
        raise InputError(f"{out_dir} holds {n_old} points and this run has {N}: a batch may only grow; "
                         f"run at least {n_old} points, or {OTHER_FOLDER}", argument="out_dir")
    if not np.array_equal(old, codes[:n_old]):
        raise InputError(f"{out_dir} holds a batch for other latent codes (its {n_old} codes in {CODES} are not "
                         f"the first {n_old} of this run's{_seed_note(manifest, seed)}); a batch may only grow by "
                         f"appending codes: {OTHER_FOLDER}", argument="out_dir")


def _seeded_record(out_dir, seed: int, latent_dim: int) -> np.ndarray | None:
    """The codes of a folder whose manifest says they were drawn with ``seed`` (None if there is no such record)."""
    if out_dir is None or not Path(out_dir).is_dir():
        return None
    manifest = _read_manifest(Path(out_dir))
    if manifest is None or manifest.get("seed") != seed or manifest.get("z_file") is not None:
        return None
    old = _read_codes(Path(out_dir))
    return old.astype(np.float64) if old is not None and old.shape[1] == latent_dim else None


def _size(nbytes: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.3g} {unit}"
        nbytes /= 1000


def point_bytes(n: int, k: int | None, itemsize: int) -> int:
    """About how many bytes one point file holds: eigenvectors, eigenvalues, the code, and H (full) or residuals."""
    full = k is None or k >= n
    kk = n if full else k
    return itemsize * (n * kk + kk + n + (n * n if full else kk))


def check_size(n_points: int, n: int, k: int | None, dtype, max_points: int) -> None:
    """Refuse a batch of more than ``max_points`` points, saying how much it would write, before anything is drawn.

    Raises:
        InputError: ``max_points`` is not a positive integer, or ``n_points`` exceeds it.
    """
    max_points = checks.positive_int("max_points", max_points)
    if n_points <= max_points:
        return
    per = point_bytes(n, k, dtype.itemsize)
    codes = n_points * n * 8
    raise InputError(f"max_points {max_points} is fewer than the {n_points} points asked for: the batch would "
                     f"write about {_size(n_points * per + codes)} ({n_points} result files of about {_size(per)} each and "
                     f"{_size(codes)} of codes); raise it to run them", argument="max_points")


def batch_codes(G, n_points: int, seed: int, out_dir=None, *, max_points: int = MAX_POINTS,
                k: int | None = None) -> np.ndarray:
    """The codes of a seeded batch of ``n_points``: ``G.sample(n_points, seed)``, keeping the folder's record.

    Row ``i`` of ``G.sample(N, seed)`` does not depend on ``N``: point ``i`` of a seeded batch
    is the code ``ganmetric hessian --seed`` draws for ``i = 0``, and a folder made with fewer
    points and the same seed is extended by the new rows. A folder that already holds codes
    drawn with ``seed`` keeps them (its ``codes.npy`` is the record), so a folder written by
    an earlier ganmetric, whose rows depended on ``N``, still resumes with its own size.

    Args:
        G: the generator (``latent_dim`` and ``sample``).
        n_points: number of codes.
        seed: the sampling seed.
        out_dir: the batch folder the codes are for (None or missing: nothing recorded yet).
        max_points: the most points allowed (see :func:`check_size`), checked before drawing.
        k: the eigenpairs each point will store (None: all), for the size in the message.

    Returns:
        (n_points, n) float64 array.

    Raises:
        InputError: ``n_points`` is not a positive integer or exceeds ``max_points``, or the
            folder holds codes drawn with ``seed`` that are not the first rows of the codes drawn now.
    """
    checks.positive_int("n_points", n_points)
    check_size(n_points, int(G.latent_dim), k, getattr(G, "dtype", torch.float32), max_points)
    record = _seeded_record(out_dir, seed, int(G.latent_dim))
    if record is not None and len(record) >= n_points:
        return record[:n_points]  # fewer than the folder holds: batch_metric says that a batch may only grow
    codes = G.sample(n_points, seed=seed).detach().cpu().to(torch.float64).numpy()
    if record is not None and not np.array_equal(codes[:len(record)], record):
        m = len(record)
        raise InputError(f"{out_dir} holds {m} codes drawn with seed {seed} that are not the first {m} of the "
                         f"{n_points} drawn now (an earlier ganmetric drew them, with rows that depended on the "
                         f"number of points): resume it with {{n_points}} {m}, or to grow the batch choose another "
                         f"folder for {{out_dir}}", argument="n_points", mentions=("n_points", "out_dir"))
    return codes


def point_status(path: Path, index: int, identity: dict, code: np.ndarray) -> str:
    """``"done"`` (valid result of this point), ``"missing"`` or ``"corrupt"`` (unreadable, holding
    non-finite values, or stale).

    Raises:
        InputError: the file is a valid result of a different batch (mixing is refused).
    """
    if not path.exists():
        return "missing"
    try:
        res = load_result(path)
    except ResultFileError:
        return "corrupt"
    batch = res.meta.get("batch")
    if not (isinstance(batch, dict) and same_identity(batch, identity)):
        theirs = batch if isinstance(batch, dict) else {"model": res.meta.get("model"),
                                                        "distance": res.meta.get("distance"),
                                                        "method": res.meta.get("method")}
        raise InputError(f"{path} belongs to a different batch ({identity_differences(theirs, identity)}); "
                         f"{OTHER_FOLDER}", argument="out_dir")
    want = code.astype(res.z.dtype) if np.issubdtype(res.z.dtype, np.floating) else code
    if res.meta.get("index") != index or res.z.shape != code.shape or not np.array_equal(res.z, want):
        return "corrupt"
    return "done"


def folder_statuses(out_dir: Path, indices, identity: dict, codes: np.ndarray, *, stop=None) -> dict[int, str]:
    """:func:`point_status` of each index (the folder listed once; a missing file is not opened).

    Args:
        stop: asked before each existing file is checked; when it returns True the statuses
            found so far are returned (fewer than ``indices``).
    """
    present = set(os.listdir(out_dir)) if Path(out_dir).is_dir() else set()
    status = {}
    for i in indices:
        name = point_name(i)
        if name not in present:
            status[i] = "missing"
            continue
        if stop is not None and stop():
            break
        status[i] = point_status(Path(out_dir) / name, i, identity, codes[i])
    return status


def remove_stale_temps(out_dir: Path) -> None:
    """Remove every temporary file (``.NAME.*.tmp``) of the batch's files: call it holding the folder's lock,
    before any rank writes, when every one of them was left by a killed run."""
    for name in os.listdir(out_dir):
        if name.startswith((".point_", f".{MANIFEST}.", f".{CODES}.")) and name.endswith(".tmp"):
            try:
                (Path(out_dir) / name).unlink()
            except OSError:
                pass


class Manifest:
    """Writes ``manifest.json`` (strict JSON, atomically): now, or at most every :data:`MANIFEST_EVERY` s."""

    def __init__(self, out_dir: Path, identity: dict, n_points: int, extra: dict):
        self.out_dir, self.identity, self.n_points, self.extra = out_dir, identity, n_points, extra
        self.last = time.monotonic()

    def write(self, status: dict[int, str], failures: dict[int, str] | None = None, *,
              interrupted: bool = False) -> None:
        """Record the points done and failed (with ``failures[i]``, the reason) and whether the run was interrupted."""
        failures = failures or {}
        points = [{"index": i, "file": point_name(i), "status": "done"} if state == "done" else
                  {"index": i, "status": "failed", "reason": failures.get(i)}
                  for i, state in sorted(status.items()) if state in ("done", "failed")]
        manifest = {"format": FORMAT, "identity": self.identity, **self.identity, **self.extra,
                    "n_points": self.n_points, "n_done": sum(p["status"] == "done" for p in points),
                    "n_failed": sum(p["status"] == "failed" for p in points), "interrupted": bool(interrupted),
                    "codes": CODES, "points": points}
        atomic_write_bytes(self.out_dir / MANIFEST, json_text(manifest).encode())
        self.last = time.monotonic()

    def every_few_seconds(self, status: dict[int, str], failures: dict[int, str] | None = None) -> None:
        if time.monotonic() - self.last > MANIFEST_EVERY:
            self.write(status, failures)
