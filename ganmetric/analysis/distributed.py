"""torch.distributed plumbing for batch runs under ``torchrun``: set-up from the environment, barriers, sums.

``torchrun`` (``python -m torch.distributed.run``) sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` for every worker. :func:`init_from_env` then picks the
rank's device and the backend (:func:`rank_placement`) and joins the process group; without
those variables it does nothing and the run is a single process.

Device rules for ``device="cuda"`` (no index) under torchrun, with ``v`` the GPUs this rank
sees and ``L`` the ranks on this node:

- ``L <= v``: rank ``LOCAL_RANK`` runs on ``cuda:LOCAL_RANK``, one GPU each, backend nccl
  (the communicator bound to that GPU with ``device_id``);
- ``v == 1`` (each rank given its own GPU by ``CUDA_VISIBLE_DEVICES``, or one GPU shared):
  ``cuda:0``, backend gloo (whether the GPUs are distinct cannot be told, and nccl refuses
  two ranks on one GPU);
- ``L > v > 1`` (more ranks than GPUs): ``cuda:(LOCAL_RANK mod v)``, backend gloo.

``cuda:K`` pins every rank to GPU K (backend gloo unless a node runs a single rank). The
collectives are a few integers and barriers, so gloo costs nothing here. A process group the
caller initialised is used as it is: its collectives run on the device of the rank's
generator (given to :func:`barrier` and :func:`sum_over_ranks`), not ``current_device()``.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from .. import checks

#: ranks wait at barriers while the slowest rank finishes its points: allow long runs.
BARRIER_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class RankPlacement:
    """Where a rank computes and which backend its process group uses."""

    device: torch.device
    backend: str


def rank_placement(requested: torch.device, *, local_rank: int, local_world_size: int, visible: int
                   ) -> RankPlacement:
    """The device and backend of one torchrun rank (the rules in the module docstring); pure, for tests.

    Args:
        requested: the device asked for (``cpu``, ``cuda``, ``cuda:K``, ...).
        local_rank: ``LOCAL_RANK``. local_world_size: ``LOCAL_WORLD_SIZE`` (ranks on this node).
        visible: CUDA devices this process sees (``torch.cuda.device_count()``).

    Returns:
        RankPlacement.
    """
    if requested.type != "cuda":
        return RankPlacement(requested, "gloo")
    if requested.index is not None:
        return RankPlacement(requested, "nccl" if local_world_size == 1 else "gloo")
    if visible <= 1:
        return RankPlacement(torch.device("cuda", 0), "nccl" if local_world_size == 1 else "gloo")
    if local_world_size <= visible:
        return RankPlacement(torch.device("cuda", local_rank), "nccl")
    return RankPlacement(torch.device("cuda", local_rank % visible), "gloo")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the world size, its device, and whether it joined a group."""

    rank: int
    world_size: int
    device: torch.device
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when ``RANK`` and ``WORLD_SIZE`` are set (torchrun, or a multi-node launcher)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env(device="cpu") -> DistContext:
    """Join the process group described by the environment, if any.

    Args:
        device: the requested device; under torchrun "cuda" becomes the rank's own GPU
            (:func:`rank_placement`).

    Returns:
        DistContext (rank 0 of 1 when not launched by torchrun).

    Raises:
        InputError: the device does not exist here.
    """
    dev = checks.device(device)
    if not launched_by_torchrun():
        return DistContext(0, 1, dev)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    place = rank_placement(dev, local_rank=local_rank, local_world_size=local_world,
                           visible=torch.cuda.device_count() if dev.type == "cuda" else 0)
    dev = checks.device(place.device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), dev)
    bound = {"device_id": dev} if place.backend == "nccl" else {}
    dist.init_process_group(place.backend, timeout=BARRIER_TIMEOUT, **bound)
    return DistContext(rank, world, dev, initialized_here=True)


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the joined process group, or (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def collective_device(device=None) -> torch.device:
    """Where this rank's collective tensors go: its own GPU under nccl (``device`` when it is a CUDA
    device, the rank's compute device; else the current one), the CPU under gloo."""
    if dist.get_backend() != "nccl":
        return torch.device("cpu")
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and device.index is not None:
        return device
    return torch.device("cuda", torch.cuda.current_device())


def barrier(device=None) -> None:
    """Wait for every rank (no-op in a single process).

    Args:
        device: this rank's compute device (the generator's): an nccl group's barrier runs there.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[collective_device(device).index])
    else:
        dist.barrier()


def sum_over_ranks(values: list[int], device=None) -> list[int]:
    """Element-wise sum of small integer counters over all ranks (identity in a single process).

    Args:
        values: this rank's counters.
        device: this rank's compute device (see :func:`barrier`).
    """
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.int64, device=collective_device(device))
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


def shutdown(ctx: DistContext) -> None:
    """Leave the process group if :func:`init_from_env` joined it."""
    if ctx.initialized_here and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device="cpu"):
    """``with process_group(device) as ctx:`` join the group torchrun describes (if any), leave it afterwards.

    Args:
        device: as in :func:`init_from_env`.

    Yields:
        DistContext (rank 0 of 1 when not launched by torchrun).

    Raises:
        InputError: the device does not exist here.
    """
    ctx = init_from_env(device)
    try:
        yield ctx
    finally:
        shutdown(ctx)
