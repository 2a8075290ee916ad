"""Shared fixtures. Tests import the checkout they live in (not an installed copy), so
parallel worktrees test their own code; subprocesses get the same path via ``subprocess_env``."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT / "cli", ROOT):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


# Many small ops, and tests that start several processes (torchrun ranks): one intra-op
# thread per process avoids oversubscribing CI's 2 cores, which slowed tests by 10-50x.
torch.set_num_threads(1)


def subprocess_env(**extra) -> dict:
    """Environment for child processes that must import this checkout (one thread each)."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "cli"), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda":
        request.applymarker(pytest.mark.gpu)
    return torch.device(request.param)


@pytest.fixture(scope="session")
def dcgan_face():
    """The real pretrained dcgan-face generator (fetched and verified once per session), float64."""
    import ganmetric
    return ganmetric.load_generator("dcgan-face", dtype="float64")


@pytest.fixture(scope="session")
def lpips_random64():
    import ganmetric
    return ganmetric.load_distance("lpips-alex", lpips_backbone="random", dtype="float64")
