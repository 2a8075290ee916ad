"""compress: projections onto the first k directions, against closed forms on a linear generator.

For G(z) = A z and mse, ``d(G(z), G(z')) = |A (z - z')|^2 / P = (z - z')^T (H / 2) (z - z')`` with
H = 2 A^T A / P. With U the eigenvectors of H (eigenvalues lam) and y = z - z0 = U c, the plain
projection leaves ``z - z_k = sum_{i > k} c_i u_i``, so ``d = sum_{i > k} lam_i c_i^2 / 2`` and
the kept fraction is ``sum_{i <= k} c_i^2 / |c|^2``. For any other basis the distance is
computed here from its matrix with the same formula.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.analysis import compress
from ganmetric.analysis.compress import haar_bases, orthonormal_columns
from ganmetric.axes import Directions
from ganmetric.errors import InputError
from helpers import ROOT, imported_modules, save_with
from helpers_analysis import prescribed_linear
from helpers_models import tiny_dcgan

LAM = [8.0, 4.0, 2.0, 1.0, 0.5, 0.25]
N = len(LAM)


@pytest.fixture(scope="module")
def G():
    return prescribed_linear(LAM, pixels=16, seed=0)


@pytest.fixture(scope="module")
def D():
    return ganmetric.load_distance("mse", dtype="float64")


@pytest.fixture(scope="module")
def result(G, D):
    return ganmetric.metric_tensor(G, D, G.sample(1, seed=5), method="jacobian")


def half_H(G):
    return (G.A.T @ G.A) / 16


def direct(G, Z, Zk):
    """d(G(z), G(z_k)) row by row, from the closed form (no generator pass)."""
    Y = Z - Zk
    return torch.einsum("mi,ij,mj->m", Y, half_H(G), Y)


def rows_of(comp, basis, fill):
    return {r["k"]: r for r in comp.rows if r["basis"] == basis and r["fill"] == fill}


def test_eigenbasis_distances_and_kept_fractions_are_the_closed_form(G, D, result):
    Z = G.sample(50, seed=1)
    comp = compress(G, D, result, Z, [1, 2, 4, 6], random_bases=0, montage_samples=0)
    U = result.eigvecs
    C = Z @ U                                                                   # z0 = 0
    lam = torch.tensor(LAM, dtype=torch.float64)
    for j, k in enumerate(comp.ks):
        want = (lam[k:] * C[:, k:] ** 2).sum(1) / 2
        np.testing.assert_allclose(comp.distances["eigen", "none"][j], want.numpy(), rtol=1e-9, atol=1e-13)
        kept = ((C[:, :k] ** 2).sum(1) / (C ** 2).sum(1)).mean()
        assert rows_of(comp, "eigen", "none")[k]["kept_fraction"] == pytest.approx(float(kept), rel=1e-12)
    assert comp.ks == (0, 1, 2, 4, 6) and comp.listed == (1, 2, 4, 6)
    r = rows_of(comp, "eigen", "none")
    assert r[6]["mean"] == pytest.approx(0.0, abs=1e-12) and r[6]["kept_fraction"] == pytest.approx(1.0)
    d = comp.distances["eigen", "none"][2]
    assert (r[2]["mean"], r[2]["std"], r[2]["median"]) == pytest.approx((d.mean(), d.std(), np.median(d)))


def test_norm_fill_and_random_bases_match_the_formula(G, D, result):
    Z = G.sample(20, seed=2)
    comp = compress(G, D, result, Z, [2, 5], random_bases=3, seed=7, montage_samples=0)
    Q = haar_bases(N, 3, 7)
    for i, q in enumerate(Q):
        torch.testing.assert_close(q.T @ q, torch.eye(N, dtype=torch.float64), rtol=0, atol=1e-12)
        for j, k in enumerate(comp.ks):
            Pk = Z @ q[:, :k] @ q[:, :k].T
            np.testing.assert_allclose(comp.distances[f"random-{i + 1}", "none"][j], direct(G, Z, Pk).numpy(),
                                       rtol=1e-9, atol=1e-13)
            if k:
                filled = Pk * Z.norm(dim=1, keepdim=True) / Pk.norm(dim=1, keepdim=True)
                np.testing.assert_allclose(comp.distances[f"random-{i + 1}", "norm"][j],
                                           direct(G, Z, filled).numpy(), rtol=1e-9, atol=1e-13)
    pooled = rows_of(comp, "random", "none")[2]
    every = np.concatenate([comp.distances[f"random-{i}", "none"][1] for i in (1, 2, 3)])
    assert pooled["mean"] == pytest.approx(every.mean()) and pooled["std"] == pytest.approx(every.std())
    # at k = 0 both fills are the centre itself
    np.testing.assert_allclose(comp.distances["eigen", "norm"][0], direct(G, Z, torch.zeros_like(Z)).numpy(),
                               rtol=1e-9)


def test_random_bases_are_seeded_and_independent_of_the_codes():
    a, b, c = haar_bases(5, 2, 0), haar_bases(5, 2, 0), haar_bases(5, 2, 1)
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=0)  # copied draws of one seed: bitwise on purpose
    assert (a[0] - c[0]).abs().max() > 0.1 and (a[0] - a[1]).abs().max() > 0.1


def test_centre_at_the_metric_point(G, D, result, tmp_path):
    Z = G.sample(5, seed=3)
    comp = compress(G, D, result, Z, [2], center="point", random_bases=0, montage_samples=0)
    z0, U = result.z, result.eigvecs[:, :2]
    np.testing.assert_allclose(comp.codes[2], (z0 + (Z - z0) @ U @ U.T).numpy(), rtol=1e-12, atol=1e-14)
    assert comp.meta["center"] == "the metric's point"
    # the same from the file, and from an axis file
    result.save(tmp_path / "r.npz")
    ganmetric.export_axes(tmp_path / "r.npz", top=6, out=tmp_path / "ax.npz")
    for source in (tmp_path / "r.npz", tmp_path / "ax.npz"):
        again = compress(G, D, source, Z, [2], center="point", random_bases=0, montage_samples=0)
        np.testing.assert_allclose(again.codes[2], comp.codes[2], rtol=1e-9, atol=1e-12)


def test_a_basis_that_is_not_orthonormal_keeps_its_nested_spans(G, D, result):
    """B = U T (T upper triangular) spans what the first k columns of U span, for every k."""
    T = torch.triu(torch.rand(N, N, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.5)
    B = result.eigvecs @ T
    Z = G.sample(10, seed=4)
    a = compress(G, D, result, Z, [1, 3], random_bases=0, montage_samples=0)
    b = compress(G, D, B, Z, [1, 3], random_bases=0, montage_samples=0)
    np.testing.assert_allclose(b.distances["given", "none"], a.distances["eigen", "none"], rtol=1e-9, atol=1e-13)
    assert b.meta["basis_orthonormalised"] and not a.meta["basis_orthonormalised"]
    U, already = orthonormal_columns(result.eigvecs)
    assert already
    torch.testing.assert_close(U, result.eigvecs.double(), rtol=0, atol=1e-12)  # signs kept


def test_direction_sets_are_named_in_the_table(G, D, result):
    dirs = Directions(result.eigvecs.T.numpy()[::-1].copy(), np.ones(N), "sefa",
                      {"variant": "authors", "layers": ["main.0"]})
    comp = compress(G, D, dirs, G.sample(4), [3], random_bases=1, montage_samples=0)
    assert comp.meta["basis"]["directions"] == {"variant": "authors", "layers": ["main.0"]}  # what made them
    assert {r["basis"] for r in comp.rows} == {"sefa", "random", "random-1"}
    assert comp.meta["basis"]["basis"] == "sefa directions" and set(comp.summary["smallest_k"]) == {
        "sefa", "random", "random-1"}
    # compress takes them as any basis (their as_basis), importing nothing from ganmetric.axes (above analysis)
    assert not {m for m in imported_modules(ROOT / "ganmetric" / "analysis" / "compress.py")
                if m.startswith("ganmetric.axes")}


def test_summary_finds_the_smallest_k_below_each_target(G, D, result):
    comp = compress(G, D, result, G.sample(100, seed=6), [1, 2, 3, 4, 5, 6], random_bases=0, montage_samples=0)
    means = {r["k"]: r["mean"] for r in comp.rows if r["fill"] == "none"}
    d0 = means[0]
    s = comp.summary["smallest_k"]["eigen"]["none"]
    assert s["k_below_10pct"] == min(k for k in range(1, 7) if means[k] <= 0.1 * d0)
    assert s["k_below_1pct"] == min(k for k in range(1, 7) if means[k] <= 0.01 * d0)
    assert comp.summary["k0_mean_distance"] == pytest.approx(d0)
    fills = {r["fill"] for r in comp.rows}
    assert len(comp.threshold_lines()) == len(fills)  # one basis (no random ones), one line per fill
    assert f"eigen, fill none: mean distance below 10% of the k = 0 distance from k = {s['k_below_10pct']}; " \
           f"below 1% from k = {s['k_below_1pct']}" in comp.threshold_lines()
    comp.summary["smallest_k"]["eigen"]["none"] = {"k_below_10pct": None, "k_below_1pct": None}
    assert "eigen, fill none: mean distance below 10% of the k = 0 distance not reached at the listed k; " \
           "below 1% not reached at the listed k" in comp.threshold_lines()


def test_a_layer_distance_measures_the_change_of_the_layer():
    """On a DCGAN the output layer's distance is mse: compressing with either gives the same numbers."""
    G = tiny_dcgan()
    basis = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64))[0]
    Z = G.sample(6, seed=0)
    a = compress(G, ganmetric.load_distance("layer:main.7"), basis, Z, [2, 5], random_bases=1, montage_samples=0)
    b = compress(G, ganmetric.load_distance("mse", dtype="float64"), basis, Z, [2, 5], random_bases=1,
                 montage_samples=0)
    for key in a.distances:
        np.testing.assert_allclose(a.distances[key], b.distances[key], rtol=1e-10, atol=1e-14)


def test_save_writes_every_output(G, D, result, tmp_path):
    comp = compress(G, D, result, G.sample(6, seed=0), [1, 3], random_bases=2, montage_samples=2,
                    out_dir=tmp_path / "out", codes_seed=0)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["codes_k1.npy", "codes_k3.npy", "curve.csv", "curve.png",
                                                      "montage.png", "summary.json"]
    lines = (out / "curve.csv").read_text().splitlines()
    assert lines[0] == "k,basis,fill,mean,std,median,kept_fraction"
    assert len(lines) == 1 + 3 * 2 * (1 + 1 + 2)                                  # k in 0,1,3; fills; bases
    np.testing.assert_array_equal(np.load(out / "codes_k3.npy"), comp.codes[3])  # the file holds the array
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "linear" and summary["distance"] == "mse" and summary["codes_seed"] == 0
    assert set(summary["summary"]["smallest_k"]["eigen"]) == {"none", "norm"}
    assert comp.images.shape == (2, 3, 1, 4, 4)


@pytest.mark.parametrize("kwargs, message", [
    ({"ks": [3, 2]}, "ks must be distinct and ascending, got 3,2"),
    ({"ks": [2, 2]}, "ks must be distinct and ascending"),
    ({"ks": [1, 7]}, "ks must be at least 0 and at most 6, got 7"),
    ({"ks": [-1]}, "ks must be at least 0"),
    ({"ks": []}, "ks must list at least one k"),
    ({"ks": [1.5]}, "ks must be an integer"),
    ({"fills": ["none", "none"]}, "fills must name each of none, norm at most once"),
    ({"fills": ["zero"]}, "fill 'zero' is not one of"),
    ({"random_bases": -1}, "random_bases must be at least 0"),
    ({"codes": torch.zeros(0, N)}, "codes must have shape"),
    ({"basis": torch.eye(N)[:, :3], "ks": [4]}, "ks goes up to 4 but the basis holds 3 directions"),
    ({"basis": torch.eye(N + 1)}, "basis from matrix (7, 7) must have shape (6, k)"),
    ({"basis": torch.eye(N), "center": "point"}, "center needs the point a metric was computed at"),
    ({"center": "middle"}, "center must be None, 'point' or a code of size 6"),
])
def test_bad_input_is_refused_before_anything_is_written(G, D, result, tmp_path, kwargs, message):
    args = {"basis": result, "codes": G.sample(3), "ks": [1, 2], **kwargs}
    with pytest.raises(InputError) as err:
        compress(G, D, args.pop("basis"), args.pop("codes"), args.pop("ks"), out_dir=tmp_path / "out", **args)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_basis_of_another_model_is_refused(G, D, result, tmp_path):
    path = save_with(tmp_path / "other.npz", result, model="dcgan-face", latent_dim=N)
    with pytest.raises(InputError, match="made with another model setting: model dcgan-face there, linear here"):
        compress(G, D, path, G.sample(2), [1], out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()
