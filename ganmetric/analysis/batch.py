"""``batch_metric``: the metric at many latent points, one result file each, resumable and distributable.

A batch directory holds::

    manifest.json        the batch's identity (model, latent space, distance and its options,
                         method, k, dtype, solver options, seed) and every point with its status
    codes.npy            the (N, n) latent codes, float64
    point_00000.npz ...  one result file per point (``ganmetric.io`` format, meta kind "point",
                         with ``index`` and the batch identity under ``batch``)

Every file is written to a temporary name and renamed, so killing the run at any moment
(SIGINT, SIGKILL) never leaves a half-written file and loses nothing already written.
Re-running the same batch skips the points whose files load and match, recomputes
missing or corrupt ones, and refuses a directory that belongs to another batch. Point
``i`` depends only on ``codes[i]`` and the batch options, so a resumed or distributed run
writes the same arrays as one uninterrupted process (on the same device type and thread
count: CPU BLAS results can depend on the number of threads).

Under ``torchrun`` (see :mod:`ganmetric.analysis.distributed`) rank ``r`` of ``P``
computes the points ``i`` with ``i % P == r``; rank 0 writes ``codes.npy`` and the
manifest.
"""
from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import checks
from .._progress import progress_bar
from ..errors import InputError, ResultFileError
from ..hessian import metric_tensor
from ..hessian.metric import METHODS
from ..io import atomic_write_bytes, load_result, save_result
from . import distributed

MANIFEST = "manifest.json"
CODES = "codes.npy"
FORMAT = "ganmetric-batch/1"
#: seconds between manifest updates in a single-process run (each is an atomic write)
MANIFEST_EVERY = 5.0


def point_name(index: int) -> str:
    """File name of point ``index``: ``point_00000.npz``."""
    return f"point_{index:05d}.npz"


@dataclass(frozen=True)
class BatchSummary:
    """What a :func:`batch_metric` call did (counts summed over ranks under torchrun).

    Attributes:
        out_dir: the batch directory.
        n_points: points in the batch.
        computed: points computed by this call (new or replacing a corrupt file).
        skipped: points whose valid files were already there.
        recomputed: of ``computed``, points whose existing file was corrupt or stale.
        seconds: wall time of this call (this rank).
        world_size: processes that shared the work.
        interrupted: ``stop()`` asked this rank to end early (the batch is incomplete).
    """

    out_dir: Path
    n_points: int
    computed: int
    skipped: int
    recomputed: int
    seconds: float
    world_size: int = 1
    interrupted: bool = False

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def batch_identity(G, D, method: str, k: int | None, *, eps: float, max_iter: int | None, tol: float | None,
                   lanczos_seed: int) -> dict:
    """The options that define a batch's results (two runs agree on these or may not share a directory).

    The device and ``chunk`` are left out: they change neither the mathematics nor what a
    user asked for, so a batch may be resumed on another device or with less memory.
    """
    dt = str(getattr(G, "dtype", torch.float32)).replace("torch.", "")
    return _jsonable({"model": G.name, "latent_space": G.latent_space, "latent_dim": int(G.latent_dim),
                      "distance": D.name, "distance_options": dict(D.options), "method": method, "k": k,
                      "dtype": dt, "solver": {"eps": eps, "max_iter": max_iter, "tol": tol,
                                              "lanczos_seed": lanczos_seed}})


def _differences(a: dict, b: dict) -> str:
    keys = [key for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]
    return "; ".join(f"{key}: directory has {a.get(key)!r}, this run {b.get(key)!r}" for key in keys)


def _read_manifest(out_dir: Path) -> dict | None:
    path = out_dir / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a readable batch manifest ({exc}); use another --out folder") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "identity" not in manifest:
        raise InputError(f"{path} is not a ganmetric batch manifest; use another --out folder")
    return manifest


def _check_directory(out_dir: Path, identity: dict, codes: np.ndarray) -> None:
    """Refuse a directory that belongs to another batch (other options, or other codes)."""
    manifest = _read_manifest(out_dir)
    if manifest is not None and manifest["identity"] != identity:
        raise InputError(f"{out_dir} holds a different batch ({_differences(manifest['identity'], identity)}); "
                         f"use another --out folder")
    path = out_dir / CODES
    if path.exists():
        try:
            old = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return  # a corrupt codes file is rewritten; every point is still checked against its own z
        n_old = old.shape[0] if old.ndim == 2 else -1
        if old.ndim != 2 or old.shape[1] != codes.shape[1] or n_old > codes.shape[0] or \
                not np.array_equal(old, codes[:n_old]):
            raise InputError(f"{out_dir} holds a batch for other latent codes ({old.shape} in {CODES}, this run "
                             f"{codes.shape}); a batch may only grow by appending codes: use another --out folder")


def point_status(path: Path, index: int, identity: dict, code: np.ndarray) -> str:
    """``"done"`` (valid result of this point), ``"missing"`` or ``"corrupt"`` (unreadable or stale).

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
    if batch != identity:
        theirs = batch if isinstance(batch, dict) else {"model": res.meta.get("model"),
                                                        "distance": res.meta.get("distance"),
                                                        "method": res.meta.get("method")}
        raise InputError(f"{path} belongs to a different batch ({_differences(theirs, identity)}); "
                         f"use another --out folder")
    want = code.astype(res.z.dtype) if np.issubdtype(res.z.dtype, np.floating) else code
    if res.meta.get("index") != index or res.z.shape != code.shape or not np.array_equal(res.z, want):
        return "corrupt"
    return "done"


def _remove_stale_temps(out_dir: Path, names) -> None:
    for name in names:
        for tmp in out_dir.glob(f".{name}.*.tmp"):
            try:
                tmp.unlink()
            except OSError:
                pass


def _write_manifest(out_dir: Path, identity: dict, n: int, status: dict[int, str], extra: dict) -> None:
    points = [{"index": i, "file": point_name(i), "status": "done" if status.get(i) == "done" else "pending"}
              for i in range(n)]
    manifest = {"format": FORMAT, "identity": identity, **identity, **extra, "n_points": n,
                "n_done": sum(p["status"] == "done" for p in points), "codes": CODES, "points": points}
    atomic_write_bytes(out_dir / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def batch_metric(G, D, codes, out_dir, method: str = "auto", k: int | None = None, *, chunk: int | None = None,
                 eps: float = 1e-3, max_iter: int | None = None, tol: float | None = None, lanczos_seed: int = 0,
                 seed: int | None = None, z_file: str | None = None, progress: bool = False,
                 stop: Callable[[], bool] | None = None) -> BatchSummary:
    """Compute the metric at every code and write one result file per point into ``out_dir``.

    Resumable (valid files are kept), safe to kill at any moment, and split across ranks
    when a torch.distributed process group is initialised (see the module docstring).

    Args:
        G: the generator. D: the distance.
        codes: (N, n) latent codes (array or tensor); point ``i`` is ``codes[i]``.
        out_dir: the batch directory (created if missing).
        method, k, chunk, eps, max_iter, tol: as in :func:`~ganmetric.metric_tensor`.
        lanczos_seed: seed of the Lanczos start vector (iterative methods), the same for every point.
        seed: the seed the codes were drawn with (recorded only).
        z_file: the file the codes came from (recorded only).
        progress: show a progress bar (rate and ETA) per rank.
        stop: called between points; when it returns True the run ends early, keeping every
            point written so far (the CLI sets it from a SIGINT handler: an interrupt that
            lands inside torch can be swallowed there, so it is never raised mid-point).

    Returns:
        BatchSummary.

    Raises:
        InputError: bad codes, method or k; ``out_dir`` is a file, or holds another batch
            (different model, latent space, distance, method, k, dtype or codes).
    """
    t0 = time.perf_counter()
    checks.one_of("method", method, METHODS)
    n = int(G.latent_dim)
    codes_t = checks.latent_codes(codes, n, name="codes")
    codes_np = codes_t.detach().cpu().to(torch.float64).numpy()
    if k is not None:
        checks.positive_int("k", k, maximum=n)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file; the batch needs a folder")
    identity = batch_identity(G, D, method, k, eps=eps, max_iter=max_iter, tol=tol, lanczos_seed=lanczos_seed)
    rank, world = distributed.rank_and_world()
    if out_dir.is_dir():
        _check_directory(out_dir, identity, codes_np)  # every rank: all raise alike, before any barrier
    N = codes_np.shape[0]
    mine = [i for i in range(N) if i % world == rank]
    status = {i: point_status(out_dir / point_name(i), i, identity, codes_np[i]) for i in mine}
    extra = {"seed": seed, "z_file": z_file}
    if rank == 0:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
        _remove_stale_temps(out_dir, [MANIFEST, CODES])
        atomic_write_bytes(out_dir / CODES, _npy_bytes(codes_np))
        _write_manifest(out_dir, identity, N, status if world == 1 else {}, extra)
    distributed.barrier()
    _remove_stale_temps(out_dir, [point_name(i) for i in mine])

    todo = [i for i in mine if status[i] != "done"]
    corrupt = {i for i in todo if status[i] == "corrupt"}
    last_write = time.monotonic()
    bar = progress_bar(todo, enable=progress, total=len(todo), unit="pt",
                       desc="points" if world == 1 else f"rank {rank}/{world}", position=rank)
    interrupted = False
    try:
        for count, i in enumerate(bar):
            if stop is not None and stop():
                interrupted = True
                break
            res = metric_tensor(G, D, codes_t[i:i + 1], method=method, k=k, chunk=chunk, eps=eps,
                                max_iter=max_iter, tol=tol, seed=lanczos_seed, probe=count == 0)
            save_result(out_dir / point_name(i), res, kind="point", index=i, batch=identity,
                        model=G.name, latent_space=G.latent_space, distance=D.name,
                        distance_options=dict(D.options), requested_method=method, seed=seed,
                        lanczos_seed=lanczos_seed, z_file=z_file, device=str(getattr(G, "device", "cpu")))
            status[i] = "done"
            if world == 1 and time.monotonic() - last_write > MANIFEST_EVERY:
                _write_manifest(out_dir, identity, N, status, extra)
                last_write = time.monotonic()
    finally:
        if world == 1:
            _write_manifest(out_dir, identity, N, status, extra)
    fresh = [i for i in todo if status[i] == "done"]
    computed, skipped, recomputed, stopped = distributed.sum_over_ranks(
        [len(fresh), len(mine) - len(todo), sum(i in corrupt for i in fresh), int(interrupted)])
    distributed.barrier()
    if rank == 0 and world > 1:
        final = {i: point_status(out_dir / point_name(i), i, identity, codes_np[i]) for i in range(N)}
        _write_manifest(out_dir, identity, N, final, extra)
    distributed.barrier()
    return BatchSummary(out_dir, N, computed, skipped, recomputed, time.perf_counter() - t0, world, stopped > 0)

