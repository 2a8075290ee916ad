"""torch.distributed plumbing for batch runs under ``torchrun``: set-up from the environment, barriers, sums.

``torchrun`` (``python -m torch.distributed.run``) sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` for every worker. :func:`init_from_env` then joins the process group
(gloo for CPU runs, nccl for CUDA runs, each rank on ``cuda:LOCAL_RANK``); without those
variables it does nothing and the run is a single process.
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
        device: the requested device; "cuda" becomes ``cuda:LOCAL_RANK`` under torchrun.

    Returns:
        DistContext (rank 0 of 1 when not launched by torchrun).

    Raises:
        InputError: the device does not exist here.
    """
    dev = checks.device(device)
    if not launched_by_torchrun():
        return DistContext(0, 1, dev)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if dev.type == "cuda":
        dev = checks.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
        torch.cuda.set_device(dev)
    if dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=BARRIER_TIMEOUT)
    return DistContext(rank, world, dev, initialized_here=True)


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the joined process group, or (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def sum_over_ranks(values: list[int]) -> list[int]:
    """Element-wise sum of small integer counters over all ranks (identity in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor(values, dtype=torch.int64, device=_collective_device())
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


def merge_dicts(mine: dict) -> dict:
    """The union of every rank's dict (disjoint keys, small picklable values; ``mine`` in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return dict(mine)
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, dict(mine))
    return {key: value for part in gathered for key, value in part.items()}


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
