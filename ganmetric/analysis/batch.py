"""``batch_metric``: the metric at many latent points, one result file each, resumable and distributable.

The folder's layout and the rules for resuming and growing it are in
:mod:`ganmetric.analysis.batch_folder`. Every file is written to a temporary name and
renamed, so killing the run at any moment (SIGINT, SIGKILL) never leaves a half-written
file and loses nothing already written. Re-running the same batch skips the points whose
files load and match, recomputes missing or corrupt ones, and refuses a directory that
belongs to another batch. Point ``i`` depends only on ``codes[i]`` and the batch options,
so a resumed or distributed run writes the same arrays as one uninterrupted process (on
the same device type and thread count: CPU BLAS results can depend on the number of threads;
on CUDA, reverse-mode passes through bilinear ``interpolate`` are not bitwise reproducible, see
:mod:`ganmetric.precision`).

A run holds the folder's lock (:class:`ganmetric.locks.FolderLock`, released by the OS
however the process ends): a second run into the same folder is refused in one line naming
the first. Under ``torchrun`` (see :mod:`ganmetric.analysis.distributed`) rank ``r`` of ``P``
computes the points ``i`` with ``i % P == r``; rank 0 holds the lock, writes ``codes.npy``
and the manifest, and the other ranks rely on it.

A point whose image or metric is not finite (a generator returning NaN for some codes) is
not saved: it is recorded as failed, with its reason, in the manifest and the summary, and
computed again when the batch is resumed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import checks
from .._progress import progress_bar
from ..errors import FolderLockedError, InputError
from ..hessian import check_options, metric_tensor
from ..hessian.metric import DEFAULT_EPS
from ..io import atomic_write_bytes, npy_bytes
from ..locks import FolderLock
from ..placement import as_numpy, check_codes_device, check_same_dtype, module_device, placement
from . import distributed
from .batch_folder import (CODES, MANIFEST, MAX_POINTS, Manifest, batch_identity, check_directory, check_size,
                           folder_statuses, point_name, remove_stale_temps)

#: why a point failed (recorded in the manifest; :data:`FAILURES` in this order across ranks)
NOT_FINITE_IMAGE = "the generator's output is not finite at this code"
NOT_FINITE_ACTIVATIONS = "the layer's activations are not finite at this code"
NOT_FINITE_METRIC = "the metric is not finite at this code (non-finite derivatives of the generator or the distance)"
FAILURES = (NOT_FINITE_IMAGE, NOT_FINITE_ACTIVATIONS, NOT_FINITE_METRIC)


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
        failures: point index -> why it failed (its image or metric was not finite), over
            every rank; failed points are not saved and are computed again on resume.
    """

    out_dir: Path
    n_points: int
    computed: int
    skipped: int
    recomputed: int
    seconds: float
    world_size: int = 1
    interrupted: bool = False
    failures: dict = field(default_factory=dict)

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST

    @property
    def failed(self) -> int:
        """Points that failed in this call."""
        return len(self.failures)


def _validated(G, D, codes, out_dir, solver: dict) -> tuple[torch.Tensor, np.ndarray, Path]:
    """Check every argument before anything is written; codes as a float64 tensor and array."""
    check_options(G, D, **solver)
    check_same_dtype(G, D)  # and the device, in one line, before anything is written
    check_codes_device(codes, G, name="codes")
    codes_t = checks.latent_codes("codes", codes, int(G.latent_dim))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"out_dir {out_dir} is a file; a batch needs a folder", argument="out_dir")
    return codes_t, codes_t.detach().cpu().to(torch.float64).numpy(), out_dir


def lock_for_ranks(out_dir: Path, device=None) -> FolderLock | None:
    """Rank 0 takes the folder's lock (creating the folder's parents) and returns it (None on other ranks,
    which rely on it); every rank raises alike when it cannot.

    Raises:
        FolderLockedError: another run holds the folder. InputError: its parent cannot be created.
    """
    rank, _ = distributed.rank_and_world()
    lock, error = None, None
    if rank == 0:
        try:
            out_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            error = InputError(f"cannot create {out_dir.parent}: {exc.strerror or exc}", argument="out_dir")
        else:
            try:
                lock = FolderLock(out_dir).acquire()
            except (FolderLockedError, InputError, OSError) as exc:
                error = exc
    if distributed.sum_over_ranks([int(error is not None)], device)[0]:
        if lock is not None:
            lock.release()
        raise error if error is not None else FolderLockedError(f"rank 0 could not lock {out_dir} (its message "
                                                                f"says why)")
    return lock


def _prepare_directory(out_dir: Path, codes: np.ndarray, manifest: Manifest, status: dict, rank: int,
                       world: int, device=None) -> None:
    """Rank 0 creates the folder, clears temporary files of killed runs, and writes the codes and the manifest."""
    if rank == 0:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {out_dir}: {exc.strerror or exc}", argument="out_dir") from exc
        remove_stale_temps(out_dir)  # holding the lock, before any rank writes: every temporary file is stale
        atomic_write_bytes(out_dir / CODES, npy_bytes(codes))
        manifest.write(status if world == 1 else {})
    distributed.barrier(device)


def _compute_point(G, D, z: torch.Tensor, solver: dict, probe: bool, allow_tf32: bool):
    """(the point's MetricResult, None), or (None, why it failed) when what the distance compares there (the
    image, or a layer distance's activations) or the metric is not finite."""
    with torch.no_grad():
        compared = D.inputs(G, z.to(**placement(G)))
    if not bool(torch.isfinite(compared).all()):  # checked first: the determinism probe would blame batch statistics
        return None, NOT_FINITE_IMAGE if D.compares_images else NOT_FINITE_ACTIVATIONS
    try:
        res = metric_tensor(G, D, z, **solver, probe=probe, allow_tf32=allow_tf32)
    except (torch.linalg.LinAlgError, ArithmeticError):  # eigh of a metric holding NaN; a non-finite product
        return None, NOT_FINITE_METRIC
    arrays = [res.eigvals, res.eigvecs] + ([] if res.H is None else [res.H])
    if not all(np.isfinite(as_numpy(a)).all() for a in arrays):
        return None, NOT_FINITE_METRIC
    return res, None


def _compute_points(G, D, codes: torch.Tensor, todo: list[int], out_dir: Path, identity: dict, status: dict,
                    failures: dict, manifest: Manifest | None, solver: dict, meta: dict, stop, bar,
                    allow_tf32: bool = False) -> bool:
    """Compute and save each point of ``todo`` in order (a failed one recorded in ``failures``, not saved);
    True when ``stop()`` ended the run early."""
    probed = False
    for i in bar:
        if stop is not None and stop():
            return True
        res, failure = _compute_point(G, D, codes[i:i + 1], solver, probe=not probed, allow_tf32=allow_tf32)
        if failure is not None:
            status[i], failures[i] = "failed", failure
        else:
            probed = True
            res.save(out_dir / point_name(i), index=i, batch=identity, **meta)
            status[i] = "done"
        if manifest is not None:
            manifest.every_few_seconds(status, failures)
    return False


def _point_meta(G, D, method: str, *, seed, lanczos_seed: int, z_file) -> dict:
    """What each point file records besides its result (model and distance included) and the batch identity."""
    return dict(requested_method=method, seed=seed, lanczos_seed=lanczos_seed, z_file=z_file,
                device=str(getattr(G, "device", "cpu")))


def _counts_over_ranks(was: dict[int, str], status: dict[int, str], interrupted: bool, device=None) -> list[int]:
    """[computed, skipped, recomputed, ranks interrupted], summed over ranks (``was``: status before computing)."""
    fresh = [i for i, before in was.items() if before != "done" and status[i] == "done"]
    return distributed.sum_over_ranks([len(fresh), sum(before == "done" for before in was.values()),
                                       sum(was[i] == "corrupt" for i in fresh), int(interrupted)], device)


def _failures_over_ranks(failures: dict[int, str], n_points: int, world: int, device=None) -> dict[int, str]:
    """Every rank's failed points and reasons (each rank's ``failures`` in a single process), as one sum."""
    if world == 1:
        return dict(failures)
    codes = [0] * n_points
    for i, why in failures.items():
        codes[i] = 1 + FAILURES.index(why)
    return {i: FAILURES[c - 1] for i, c in enumerate(distributed.sum_over_ranks(codes, device)) if c}


def _final_manifest(out_dir: Path, identity: dict, codes: np.ndarray, manifest: Manifest, rank: int,
                    failures: dict, interrupted: bool, device=None) -> None:
    """Rank 0 of a multi-process run records every rank's points (it saw only its own), between barriers."""
    distributed.barrier(device)
    if rank == 0:
        status = folder_statuses(out_dir, range(len(codes)), identity, codes)
        manifest.write({**status, **{i: "failed" for i in failures}}, failures, interrupted=interrupted)
    distributed.barrier(device)


def batch_metric(G, D, codes, out_dir, method: str = "auto", k: int | None = None, *, chunk: int | None = None,
                 eps: float | None = None, max_iter: int | None = None, tol: float | None = None, lanczos_seed: int = 0,
                 seed: int | None = None, z_file: str | None = None, max_points: int = MAX_POINTS,
                 progress: bool = False, stop: Callable[[], bool] | None = None,
                 allow_tf32: bool = False) -> BatchSummary:
    """Compute the metric at every code and write one result file per point into ``out_dir``.

    Resumable (valid files are kept), safe to kill at any moment, and split across ranks
    when a torch.distributed process group is initialised (see the module docstring).

    Args:
        G: the generator.
        D: the distance.
        codes: (N, n) latent codes (array or tensor); point ``i`` is ``codes[i]``. To grow a
            folder, pass its codes with new rows appended (:func:`batch_codes` does that for a
            seeded batch).
        out_dir: the batch directory (created if missing).
        method, k, chunk, eps, max_iter, tol: as in :func:`~ganmetric.metric_tensor`.
        lanczos_seed: seed of the Lanczos start vector (iterative methods), the same for every point.
        allow_tf32: TF32 products on CUDA (as in :func:`~ganmetric.metric_tensor`); part of the
            batch's identity when set.
        seed: the seed the codes were drawn with (recorded, and named when a folder's codes differ).
        z_file: the file the codes came from (recorded only).
        max_points: the most points a batch may have (checked before anything is written;
            raise it for a larger batch: the error says how much it would write).
        progress: show a progress bar (rate and ETA) per rank.
        stop: called between points (and while existing point files are checked); when it
            returns True the run ends early, keeping every point written so far (the CLI sets
            it from a SIGINT handler: an interrupt that lands inside torch can be swallowed
            there, so it is never raised mid-point).

    Returns:
        BatchSummary.

    Raises:
        InputError: bad codes, method or k; more codes than ``max_points``; ``out_dir`` is a
            file, or holds another batch (different model, latent space, distance, method, k,
            dtype, or codes that this run's codes do not extend).
        FolderLockedError: another run is using ``out_dir``.
        OutputError: a file cannot be written (e.g. the disk is full); the points written
            before stay valid.
    """
    t0 = time.perf_counter()
    eps = DEFAULT_EPS if eps is None else eps  # recorded as a number in the batch identity (as before)
    solver = dict(method=method, k=k, chunk=chunk, eps=eps, max_iter=max_iter, tol=tol, seed=lanczos_seed)
    codes_t, codes_np, out_dir = _validated(G, D, codes, out_dir, solver)
    check_size(len(codes_np), int(G.latent_dim), k, getattr(G, "dtype", torch.float32), max_points)
    allow_tf32 = checks.flag("allow_tf32", allow_tf32)
    identity = batch_identity(G, D, method, k, eps=eps, max_iter=max_iter, tol=tol, lanczos_seed=lanczos_seed,
                              allow_tf32=allow_tf32)
    rank, world = distributed.rank_and_world()
    device = module_device(G)  # collectives of a caller's nccl group run on this rank's GPU
    lock = lock_for_ranks(out_dir, device)
    try:
        return _run(G, D, codes_t, codes_np, out_dir, identity, solver, rank, world, t0, seed=seed, z_file=z_file,
                    method=method, lanczos_seed=lanczos_seed, progress=progress, stop=stop, allow_tf32=allow_tf32,
                    device=device)
    finally:
        if lock is not None:
            lock.release()


def _run(G, D, codes_t, codes_np, out_dir: Path, identity: dict, solver: dict, rank: int, world: int, t0: float, *,
         seed, z_file, method, lanczos_seed, progress, stop, allow_tf32, device) -> BatchSummary:
    """:func:`batch_metric` with its arguments checked and the folder locked."""
    if out_dir.is_dir():
        check_directory(out_dir, identity, codes_np, seed)  # every rank: all raise alike, before any barrier
    N = codes_np.shape[0]
    mine = [i for i in range(N) if i % world == rank]
    # checking many existing files takes a while: a single process may be stopped there (ranks must meet at barriers)
    status = folder_statuses(out_dir, mine, identity, codes_np, stop=stop if world == 1 else None)
    if len(status) < len(mine):
        return BatchSummary(out_dir, N, 0, 0, 0, time.perf_counter() - t0, world, True)  # nothing written
    manifest = Manifest(out_dir, identity, N, {"seed": seed, "z_file": z_file})
    _prepare_directory(out_dir, codes_np, manifest, status, rank, world, device)

    todo = [i for i in mine if status[i] != "done"]
    bar = progress_bar(todo, enable=progress, total=len(todo), unit="pt",
                       desc="points" if world == 1 else f"rank {rank}/{world}", position=rank)
    meta = _point_meta(G, D, method, seed=seed, lanczos_seed=lanczos_seed, z_file=z_file)
    was, failures, interrupted = dict(status), {}, False
    try:
        interrupted = _compute_points(G, D, codes_t, todo, out_dir, identity, status, failures,
                                      manifest if world == 1 else None, solver, meta, stop, bar, allow_tf32)
    finally:
        if world == 1:
            manifest.write(status, failures, interrupted=interrupted)
    counts = _counts_over_ranks(was, status, interrupted, device)
    failures = _failures_over_ranks(failures, N, world, device)
    if world > 1:
        _final_manifest(out_dir, identity, codes_np, manifest, rank, failures, counts[3] > 0, device)
    return BatchSummary(out_dir, N, *counts[:3], time.perf_counter() - t0, world, counts[3] > 0,
                        dict(sorted(failures.items())))
