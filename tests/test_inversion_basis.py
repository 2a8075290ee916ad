"""ganmetric.inversion.basis: matrices, metric results, result files and axes files."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, ResultFileError
from ganmetric.inversion import resolve_basis
from ganmetric.io import atomic_save_npz

N = 5


@pytest.fixture
def metric():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(N, N, generator=g, dtype=torch.float64)
    H = M @ M.T
    vals, vecs = torch.linalg.eigh(H)
    return ganmetric.MetricResult(eigvals=vals.flip(0), eigvecs=vecs.flip(1), H=H, method="jacobian",
                                  seconds=0.0, z=torch.zeros(N, dtype=torch.float64), k=N)


def test_matrix_and_result_object(metric):
    B, info = resolve_basis(torch.eye(N)[:, :3], N, dtype=torch.float64)
    assert B.shape == (N, 3) and info["basis_k"] == 3
    B, _ = resolve_basis(metric, N, dtype=torch.float64)
    assert torch.allclose(B, metric.eigvecs)
    B, info = resolve_basis(metric, N, eigval_power=0.5, k=4, dtype=torch.float64)
    lam = metric.eigvals[:4]
    assert torch.allclose(B, metric.eigvecs[:, :4] * (lam / lam[0]) ** -0.5)
    assert info["scale_min"] == pytest.approx(1.0) and info["basis_k"] == 4


def test_eigval_floor_bounds_the_scale(metric):
    vals = metric.eigvals.clone()
    vals[-1] = 0.0
    res = ganmetric.MetricResult(eigvals=vals, eigvecs=metric.eigvecs, H=None, method="x", seconds=0.0,
                                 z=metric.z, k=N)
    B, info = resolve_basis(res, N, eigval_power=1.0, eigval_floor=1e-3, dtype=torch.float64)
    assert info["scale_max"] == pytest.approx(1e3)
    assert torch.allclose(B[:, -1], metric.eigvecs[:, -1] * 1e3)


def test_result_file_and_axes_file(tmp_path, metric):
    path = ganmetric.save_result(tmp_path / "h.npz", metric, model="m")
    B, info = resolve_basis(path, N, eigval_power=1.0, dtype=torch.float64)
    lam = metric.eigvals
    assert torch.allclose(B, metric.eigvecs * (lam / lam[0]) ** -1.0)
    assert "result file h.npz" in info["basis"]
    axes = metric.eigvecs.T[:2].numpy()  # (K, n): one direction per row
    atomic_save_npz(tmp_path / "axes.npz", {"axes": axes})
    B, info = resolve_basis(str(tmp_path / "axes.npz"), N, dtype=torch.float64)
    assert torch.allclose(B, metric.eigvecs[:, :2]) and info["basis"] == "axes file axes.npz"
    with pytest.raises(InputError, match="needs eigenvalues"):
        resolve_basis(tmp_path / "axes.npz", N, eigval_power=0.5)
    atomic_save_npz(tmp_path / "axes2.npz", {"axes": axes, "eigvals": metric.eigvals[:2].numpy()})
    B, _ = resolve_basis(tmp_path / "axes2.npz", N, eigval_power=1.0, dtype=torch.float64)
    assert torch.allclose(B[:, 1], metric.eigvecs[:, 1] * metric.eigvals[0] / metric.eigvals[1])


def test_bad_files(tmp_path, metric):
    with pytest.raises(InputError, match=r"must have shape \(7, k\)"):
        resolve_basis(ganmetric.save_result(tmp_path / "h.npz", metric), 7)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot read basis file"):
        resolve_basis(tmp_path / "junk.npz", N)
    atomic_save_npz(tmp_path / "other.npz", {"x": np.zeros(3)})
    with pytest.raises(ResultFileError, match="neither 'eigvecs'"):
        resolve_basis(tmp_path / "other.npz", N)
    atomic_save_npz(tmp_path / "flat.npz", {"axes": np.zeros(N)})
    with pytest.raises(InputError, match=r"'axes' must have shape \(K, n\)"):
        resolve_basis(tmp_path / "flat.npz", N)
    with pytest.raises(InputError, match="basis must be None"):
        resolve_basis(42, N)
