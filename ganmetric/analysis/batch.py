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

Under ``torchrun`` (see :mod:`ganmetric.analysis.distributed`) rank ``r`` of ``P``
computes the points ``i`` with ``i % P == r``; rank 0 writes ``codes.npy`` and the
manifest.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import checks
from .._progress import progress_bar
from ..errors import InputError
from ..hessian import check_options, metric_tensor
from ..hessian.metric import DEFAULT_EPS
from ..io import atomic_write_bytes
from ..placement import check_codes_device, check_same_dtype, module_device
from . import distributed
from .batch_folder import (CODES, MANIFEST, Manifest, batch_identity, check_directory, npy_bytes, point_name,
                           point_status, remove_stale_temps)


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


def _validated(G, D, codes, out_dir, solver: dict) -> tuple[torch.Tensor, np.ndarray, Path]:
    """Check every argument before anything is written; codes as a float64 tensor and array."""
    check_same_dtype(G, D)  # and the device, in one line, before anything is written
    check_codes_device(codes, G, name="codes")
    check_options(G, D, **solver)
    codes_t = checks.latent_codes(codes, int(G.latent_dim), name="codes")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"out_dir {out_dir} is a file; a batch needs a folder")
    return codes_t, codes_t.detach().cpu().to(torch.float64).numpy(), out_dir


def _prepare_directory(out_dir: Path, codes: np.ndarray, manifest: Manifest, status: dict, rank: int,
                       world: int, mine: list[int], device=None) -> None:
    """Rank 0 creates the folder and writes the codes and the manifest; every rank then clears its stale temps."""
    if rank == 0:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {out_dir}: {exc.strerror or exc}") from exc
        remove_stale_temps(out_dir, [MANIFEST, CODES])
        atomic_write_bytes(out_dir / CODES, npy_bytes(codes))
        manifest.write(status if world == 1 else {})
    distributed.barrier(device)
    remove_stale_temps(out_dir, [point_name(i) for i in mine])


def _compute_points(G, D, codes: torch.Tensor, todo: list[int], out_dir: Path, identity: dict,
                    status: dict, manifest: Manifest | None, solver: dict, meta: dict, stop, bar,
                    allow_tf32: bool = False) -> bool:
    """Compute and save each point of ``todo`` in order; True when ``stop()`` ended the run early."""
    for count, i in enumerate(bar):
        if stop is not None and stop():
            return True
        res = metric_tensor(G, D, codes[i:i + 1], **solver, probe=count == 0, allow_tf32=allow_tf32)
        res.save(out_dir / point_name(i), index=i, batch=identity, **meta)
        status[i] = "done"
        if manifest is not None:
            manifest.every_few_seconds(status)
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


def _final_manifest(out_dir: Path, identity: dict, codes: np.ndarray, manifest: Manifest, rank: int,
                    device=None) -> None:
    """Rank 0 of a multi-process run records every rank's points (it saw only its own), between barriers."""
    distributed.barrier(device)
    if rank == 0:
        manifest.write({i: point_status(out_dir / point_name(i), i, identity, codes[i]) for i in range(len(codes))})
    distributed.barrier(device)


def batch_metric(G, D, codes, out_dir, method: str = "auto", k: int | None = None, *, chunk: int | None = None,
                 eps: float | None = None, max_iter: int | None = None, tol: float | None = None, lanczos_seed: int = 0,
                 seed: int | None = None, z_file: str | None = None, progress: bool = False,
                 stop: Callable[[], bool] | None = None, allow_tf32: bool = False) -> BatchSummary:
    """Compute the metric at every code and write one result file per point into ``out_dir``.

    Resumable (valid files are kept), safe to kill at any moment, and split across ranks
    when a torch.distributed process group is initialised (see the module docstring).

    Args:
        G: the generator. D: the distance.
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
        progress: show a progress bar (rate and ETA) per rank.
        stop: called between points; when it returns True the run ends early, keeping every
            point written so far (the CLI sets it from a SIGINT handler: an interrupt that
            lands inside torch can be swallowed there, so it is never raised mid-point).

    Returns:
        BatchSummary.

    Raises:
        InputError: bad codes, method or k; ``out_dir`` is a file, or holds another batch
            (different model, latent space, distance, method, k, dtype, or codes that this
            run's codes do not extend).
    """
    t0 = time.perf_counter()
    eps = DEFAULT_EPS if eps is None else eps  # recorded as a number in the batch identity (as before)
    solver = dict(method=method, k=k, chunk=chunk, eps=eps, max_iter=max_iter, tol=tol, seed=lanczos_seed)
    codes_t, codes_np, out_dir = _validated(G, D, codes, out_dir, solver)
    allow_tf32 = checks.flag("allow_tf32", allow_tf32)
    identity = batch_identity(G, D, method, k, eps=eps, max_iter=max_iter, tol=tol, lanczos_seed=lanczos_seed,
                              allow_tf32=allow_tf32)
    rank, world = distributed.rank_and_world()
    if out_dir.is_dir():
        check_directory(out_dir, identity, codes_np, seed)  # every rank: all raise alike, before any barrier
    N = codes_np.shape[0]
    mine = [i for i in range(N) if i % world == rank]
    status = {i: point_status(out_dir / point_name(i), i, identity, codes_np[i]) for i in mine}
    manifest = Manifest(out_dir, identity, N, {"seed": seed, "z_file": z_file})
    device = module_device(G)  # collectives of a caller's nccl group run on this rank's GPU
    _prepare_directory(out_dir, codes_np, manifest, status, rank, world, mine, device)

    todo = [i for i in mine if status[i] != "done"]
    bar = progress_bar(todo, enable=progress, total=len(todo), unit="pt",
                       desc="points" if world == 1 else f"rank {rank}/{world}", position=rank)
    meta = _point_meta(G, D, method, seed=seed, lanczos_seed=lanczos_seed, z_file=z_file)
    was = dict(status)
    try:
        interrupted = _compute_points(G, D, codes_t, todo, out_dir, identity, status,
                                      manifest if world == 1 else None, solver, meta, stop, bar, allow_tf32)
    finally:
        if world == 1:
            manifest.write(status)
    counts = _counts_over_ranks(was, status, interrupted, device)
    if world > 1:
        _final_manifest(out_dir, identity, codes_np, manifest, rank, device)
    return BatchSummary(out_dir, N, *counts[:3], time.perf_counter() - t0, world, counts[3] > 0)
