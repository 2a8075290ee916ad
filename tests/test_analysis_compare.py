"""compare_metrics: closed forms (identical metrics, metrics rotated by known angles), top-k files, refusals."""
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.analysis import compare_metrics, homogeneity, load_results, plot_comparison
from ganmetric.analysis.compare import principal_angles
from helpers import TinyConvGenerator
from helpers_analysis import fake_result

LAM = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])


def _rotation(n, planes):
    """Rotation turning e_a toward e_b by theta for each (a, b, theta) (disjoint planes)."""
    R = np.eye(n)
    for a, b, theta in planes:
        c, s = np.cos(theta), np.sin(theta)
        R[[a, a, b, b], [a, b, a, b]] = [c, -s, s, c]
    return R


def test_identical_metrics():
    U = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))[0]
    res = compare_metrics(_result(LAM, U), _result(LAM, U), k=4)
    np.testing.assert_allclose(res.angles_deg, 0.0, atol=1e-6)
    for value in (res.corr_log_ab, res.corr_linear_ab, res.corr_log_ba, res.corr_linear_ba, res.corr_vec):
        assert value == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(res.ratio_ab, 1.0, rtol=1e-12)
    np.testing.assert_allclose(res.vhv_ab, LAM, rtol=1e-12)                 # every rank both hold
    assert res.k == 4 and res.n_ranks == 6 and res.same_point and res.corr_vec_from == "full H" and res.warnings == ()


def test_rotated_metric_has_the_known_angles():
    """H_B = R H_A R^T with R turning e_1 toward e_4 by 20 deg and e_2 toward e_5 by 50 deg: the top-3
    eigenspaces span{e1, e2, e3} and span{R e1, R e2, e3} meet at angles 0, 20, 50 degrees."""
    t1, t2 = np.radians(20.0), np.radians(50.0)
    R = _rotation(6, [(0, 3, t1), (1, 4, t2)])
    res = compare_metrics(_result(LAM, np.eye(6)), _result(LAM, R), k=3)
    np.testing.assert_allclose(res.angles_deg, [0.0, 20.0, 50.0], atol=1e-10)
    # u_1(A) = e1 under H_B: lambda_1 cos^2 + lambda_4 sin^2 (ratio to lambda_1(B) = lambda_1); e4: the reverse
    c1, s1, c2, s2 = np.cos(t1) ** 2, np.sin(t1) ** 2, np.cos(t2) ** 2, np.sin(t2) ** 2
    want = np.array([LAM[0] * c1 + LAM[3] * s1, LAM[1] * c2 + LAM[4] * s2, LAM[2],
                     LAM[0] * s1 + LAM[3] * c1, LAM[1] * s2 + LAM[4] * c2, LAM[5]])
    np.testing.assert_allclose(res.vhv_ab, want, rtol=1e-12)
    np.testing.assert_allclose(res.ratio_ab, want / LAM, rtol=1e-12)
    np.testing.assert_allclose(res.vhv_ba, want, rtol=1e-12)           # the rotation's symmetry: same quotients
    H_A, H_B = np.diag(LAM), R @ np.diag(LAM) @ R.T
    assert res.corr_vec == pytest.approx(np.corrcoef(H_A.ravel(), H_B.ravel())[0, 1], abs=1e-12)
    assert res.corr_linear_ab == pytest.approx(np.corrcoef(want, LAM)[0, 1], abs=1e-12)
    assert res.corr_log_ab == pytest.approx(np.corrcoef(np.log10(want), np.log10(LAM))[0, 1], abs=1e-12)


def test_small_angles_keep_their_digits():
    """arccos alone would return ~1e-8 rad of rounding for an angle of 1e-9 rad."""
    theta = 1e-9
    A = np.eye(5)[:, :2]
    B = _rotation(5, [(1, 3, theta)])[:, :2]
    np.testing.assert_allclose(principal_angles(A, B), [0.0, theta], rtol=1e-6, atol=1e-15)
    np.testing.assert_allclose(principal_angles(A, np.eye(5)[:, 2:4]), [np.pi / 2] * 2, atol=1e-12)


def test_topk_files_use_rank_k_reconstructions(tmp_path):
    U = np.linalg.qr(np.random.default_rng(1).standard_normal((6, 6)))[0]
    R = _rotation(6, [(0, 5, 0.3)])
    fake_result(tmp_path / "a.npz", LAM, eigvecs=U)
    fake_result(tmp_path / "b.npz", LAM[:3], eigvecs=R @ U[:, :3], H=False, n=6)
    res = compare_metrics(tmp_path / "a.npz", tmp_path / "b.npz", k=10)
    assert res.k == 3 and res.k_requested == 10 and res.full == (True, False)
    assert res.corr_vec_from == "rank-3 reconstructions" and res.names == ("a.npz", "b.npz")
    rank3 = lambda V: (V[:, :3] * LAM[:3]) @ V[:, :3].T
    assert res.corr_vec == pytest.approx(np.corrcoef(rank3(U).ravel(), rank3(R @ U).ravel())[0, 1], abs=1e-12)
    # B's vectors under A's full H: straight from the definition
    want = np.array([(R @ U)[:, i] @ ((U * LAM) @ U.T) @ (R @ U)[:, i] for i in range(3)])
    np.testing.assert_allclose(res.vhv_ba, want, rtol=1e-12)


def test_a_pair_of_batch_points_matches_homogeneity(tmp_path):
    """compare(i, j) gives the (i, j) and (j, i) entries of the homogeneity matrices."""
    for s in range(3):
        fake_result(tmp_path / f"p{s}.npz", LAM * (s + 1) ** 0.5, seed=s)
    h = homogeneity(load_results(tmp_path))
    res = compare_metrics(tmp_path / "p0.npz", tmp_path / "p2.npz", k=2)
    assert (res.corr_log_ab, res.corr_log_ba) == pytest.approx((h.corr_log[0, 2], h.corr_log[2, 0]), abs=1e-12)
    assert (res.corr_linear_ab, res.corr_linear_ba) == \
        pytest.approx((h.corr_linear[0, 2], h.corr_linear[2, 0]), abs=1e-12)
    assert res.corr_vec == pytest.approx(h.corr_vec[0, 2], abs=1e-12)


def test_two_methods_at_one_point_agree():
    """jacobian against gn-lanczos (top 3) on a small generator: the same eigenpairs."""
    G = TinyConvGenerator(n=6, res=8).double()
    D = ganmetric.load_distance("mse", dtype="float64")
    z = G.sample(1, seed=3)
    full = ganmetric.metric_tensor(G, D, z, method="jacobian")
    top = ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=3)
    res = compare_metrics(full, top, k=3)
    np.testing.assert_allclose(res.angles_deg, 0.0, atol=1e-4)
    np.testing.assert_allclose(res.ratio_ab, 1.0, rtol=1e-8)
    assert res.corr_vec_from == "rank-3 reconstructions" and res.names == ("A", "B") and res.same_point


def test_different_latent_sizes_are_refused():
    with pytest.raises(ganmetric.InputError, match="different latent sizes: A has n=6, B has n=4"):
        compare_metrics(_result(LAM, np.eye(6)), _result(LAM[:4], np.eye(4)))
    with pytest.raises(ganmetric.InputError, match="k must be at least 1"):
        compare_metrics(_result(LAM, np.eye(6)), _result(LAM, np.eye(6)), k=0)


def test_different_models_warn_once(tmp_path):
    fake_result(tmp_path / "a.npz", LAM)
    fake_result(tmp_path / "b.npz", LAM, model="another", latent_space="w")
    with pytest.warns(UserWarning, match="different models or latent spaces") as record:
        res = compare_metrics(tmp_path / "a.npz", tmp_path / "b.npz", k=2)
    assert len(record) == 1 and len(res.warnings) == 1 and "\n" not in res.warnings[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_metrics(tmp_path / "a.npz", tmp_path / "a.npz")       # same model: no warning


def test_report_and_plot(tmp_path):
    res = compare_metrics(_result(LAM, np.eye(6)), _result(LAM, _rotation(6, [(0, 3, 0.5)])), k=3)
    text = res.report()
    assert "principal angles between the top-3 eigenspaces (degrees, smallest first):" in text
    assert len([line for line in text.splitlines() if line[:4].strip().isdigit()]) == 3   # one row per rank
    fig = plot_comparison(res, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    spectra, angles, ratios = fig.axes
    assert spectra.get_yscale() == "log" and angles.get_ylim() == (0.0, 90.0)
    assert "principal angles" in angles.get_title()


def _result(lam, U):
    """An in-memory result (torch tensors, like a MetricResult) with H = U diag(lam) U^T."""
    vals, vecs = torch.as_tensor(lam, dtype=torch.float64), torch.as_tensor(U, dtype=torch.float64)
    return SimpleNamespace(eigvals=vals, eigvecs=vecs, H=vecs @ torch.diag(vals) @ vecs.T,
                           z=torch.zeros(len(lam), dtype=torch.float64))
