"""Axis files: export from point and average results, round trip, plain-numpy loading, bad input."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.axes import check_axes_for, export_axes, load_axes
from ganmetric.errors import InputError, ResultFileError
from helpers import LinearGenerator, save_with


def _linear_result(tmp_path, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    G = LinearGenerator(torch.randn(16, n, generator=g, dtype=torch.float64))
    D = ganmetric.load_distance("mse", dtype="float64")
    res = ganmetric.metric_tensor(G, D, G.sample(1, seed=1).double(), method="jacobian")
    path = tmp_path / "lin.npz"
    save_with(path, res, model=G.name, latent_space="z", distance="mse", seed=1)
    return G, res, path


def test_round_trip_and_plain_numpy(tmp_path):
    G, res, path = _linear_result(tmp_path)
    out = tmp_path / "axes.npz"
    ax = export_axes(path, top=4, out=out)
    np.testing.assert_allclose(ax.axes, res.eigvecs[:, :4].T.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ax.eigvals, res.eigvals[:4].numpy())
    back = load_axes(out)
    assert back.path == out and back.top == 4 and back.latent_dim == 6
    np.testing.assert_array_equal(back.axes, ax.axes)  # bitwise on purpose: a file round trip copies the values
    np.testing.assert_array_equal(back.eigvals, ax.eigvals)
    np.testing.assert_array_equal(back.points, res.z.numpy()[None])
    assert (back.model, back.latent_space, back.distance) == ("linear", "z", "mse")
    np.testing.assert_allclose(np.linalg.norm(back.axes, axis=1), 1, atol=1e-14)
    with np.load(out, allow_pickle=False) as data:  # documented format, no pickles
        assert set(data.files) == {"axes", "eigvals", "points", "meta"}
        meta = json.loads(str(data["meta"]))
    assert meta["format"] == "ganmetric-axes/1" and meta["kind"] == "axes" and meta["top"] == 4
    assert meta["source"]["kind"] == "point" and len(meta["source"]["sha256"]) == 64
    assert meta["source_meta"]["seed"] == 1 and "torch" in meta["versions"]
    check_axes_for(back, G)


def test_export_from_average_result(tmp_path):
    n, m = 5, 3
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    fake = SimpleNamespace(eigvals=np.array([5.0, 3, 2, 1, 0.5]), eigvecs=Q, z=rng.standard_normal((m, n)),
                           H=None, residuals=None)
    path = save_with(tmp_path / "avg.npz", fake, kind="average", model="m", latent_space="z",
                                 distance="mse")
    ax = export_axes(ganmetric.load_result(path), top=2)
    assert ax.points.shape == (m, n) and ax.meta["source"]["kind"] == "average" and ax.path is None
    np.testing.assert_allclose(ax.axes, Q[:, :2].T)


def test_bad_inputs(tmp_path):
    G, res, path = _linear_result(tmp_path)
    with pytest.raises(InputError, match="top must be at least 1 and at most 6, got 7"):
        export_axes(path, top=7)
    with pytest.raises(ResultFileError, match="not found"):
        export_axes(tmp_path / "nope.npz", top=1)
    with pytest.raises(ResultFileError, match="looks like a result file"):
        load_axes(path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ResultFileError, match="not a readable ganmetric axis file"):
        load_axes(bad)
    ax = export_axes(path, top=3)
    with pytest.raises(InputError, match="axis index 3 is out of range: the axis file holds 3 axes"):
        ax.axis(3)
    other = LinearGenerator(torch.randn(16, 4, dtype=torch.float64))
    with pytest.raises(InputError, match="latent size 6 there, 4 here"):
        check_axes_for(ax, other)
    renamed = LinearGenerator(torch.randn(16, 6, dtype=torch.float64))
    renamed.name = "other-model"
    with pytest.raises(InputError, match="the axis set was made with another model setting: "
                                         "model linear there, other-model here"):
        check_axes_for(ax, renamed)
    check_axes_for(ax, renamed, check_model=False)


def test_failed_write_leaves_nothing(tmp_path):
    _, _, path = _linear_result(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        export_axes(path, top=2, out=tmp_path / "missing" / "axes.npz")
    assert not (tmp_path / "missing").exists()


def test_axes_of_an_average_record_a_typical_reference_point(tmp_path):
    """Not the mean code (|z| = 1.87 for 20 points of a 100-d normal prior, against about 10 for a sample): its
    direction at the points' mean length, said in the file, and the default reference of explore and view."""
    from ganmetric.analysis import average_metric, load_results
    from ganmetric.axes import reference_code
    from helpers_analysis import fake_result
    n, rng = 100, np.random.default_rng(0)
    codes = rng.standard_normal((20, n))
    for i, z in enumerate(codes):
        fake_result(tmp_path / f"point_{i:05d}.npz", [3.0, 2.0, 1.0], H=False, n=n, seed=i)
        res = ganmetric.load_result(tmp_path / f"point_{i:05d}.npz")
        save_with(tmp_path / f"point_{i:05d}.npz", SimpleNamespace(**{**res.__dict__, "z": z}), model="fake",
                  latent_space="z", distance="mse")
    avg = average_metric(load_results(tmp_path))
    mean, lengths = codes.mean(0), np.linalg.norm(codes, axis=1)
    assert np.linalg.norm(mean) < 0.3 * lengths.mean()  # the mean code is no typical code
    assert avg.meta["code_norm_mean"] == pytest.approx(lengths.mean(), rel=1e-12)
    for source in (avg, avg.save(tmp_path / "avg.npz").path):  # in memory (kind "average") and from the file
        ax = export_axes(source, top=2)
        point = ax.points[0]
        assert np.linalg.norm(point) == pytest.approx(lengths.mean(), rel=1e-12)
        np.testing.assert_allclose(point / np.linalg.norm(point), mean / np.linalg.norm(mean), rtol=1e-12)
        assert ax.meta["reference"] == (f"the mean of the averaged points' codes (|z| = {np.linalg.norm(mean):.3g}) "
                                        f"rescaled to their mean length {lengths.mean():.3g}")
        z0, label = reference_code(ax, G=None)
        np.testing.assert_array_equal(z0, ax.points)
        assert label == "the axes' reference point: " + ax.meta["reference"]
    old = {k: v for k, v in avg.meta.items() if k != "code_norm_mean"}  # a file written before the record
    from dataclasses import replace
    ax = export_axes(replace(avg, meta=old), top=2)
    assert np.linalg.norm(ax.points[0]) == pytest.approx(10.0, rel=1e-12)
    assert "rescaled to sqrt(n) = 10, the typical length under a standard normal prior" in ax.meta["reference"]


def test_axes_of_a_result_never_saved_come_from_its_tensors(tmp_path):
    """A computed result has no path (it failed on Path(None)) and tensors on its device (numpy is asked
    through as_numpy): the axes are its eigenvectors, the source records no file."""
    G, res, _ = _linear_result(tmp_path)
    computed = ganmetric.metric_tensor(G, ganmetric.load_distance("mse", dtype="float64"), res.z, method="jacobian")
    assert computed.path is None and isinstance(computed.eigvecs, torch.Tensor)
    ax = export_axes(computed, top=3, out=tmp_path / "a.npz")
    np.testing.assert_allclose(np.abs(ax.axes), np.abs(computed.eigvecs[:, :3].T.numpy()), atol=1e-12)
    np.testing.assert_allclose(ax.eigvals, computed.eigvals[:3].numpy(), rtol=1e-12)
    assert ax.meta["source"]["path"] is None and ax.meta["source"]["sha256"] is None
    assert load_axes(tmp_path / "a.npz").meta["source"]["path"] is None
