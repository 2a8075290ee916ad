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
