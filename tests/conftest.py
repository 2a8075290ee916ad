"""Shared fixtures. Tests import the checkout they live in (not an installed copy), so
parallel worktrees test their own code; subprocesses get the same path via ``helpers.subprocess_env``.
Test modules import their helpers one way: ``from helpers import ...`` (tests/helpers.py)."""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

# numpy's OpenBLAS starts a thread per core in every test process; with one worker per core (pytest-xdist)
# they only wait for each other on the small eigh/qr calls of the tests (about 10% of the fast tier's CPU).
# Set before torch (which imports numpy) is imported; subprocesses inherit it (helpers.subprocess_env).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

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
    themselves. ``perf`` and ``integration`` tests are ``slow`` too (setup.cfg says what each holds).
    """
    available = {}
    for item in items:
        if item.get_closest_marker("perf") or item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.slow)  # outside the correctness tiers: never in the fast one
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("device") == "cuda":
            item.add_marker(pytest.mark.gpu)  # at collection, so that `-m gpu` selects it
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
    items[:] = longest_modules_first(items)


def longest_modules_first(items):
    """The items, whole modules together, those with the most ``slow`` tests first (stable otherwise).

    pytest-xdist hands each worker whole modules in this order (setup.cfg: ``--dist loadfile
    --no-loadscope-reorder``): the longest modules (the docs site's build, the killed and torchrun runs) start
    first, so no worker is left with one of them at the end while the other idles.
    """
    module_of = {id(item): item.nodeid.split("::", 1)[0] for item in items}
    first_seen, n_slow = {}, {}
    for item in items:
        module = module_of[id(item)]
        first_seen.setdefault(module, len(first_seen))
        n_slow[module] = n_slow.get(module, 0) + (item.get_closest_marker("slow") is not None)
    return sorted(items, key=lambda item: (-n_slow[module_of[id(item)]], first_seen[module_of[id(item)]]))


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


def _placements(value, where: str = "", depth: int = 0) -> list:
    """(where, device, dtype) of every tensor a fixture's value holds: modules, tensors, containers, dataclasses."""
    if depth > 4:
        return []
    if isinstance(value, torch.nn.Module):
        return [(f"{where}.{name}", str(t.device), str(t.dtype))
                for name, t in [*value.named_parameters(), *value.named_buffers()]]
    if isinstance(value, torch.Tensor):
        return [(where, str(value.device), str(value.dtype))]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
    else:
        return []
    return [p for key, item in items for p in _placements(item, f"{where}[{key!r}]", depth + 1)]


def placement_changes(values: dict, before: dict) -> list[str]:
    """What moved since ``before`` (``{name: _placements(value)}``): "NAME[...] was DEVICE DTYPE, now ..." lines."""
    return [f"{name}{where} was {dev} {dt}, now {now[1]} {now[2]}" for name, value in values.items()
            for (where, dev, dt), now in zip(before[name], _placements(value)) if (dev, dt) != now[1:]]


@pytest.fixture(autouse=True)
def _shared_fixtures_keep_their_placement(request):
    """A module- or session-scoped fixture is shared by later tests: a test that moves it in place (``G.to(cuda)``,
    ``.double()``) hands them a model on another device or dtype. Fails the test that did it."""
    defs = getattr(getattr(request.node, "_fixtureinfo", None), "name2fixturedefs", {})
    shared = {name: request.getfixturevalue(name) for name in request.fixturenames
              if name in defs and defs[name] and defs[name][-1].scope != "function"}
    before = {name: _placements(value) for name, value in shared.items()}
    yield
    moved = placement_changes(shared, before)
    if moved:
        pytest.fail("a shared fixture was moved in place (use a copy): " + "; ".join(moved[:3]), pytrace=False)
