"""ganmetric.basis: matrices, metric results, result files and axes files, checked against the model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import ganmetric
from ganmetric.axes import export_axes
from ganmetric.errors import InputError, ResultFileError
from ganmetric.inversion import check_basis_for, resolve_basis
from ganmetric.io import atomic_save_npz
from helpers import ROOT, LinearGenerator, imported_modules, save_with

N = 5


@pytest.fixture
def metric():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(N, N, generator=g, dtype=torch.float64)
    H = M @ M.T
    vals, vecs = torch.linalg.eigh(H)
    return ganmetric.MetricResult(eigvals=vals.flip(0), eigvecs=vecs.flip(1), H=H, method="jacobian",
                                  seconds=0.0, z=torch.zeros(N, dtype=torch.float64))


@pytest.fixture
def G():
    """A 5-d generator named "linear" in latent space "z", float64."""
    return LinearGenerator(torch.eye(16, N, dtype=torch.float64))


def test_matrix_and_result_object(metric, G):
    B, info = resolve_basis(torch.eye(N)[:, :3], G, dtype=torch.float64)
    assert B.shape == (N, 3) and info["basis_k"] == 3
    B, _ = resolve_basis(metric, G, dtype=torch.float64)
    assert torch.allclose(B, metric.eigvecs)
    B, info = resolve_basis(metric, G, eigval_power=0.5, basis_k=4, dtype=torch.float64)
    lam = metric.eigvals[:4]
    assert torch.allclose(B, metric.eigvecs[:, :4] * (lam / lam[0]) ** -0.5)
    assert info["scale_min"] == pytest.approx(1.0) and info["basis_k"] == 4
    B, _ = resolve_basis(metric, G)  # device and dtype default to the generator's
    assert B.dtype == torch.float64


def test_eigval_floor_bounds_the_scale(metric, G):
    vals = metric.eigvals.clone()
    vals[-1] = 0.0
    res = ganmetric.MetricResult(eigvals=vals, eigvecs=metric.eigvecs, H=None, method="x", seconds=0.0,
                                 z=metric.z)
    B, info = resolve_basis(res, G, eigval_power=1.0, eigval_floor=1e-3, dtype=torch.float64)
    assert info["scale_max"] == pytest.approx(1e3)
    assert torch.allclose(B[:, -1], metric.eigvecs[:, -1] * 1e3)


def test_result_file_and_axes_file(tmp_path, metric, G):
    path = save_with(tmp_path / "h.npz", metric, model="linear", latent_space="z")
    B, info = resolve_basis(path, G, eigval_power=1.0, dtype=torch.float64)
    lam = metric.eigvals
    assert torch.allclose(B, metric.eigvecs * (lam / lam[0]) ** -1.0)
    assert "result file h.npz" in info["basis"]
    export_axes(path, top=2, out=tmp_path / "axes.npz")  # (K, n) rows, eigenvalues and the model's record
    B, info = resolve_basis(str(tmp_path / "axes.npz"), G, dtype=torch.float64)
    assert torch.allclose(B, metric.eigvecs[:, :2]) and info["basis"] == "axes file axes.npz"
    B, _ = resolve_basis(tmp_path / "axes.npz", G, eigval_power=1.0, dtype=torch.float64)
    assert torch.allclose(B[:, 1], metric.eigvecs[:, 1] * metric.eigvals[0] / metric.eigvals[1])
    B2, _ = resolve_basis(ganmetric.load_axes(tmp_path / "axes.npz"), G, eigval_power=1.0, dtype=torch.float64)
    assert torch.allclose(B2, B, rtol=0, atol=0)  # the same numbers whether given as a path or as Axes


def test_bad_files(tmp_path, metric, G):
    with pytest.raises(InputError, match=r"must have shape \(7, k\)"):
        resolve_basis(metric.eigvecs, LinearGenerator(torch.eye(16, 7, dtype=torch.float64)))
    with pytest.raises(InputError, match="basis file not found"):
        resolve_basis(tmp_path / "nowhere.npz", G)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ResultFileError, match=r"junk.npz is not a ganmetric result or axes file \(those are .npz"):
        resolve_basis(tmp_path / "junk.npz", G)
    np.save(tmp_path / "code.npy", np.zeros(N))  # numpy raised a TypeError on a .npy, and advised allow_pickle
    Image.new("RGB", (4, 4)).save(tmp_path / "photo.jpg")  # on a JPEG
    for name in ("code.npy", "photo.jpg"):
        with pytest.raises(ResultFileError, match=f"^{tmp_path / name} is not a ganmetric result or axes file"):
            resolve_basis(tmp_path / name, G)
    atomic_save_npz(tmp_path / "other.npz", {"x": np.zeros(3)})
    with pytest.raises(ResultFileError, match="not a ganmetric result or axes file: missing meta"):
        resolve_basis(tmp_path / "other.npz", G)
    with pytest.raises(InputError, match="basis must be None"):
        resolve_basis(42, G)


def test_axes_npz_without_the_axes_format_is_refused(tmp_path, metric, G):
    """An npz that merely holds an 'axes' key used to be accepted without any check (issue 10)."""
    atomic_save_npz(tmp_path / "axes.npz", {"axes": metric.eigvecs.T[:2].numpy()})
    with pytest.raises(ResultFileError, match=r"missing meta \(axes files are written by `ganmetric axes export`"):
        resolve_basis(tmp_path / "axes.npz", G)
    atomic_save_npz(tmp_path / "flat.npz", {"axes": np.zeros(N), "eigvals": np.ones(1), "points": np.zeros((1, N)),
                                            "meta": np.array('{"format": "ganmetric-axes/1"}')})
    with pytest.raises(ResultFileError, match="inconsistent shapes"):  # validated by ganmetric.axes.load_axes
        resolve_basis(tmp_path / "flat.npz", G)


@pytest.mark.parametrize("recorded, differs", [
    ({"model": "dcgan-face", "latent_space": "z"}, "model dcgan-face there, linear here"),
    ({"model": "linear", "latent_space": "w"}, "latent space w there, z here"),
    ({"model": "dcgan-face", "latent_space": "w"}, "model dcgan-face there, linear here; latent space w there, z here"),
])
def test_a_basis_made_for_another_model_is_refused(tmp_path, metric, G, recorded, differs):
    """Issue 9: `invert --model eyes-cdcgan --hessian face.npz` used a dcgan-face basis without a word."""
    path = save_with(tmp_path / "face.npz", metric, **recorded)
    with pytest.raises(InputError) as err:
        resolve_basis(path, G)
    assert str(err.value) == f"the basis point result file face.npz was made with another model setting: {differs}"
    export_axes(path, top=2, out=tmp_path / "axes.npz")  # axes files carry the model on
    with pytest.raises(InputError,
                       match=f"the basis axes file axes.npz was made with another model setting: {differs}"):
        resolve_basis(tmp_path / "axes.npz", G)
    with pytest.raises(InputError, match=f"the basis result file face.npz was made with another model setting: "
                                         f"{differs}"):
        resolve_basis(ganmetric.load_result(path), G)  # a loaded file keeps its meta


def test_a_basis_of_another_class_is_refused(tmp_path, metric, G):
    """Every option that changes the map is compared, not only the model's name (issue 9: eye GAN classes)."""
    path = save_with(tmp_path / "hazel.npz", metric, model="linear", latent_space="z",
                     model_options={"class_name": "hazel", "weights": "unknown"})
    with pytest.raises(InputError, match="class name hazel there, none here"):
        resolve_basis(path, G)


def test_latent_size_from_a_file_is_named_as_such(tmp_path, metric):
    path = save_with(tmp_path / "face.npz", metric, model="linear", latent_space="z")
    G7 = LinearGenerator(torch.eye(16, 7, dtype=torch.float64))
    with pytest.raises(InputError, match=r"made with another model setting: latent size 5 there, 7 here$"):
        resolve_basis(path, G7)


def test_unrecorded_model_and_raw_matrices_check_only_the_size(tmp_path, metric, G):
    path = save_with(tmp_path / "anon.npz", metric)  # no model recorded: nothing to compare
    B, _ = resolve_basis(path, G, dtype=torch.float64)
    assert torch.allclose(B, metric.eigvecs)
    check_basis_for(None, G)  # a matrix from Python: no meta
    check_basis_for({"model": None, "latent_space": "z", "latent_dim": N}, G)
    with pytest.raises(InputError,
                       match=r"^this basis was made with another model setting: latent size 6 there, 5 here$"):
        check_basis_for({"latent_dim": N + 1}, G, source="this basis")


def test_basis_k_needs_a_basis_and_names_the_argument(metric, G):
    with pytest.raises(InputError, match="basis_k=3 needs a basis"):
        resolve_basis(None, G, basis_k=3)
    with pytest.raises(InputError, match=f"basis_k must be an integer between 1 and {N}"):
        resolve_basis(metric, G, basis_k=N + 1)


def test_direction_sets_and_axes_are_bases_by_what_they_give():
    """basis.py imports nothing from ganmetric.axes (it sits below it): Axes and Directions hand it their
    directions (``as_basis``), and axis files are read by the reader ganmetric.axes registers."""
    from ganmetric.axes import Directions
    from ganmetric.basis import BASIS_FILE_FORMATS
    assert not {m for m in imported_modules(ROOT / "ganmetric" / "basis.py") if m.startswith("ganmetric.axes")}
    assert set(BASIS_FILE_FORMATS) == {"ganmetric-result/", "ganmetric-axes/"}
    G = LinearGenerator(torch.eye(16, N, dtype=torch.float64))
    rows = torch.eye(N, dtype=torch.float64)[:2].numpy()
    B, info = resolve_basis(Directions(rows, np.ones(2), "sefa"), G, dtype=torch.float64)
    assert torch.equal(B, torch.eye(N, dtype=torch.float64)[:, :2]) and info["basis"] == "sefa directions"
    with pytest.raises(InputError, match="eigval_power=1.0 needs eigenvalues, but sefa directions has none"):
        resolve_basis(Directions(rows, np.ones(2), "sefa"), G, eigval_power=1.0)
