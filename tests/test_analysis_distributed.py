"""Single-process behaviour of the torch.distributed helpers (the two-rank run is in
test_analysis_batch_processes.py, under torchrun)."""
import pytest
import torch

import ganmetric
from ganmetric.analysis import distributed


def test_without_torchrun_it_is_one_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ctx = distributed.init_from_env("cpu")
    assert (ctx.rank, ctx.world_size, ctx.device, ctx.initialized_here, ctx.is_main) == \
        (0, 1, torch.device("cpu"), False, True)
    assert distributed.rank_and_world() == (0, 1)
    assert distributed.sum_over_ranks([1, 2, 3]) == [1, 2, 3]
    distributed.barrier()
    distributed.shutdown(ctx)


def test_gloo_group_of_one(monkeypatch, tmp_path):
    """The torchrun code path in-process: a gloo group of size 1 joined from the environment."""
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "0")
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "False")
    try:
        ctx = distributed.init_from_env("cpu")
    except Exception as exc:  # pragma: no cover - sandboxes without loopback sockets
        pytest.skip(f"cannot open a gloo group here: {exc}")
    try:
        assert ctx.initialized_here and torch.distributed.get_backend() == "gloo"
        assert distributed.sum_over_ranks([4, 5]) == [4, 5]
        distributed.barrier()
    finally:
        distributed.shutdown(ctx)
    assert not torch.distributed.is_initialized()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_requested_without_cuda():
    with pytest.raises(ganmetric.InputError, match="CUDA is not available"):
        distributed.init_from_env("cuda")


CUDA, CPU = torch.device("cuda"), torch.device("cpu")


@pytest.mark.parametrize("requested, local_rank, local_world, visible, device, backend", [
    (CPU, 1, 2, 0, "cpu", "gloo"),
    (CUDA, 1, 2, 2, "cuda:1", "nccl"),          # one GPU per rank: cuda:LOCAL_RANK, nccl bound to it
    (CUDA, 3, 4, 8, "cuda:3", "nccl"),
    (CUDA, 1, 2, 1, "cuda:0", "gloo"),          # CUDA_VISIBLE_DEVICES per rank (or one shared GPU): cuda:0
    (CUDA, 0, 1, 1, "cuda:0", "nccl"),          # one rank per node
    (CUDA, 5, 6, 4, "cuda:1", "gloo"),          # more ranks than GPUs: shared round robin, not nccl
    (torch.device("cuda", 2), 1, 2, 4, "cuda:2", "gloo"),   # pinned: every rank on GPU 2
])
def test_rank_placement(requested, local_rank, local_world, visible, device, backend):
    place = distributed.rank_placement(requested, local_rank=local_rank, local_world_size=local_world,
                                       visible=visible)
    assert (str(place.device), place.backend) == (device, backend)


def _fake_cuda(monkeypatch, count: int):
    """torch.cuda as if ``count`` GPUs were there (for the device checks and set_device)."""
    calls = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "set_device", lambda dev: calls.setdefault("set_device", dev))
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    return calls


@pytest.mark.parametrize("visible, local_world, device, bound", [(2, 2, "cuda:1", True), (1, 2, "cuda:0", False)])
def test_torchrun_rank_joins_with_its_own_gpu_and_device_id(monkeypatch, visible, local_world, device, bound):
    calls = _fake_cuda(monkeypatch, visible)
    for var, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": str(local_world)}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group",
                        lambda backend, **kw: calls.setdefault("init", (backend, kw)))
    ctx = distributed.init_from_env("cuda")
    assert str(ctx.device) == device and str(calls["set_device"]) == device and ctx.initialized_here
    backend, kw = calls["init"]
    assert backend == ("nccl" if bound else "gloo") and ("device_id" in kw) == bound
    if bound:
        assert kw["device_id"] == torch.device(device)


def test_collectives_of_a_users_nccl_group_run_on_the_ranks_gpu(monkeypatch):
    """A group the user initialised (no set_device: current_device() is 0 on every rank): the rank's
    generator's device decides, not current_device()."""
    _fake_cuda(monkeypatch, 4)
    seen = {}
    monkeypatch.setattr(torch.distributed, "is_available", lambda: True)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_backend", lambda: "nccl")
    monkeypatch.setattr(torch.distributed, "barrier", lambda device_ids=None: seen.setdefault("barrier", device_ids))
    assert distributed.collective_device(torch.device("cuda", 3)) == torch.device("cuda", 3)
    assert distributed.collective_device(None) == torch.device("cuda", 0)
    distributed.barrier(torch.device("cuda", 2))
    assert seen["barrier"] == [2]
    monkeypatch.setattr(torch.distributed, "get_backend", lambda: "gloo")
    assert distributed.collective_device(torch.device("cuda", 3)) == CPU
