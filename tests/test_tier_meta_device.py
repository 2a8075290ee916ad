"""The meta-device tier: the API runs under ``torch.set_default_device("meta")`` with G, D and the codes on the CPU.

A tensor created without a device then lands on ``meta``, which holds no data: mixing it with
the CPU tensors raises, and copying it out raises. On a GPU machine the same tensor would land
on the CPU next to CUDA tensors (or, under ``set_default_device("cuda")``, on the GPU next to
CPU ones), which is the fault this tier catches on a CPU-only machine: every method and the
main workflows (batch, axes, inversion, paths, compress, optimize, layers) run here, on tiny
models, and must give the numbers they give without a default device.
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.distances import FunctionDistance
from ganmetric.generators.families import FAMILIES
from helpers import TinyConvGenerator
from helpers_devices import TINY_MODEL_FILES, TINY_MODELS

pytestmark = [pytest.mark.filterwarnings("ignore::ganmetric.NumericalWarning"),  # tiny budgets on purpose
              pytest.mark.filterwarnings("ignore::ganmetric.errors.UnknownSourceWarning")]  # NVIDIA .pkl: own source

METHODS = [("jacobian", None), ("gn-lanczos", 2), ("fwd-over-rev", None), ("fwd-over-rev", 2), ("bp", None),
           ("backward-iter", 2), ("forward-iter", 2)]


@contextlib.contextmanager
def meta_default():
    """Every tensor made without a device goes to ``meta`` inside (the previous default is restored)."""
    before = torch.get_default_device()
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(before)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """``tiny_model(family)`` -> a function loading that family's tiny model (as a user would) on the CPU."""
    folder = tmp_path_factory.mktemp("tiny-models")

    def loader(family):
        if family not in TINY_MODELS:
            pytest.fail(f"family {family} has no tiny model in tests/helpers_devices.py TINY_MODELS: add one so that "
                        f"the device tiers cover it")
        model, options = TINY_MODELS[family](folder)
        return lambda: ganmetric.load_generator(model, device="cpu", dtype="float64", **options)
    return loader


@pytest.fixture(scope="module")
def G():
    return TinyConvGenerator(n=6, res=16, seed=1).double()


@pytest.fixture(scope="module")
def mse():
    return ganmetric.load_distance("mse", dtype="float64")


@pytest.fixture(scope="module")
def lpips():
    return ganmetric.load_distance("lpips-squeeze", lpips_backbone="random", resize=32, dtype="float64")


def _close(a, b, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("method, k", METHODS)
def test_every_method_gives_the_same_metric_under_a_meta_default_device(G, mse, method, k):
    z = G.sample(1, seed=0)
    want = ganmetric.metric_tensor(G, mse, z, method=method, k=k)
    with meta_default():
        got = ganmetric.metric_tensor(G, mse, z, method=method, k=k)
    assert got.eigvals.device.type == "cpu" and got.eigvecs.device.type == "cpu"
    _close(got.eigvals, want.eigvals, rtol=1e-7 if method == "forward-iter" else 1e-9)


def test_lpips_with_resize_and_a_distance_without_features(G, lpips):
    z = G.sample(1, seed=1)
    fn = FunctionDistance(lambda x, y: (x - y).pow(2).flatten(1).mean(1) + (x - y).abs().pow(3).flatten(1).mean(1))
    want = [ganmetric.metric_tensor(G, lpips, z), ganmetric.metric_tensor(G, fn, z)]
    with meta_default():
        got = [ganmetric.metric_tensor(G, lpips, z), ganmetric.metric_tensor(G, fn, z)]
    for a, b in zip(got, want):
        _close(a.eigvals, b.eigvals)


def test_batch_grows_and_resumes(G, mse, tmp_path):
    with meta_default():
        codes = ganmetric.analysis.batch_codes(G, 2, seed=3, out_dir=tmp_path / "b")
        ganmetric.batch_metric(G, mse, codes, tmp_path / "b", method="gn-lanczos", k=2, seed=3)
        codes = ganmetric.analysis.batch_codes(G, 3, seed=3, out_dir=tmp_path / "b")
        s = ganmetric.batch_metric(G, mse, codes, tmp_path / "b", method="gn-lanczos", k=2, seed=3)
        rs = ganmetric.load_results(tmp_path / "b")
        ganmetric.spectrum_stats(rs)
        ganmetric.homogeneity(rs)
        avg = ganmetric.average_metric(rs)
    assert (s.computed, s.skipped) == (1, 2) and len(rs) == 3
    _close(codes, G.sample(3, seed=3).numpy(), rtol=0, atol=0)
    assert avg.k == 6


def _both(run):
    """``run()`` without a default device and under ``meta``: (plain, meta) outputs."""
    plain = run()
    with meta_default():
        return plain, run()


def test_axes_workflow(G, mse):
    z = G.sample(1, seed=0)
    res = ganmetric.metric_tensor(G, mse, z)

    def run():
        axes = ganmetric.export_axes(res, top=3)   # in memory, never saved
        found = ganmetric.axes.explore(G, z, axes, indices=[0, 1], D=mse, steps=3, calibrate=0.05, curves=True,
                                       curve_points=5)
        sefa = ganmetric.axes.sefa_directions(G, k=3, weight=G.fc.weight)
        ganspace = ganmetric.axes.ganspace_directions(G, k=3, n_samples=24, layer="fc")
        cmp = ganmetric.axes.compare_directions(res, [sefa, ganspace], k=3)
        return (ganmetric.apply_axis(z, axes, 0, 0.5), found.calibrated.distances, found.curves,
                np.asarray(found.montage.image), [r["rayleigh_ratio"] for r in cmp.rows])

    plain, meta = _both(run)
    _close(meta[0][0] - z.reshape(-1), 0.5 * res.eigvecs[:, 0])
    for a, b in zip(plain, meta):
        _close(b, a)


def test_inversion_paths_compress_optimize(G, mse):
    z = G.sample(2, seed=4)
    res = ganmetric.metric_tensor(G, mse, z[:1])
    with torch.no_grad():
        target = G(z[1:])[0]

    def run():
        inv = ganmetric.invert(G, target, mse, basis=res, steps=3, restarts=2, seed=0)
        path = ganmetric.geodesic(G, mse, z[0], z[1], points=4, max_iter=3)
        measured = ganmetric.path_length(G, mse, ganmetric.linear_path(z[0], z[1], 4))
        compared = ganmetric.paths.compare_paths(G, mse, z[0], z[1], points=4, max_iter=2)
        comp = ganmetric.analysis.compress(G, mse, res, G.sample(5, seed=6), [1, 3], center=z[0], random_bases=2,
                                           montage_samples=2)
        opt = ganmetric.optimize(G, lambda x: -x.pow(2).flatten(1).mean(1), "hess-cma", basis=res, top=4,
                                 budget=12, seed=0)
        return (inv.z, inv.losses, path.codes, measured.length, [p.length for p in compared.values()],
                [r["mean"] for r in comp.rows], opt.scores, opt.z)

    plain, meta = _both(run)
    for a, b in zip(plain, meta):
        _close(b, a)


def test_layer_metrics(G, mse, tmp_path):
    codes = G.sample(2, seed=2).numpy()

    def run():
        folder = tmp_path / f"l{len(list(tmp_path.iterdir()))}"
        table = ganmetric.analysis.layer_metrics(G, "fc", codes, folder, mse, method="jacobian")
        return [r["top_eigval"] for r in table.rows]

    plain, meta = _both(run)
    _close(meta, plain)


@pytest.mark.parametrize("family", sorted(FAMILIES) + sorted(TINY_MODEL_FILES))
def test_every_family_loads_samples_and_runs_under_a_meta_default_device(family, tiny_model):
    """Every registered family (those merged later too): built, sampled and differentiated on the CPU."""
    load = tiny_model(family)
    G_ref = load()
    z = G_ref.sample(2, seed=0)
    want = ganmetric.metric_tensor(G_ref, ganmetric.load_distance("mse", dtype=G_ref.dtype), z[:1],
                                   method="gn-lanczos", k=2, max_iter=4)
    with meta_default():
        G = load()
        got_z = G.sample(2, seed=0)
        res = ganmetric.metric_tensor(G, ganmetric.load_distance("mse", dtype=G.dtype), got_z[:1],
                                      method="gn-lanczos", k=2, max_iter=4)
    assert G.device.type == "cpu" and got_z.device.type == "cpu"
    _close(got_z, z, rtol=0, atol=0)
    _close(res.eigvals, want.eigvals, rtol=1e-5)
