"""SeFa and GANSpace directions against independent references; alignment measures on known metrics."""
from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from ganmetric.axes import (DISCOVERY_METHODS, Directions, compare_directions, discovered_directions, ganspace_directions,
                            load_directions, sefa_directions)
from ganmetric.axes.compare import principal_angles
from ganmetric.errors import InputError
from ganmetric.generators.base import Generator
from ganmetric.generators.dcgan import DCGANGenerator
from helpers import LinearGenerator, TinyConvGenerator


def _assert_same_directions(V, W, atol):
    """Rows of V and W equal up to sign."""
    cos = np.abs(np.einsum("ij,ij->i", V, W))
    np.testing.assert_allclose(cos, 1, atol=atol)


def test_sefa_linear_first_layer_matches_numpy_eigh():
    """nn.Linear: each output unit is a row of its weight; the authors normalise those, the raw variant does not."""
    G = TinyConvGenerator(n=8, res=8).double()
    W = G.fc.weight.numpy()  # (256, 8): y = W z
    Wn = W / np.linalg.norm(W, axis=1, keepdims=True)
    for variant, A in (("authors", Wn), ("unnormalised", W)):
        vals, vecs = np.linalg.eigh(A.T @ A)
        d = sefa_directions(G, k=5, variant=variant)
        np.testing.assert_allclose(d.values, vals[::-1][:5], rtol=1e-10)
        _assert_same_directions(d.vectors, vecs[:, ::-1][:, :5].T, 1e-8)
        assert d.info == {"variant": variant, "layers": ["fc"]}


def test_sefa_dcgan_orientation_matches_jacobian_of_first_layer():
    """For ConvTranspose2d (n, C, 4, 4) the raw latent-space Gram is W_r W_r^T: check against J^T J of layer 0."""
    torch.manual_seed(0)
    G = DCGANGenerator(nz=6, ngf=4, nc=3, resolution=8).double()
    with torch.no_grad():
        G.main[0].weight.copy_(torch.randn_like(G.main[0].weight))
    first = G.main[0]
    J = torch.autograd.functional.jacobian(lambda z: first(z[None, :, None, None]).flatten(), torch.zeros(6,
                                                                                                     dtype=torch.float64))
    vals, vecs = np.linalg.eigh((J.T @ J).numpy())
    d = sefa_directions(G, variant="unnormalised")
    assert d.info["layers"] == ["main.0"] and d.vectors.shape == (6, 6)
    np.testing.assert_allclose(d.values, vals[::-1], rtol=1e-10)
    _assert_same_directions(d.vectors, vecs[:, ::-1].T, 1e-8)


def test_ganspace_recovers_linear_principal_directions():
    """G(z) = A z with A = U S V^T: PCA of outputs + regression gives the right singular vectors V."""
    rng = np.random.default_rng(0)
    U = np.linalg.qr(rng.standard_normal((16, 6)))[0]
    V = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    A = U @ np.diag([10.0, 6, 3.5, 2, 1, 0.5]) @ V.T
    G = LinearGenerator(torch.as_tensor(A))
    d = ganspace_directions(G, k=4, n_samples=20000, seed=0)
    assert d.info["layer"] == "output"
    _assert_same_directions(d.vectors, V[:, :4].T, 5e-3)  # sampling error of the covariance ~ 1/sqrt(N)
    np.testing.assert_allclose(d.values, np.array([10.0, 6, 3.5, 2]) ** 2, rtol=0.1)


class _MappedGenerator(Generator):
    """Latent space w = M z (a linear 'mapping network'), image = w reshaped."""

    def __init__(self, M):
        super().__init__(name="mapped", latent_dim=M.shape[0], latent_space="w")
        self.mapping = nn.Linear(M.shape[1], M.shape[0], bias=False).double()
        with torch.no_grad():
            self.mapping.weight.copy_(M)
        self.z_dim = M.shape[1]
        self.freeze()

    def _generate(self, w):
        return w.reshape(-1, 1, 1, w.shape[1])


def test_ganspace_mapping_network_is_pca_of_w():
    rng = np.random.default_rng(1)
    Q = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    M = Q @ np.diag([5.0, 3, 2, 1, 0.5]) @ np.linalg.qr(rng.standard_normal((7, 5)))[0].T  # (5, 7)
    d = ganspace_directions(_MappedGenerator(torch.as_tensor(M)), k=3, n_samples=4000)
    assert d.info["mode"] == "mapping"
    _assert_same_directions(d.vectors, Q[:, :3].T, 2e-3)


def test_compare_on_known_metric():
    n, k = 6, 2
    H = np.diag([4.0, 2, 1, 0.5, 0.25, 0.25])
    e = np.eye(n)
    same = Directions(e[:2], np.ones(2), "exact")
    tilted = Directions(np.array([(e[0] + e[2]) / np.sqrt(2), e[5]]), np.ones(2), "tilted")
    cmp = compare_directions(H, [same, tilted], k=k)
    rows = {(r["method"], r["index"]): r for r in cmp.rows}
    assert rows["exact", 0]["rayleigh_ratio"] == pytest.approx(1.0)
    assert rows["exact", 1]["rayleigh_ratio"] == pytest.approx(0.5)
    assert rows["exact", 1]["topk_energy"] == pytest.approx(1.0)
    assert rows["tilted", 0]["rayleigh_ratio"] == pytest.approx((4 + 1) / 2 / 4)
    assert rows["tilted", 0]["topk_energy"] == pytest.approx(0.5)
    assert rows["tilted", 1]["topk_energy"] == pytest.approx(0.0, abs=1e-12)
    assert cmp.random_rayleigh == pytest.approx(8.0 / (6 * 4)) and cmp.random_energy == pytest.approx(2 / 6)
    # principal angles belong to the pair of subspaces, not to a direction: their own table, per method
    np.testing.assert_allclose(cmp.angles["exact"], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(cmp.angles["tilted"], [45.0, 90.0], atol=1e-10)
    assert "principal_angle_deg" not in cmp.rows[0]
    text = cmp.table()
    assert "tilted" in text and "random" in text and "principal angles" in text
    angle_line = [line for line in text.splitlines() if line.startswith("tilted") and "45.0" in line]
    assert angle_line and angle_line[0].split()[1:] == ["2", "45.0", "90.0"]
    got = list(csv.DictReader(io.StringIO(cmp.to_csv())))
    assert len(got) == 5 and got[-1]["method"] == "random-expected" and set(got[0]) == set(cmp.COLUMNS)
    angles = list(csv.DictReader(io.StringIO(cmp.angles_to_csv())))
    assert [(a["method"], a["rank"]) for a in angles] == [("exact", "1"), ("exact", "2"), ("tilted", "1"),
                                                          ("tilted", "2")]
    assert float(angles[3]["angle_deg"]) == pytest.approx(90.0)


def test_compare_accepts_a_top_k_result_and_bounds_k():
    vals = np.array([3.0, 1.0])
    vecs = np.eye(5)[:, :2]
    result = SimpleNamespace(eigvals=vals, eigvecs=vecs, full=False, metric=lambda: (vecs * vals) @ vecs.T)
    cmp = compare_directions(result, {"e1": np.eye(5)[1:2]}, k=2)
    assert cmp.rows[0]["rayleigh_ratio"] == pytest.approx(1 / 3) and cmp.lambda_max == pytest.approx(3.0)
    with pytest.raises(InputError, match="k must be at most 2: the result holds only the top 2 eigenpairs, got 3"):
        compare_directions(result, {"e1": np.eye(5)[1:2]}, k=3)
    assert compare_directions(result, {"e1": np.eye(5)[1:2]}).k == 2  # the default: at most the pairs it holds


def test_the_default_k_is_ten_or_the_size_of_a_smaller_metric():
    for n, k in ((8, 8), (20, 10)):
        H = np.diag(np.arange(n, 0, -1.0))
        assert compare_directions(H, {"e1": np.eye(n)[:1]}).k == k


def test_external_directions_from_file_and_array(tmp_path):
    """Any (m, n) array, rows normalised, on the same footing as SeFa and GANSpace."""
    n = 6
    H = np.diag([4.0, 2, 1, 0.5, 0.25, 0.25])
    np.save(tmp_path / "boundary.npy", 3 * np.eye(n)[None, 0])  # InterFaceGAN's (1, n) layout, not unit length
    d = load_directions(tmp_path / "boundary.npy", latent_dim=n)
    assert d.method == "boundary" and d.vectors.shape == (1, n) and d.values.tolist() == [3.0]
    np.testing.assert_allclose(d.vectors, np.eye(n)[None, 0], atol=1e-15)
    hand = load_directions(np.array([1.0, 1, 0, 0, 0, 0]), latent_dim=n, name="hand")
    cmp = compare_directions(H, [d, hand, sefa_like(n)], k=2)
    rows = {(r["method"], r["index"]): r for r in cmp.rows}
    assert rows["boundary", 0]["rayleigh_ratio"] == pytest.approx(1.0)
    assert rows["hand", 0]["rayleigh_ratio"] == pytest.approx((4 + 2) / 2 / 4)
    np.testing.assert_allclose(cmp.angles["boundary"], [0.0], atol=1e-6)


def sefa_like(n):
    return Directions(np.eye(n)[2:4], np.ones(2), "other")


@pytest.mark.parametrize("rows, match", [
    (np.ones((2, 5)), r"must be \(m, 6\) rows, one direction each \(this metric has n = 6\), got shape \(2, 5\)"),
    (np.full((1, 6), np.nan), "contain NaN or inf"),
    (np.vstack([np.ones(6), np.zeros(6)]), "row 1 is zero"),
    (np.zeros((0, 6)), "got shape"),
])
def test_external_directions_refused(rows, match):
    with pytest.raises(InputError, match=match):
        load_directions(rows, latent_dim=6)


def test_external_directions_bad_files(tmp_path):
    with pytest.raises(InputError, match="directions file not found"):
        load_directions(tmp_path / "missing.npy", latent_dim=6)
    np.savez(tmp_path / "b.npz", a=np.ones(6))
    with pytest.raises(InputError, match="must be a .npy array"):
        load_directions(tmp_path / "b.npz", latent_dim=6)
    (tmp_path / "photo.npy").write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    with pytest.raises(InputError, match="is not a plain .npy array of numbers"):
        load_directions(tmp_path / "photo.npy", latent_dim=6)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="is not a plain .npy array of numbers"):
        load_directions(tmp_path / "obj.npy", latent_dim=6)
    with pytest.raises(InputError, match="two sets of directions are both called x"):
        compare_directions(np.eye(6), [Directions(np.eye(6)[:1], np.ones(1), "x")] * 2, k=1)


def test_principal_angles_reference():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    from scipy.linalg import subspace_angles
    np.testing.assert_allclose(np.sort(principal_angles(A, B)), np.sort(subspace_angles(A, B)), atol=1e-10)


def test_bad_inputs():
    G = LinearGenerator(torch.randn(16, 4, dtype=torch.float64))
    with pytest.raises(InputError, match="SeFa needs a first layer"):
        sefa_directions(G)
    with pytest.raises(InputError, match="layer 'nope' is not 'output' or one of"):
        ganspace_directions(TinyConvGenerator(n=4, res=8), k=2, n_samples=50, layer="nope")
    with pytest.raises(InputError, match="k must be at least 1 and at most 4"):
        ganspace_directions(G, k=5)
    with pytest.raises(InputError, match=r"must be \(m, 3\) rows"):
        compare_directions(np.eye(3), {"x": np.ones((2, 4))}, k=1)


def test_randomized_pca_gives_the_exact_pcas_directions(monkeypatch):
    """The randomized SVD used for wide activations (F > EXACT_PCA_MAX) gives GANSpace the exact PCA's directions."""
    from ganmetric.axes import ganspace
    rng = np.random.default_rng(3)
    A = np.linalg.qr(rng.standard_normal((40, 6)))[0] @ np.diag(0.7 ** np.arange(6)) @ np.linalg.qr(
        rng.standard_normal((6, 6)))[0]
    G = LinearGenerator(torch.as_tensor(A), shape=(1, 5, 8))
    exact = ganspace_directions(G, k=3, n_samples=300, seed=0)
    monkeypatch.setattr(ganspace, "EXACT_PCA_MAX", 10)  # the 40 output pixels now take the randomized path
    approx = ganspace_directions(G, k=3, n_samples=300, seed=0)
    _assert_same_directions(approx.vectors, exact.vectors, 1e-8)
    np.testing.assert_allclose(approx.values, exact.values, rtol=1e-8)


def test_discovered_directions_are_each_methods_own_in_a_fixed_order():
    """``axes compare``'s discovery in the library: each method's directions as its own function gives them, in the
    order of DISCOVERY_METHODS whatever order they are asked in, each once; ``none`` asks for none."""
    G = TinyConvGenerator(n=8, res=8).double()
    found = discovered_directions(G, "sefa-unnormalised, sefa,sefa", n_directions=3)
    assert [d.method for d in found] == [m for m in DISCOVERY_METHODS if m.startswith("sefa")]
    for d, variant in zip(found, ("authors", "unnormalised")):
        ref = sefa_directions(G, k=3, variant=variant)
        np.testing.assert_allclose(d.vectors, ref.vectors, rtol=0, atol=1e-12)
        np.testing.assert_allclose(d.values, ref.values, rtol=1e-12)
    assert discovered_directions(G, "none") == [] and discovered_directions(G, []) == []


def test_the_default_number_of_directions_is_ten_or_the_latent_size_when_smaller():
    """An 8-d model's default comparison asks each method for 8 directions (10 was refused: 'at most 8')."""
    small = discovered_directions(TinyConvGenerator(n=8, res=8).double(), "sefa")
    large = discovered_directions(TinyConvGenerator(n=12, res=8).double(), "sefa")
    assert small[0].vectors.shape == (8, 8) and large[0].vectors.shape == (10, 12)


@pytest.mark.parametrize("kwargs, argument, match", [
    (dict(methods="pca"), "methods", "method 'pca' is not one of {ganspace, sefa, sefa-unnormalised}"),
    (dict(methods="none,sefa"), "methods", "method 'none' is not one of"),
    (dict(methods="ganspace", sefa_layers=["fc"]), "sefa_layers", "sefa_layers needs sefa or sefa-unnormalised in methods"),
    (dict(methods="sefa", n_directions=9), "n_directions", "at most 8"),
])
def test_discovered_directions_name_the_argument_to_blame(kwargs, argument, match):
    with pytest.raises(InputError, match=match) as info:
        discovered_directions(TinyConvGenerator(n=8, res=8), **kwargs)
    assert info.value.argument == argument
