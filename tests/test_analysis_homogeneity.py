import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.analysis import batch_metric, homogeneity, load_results
from ganmetric.analysis.homogeneity import vhv_matrix
from ganmetric.analysis.plots import plot_homogeneity_heatmap, plot_homogeneity_hist
from helpers_analysis import RotatingGenerator, fake_result, prescribed_linear


@pytest.fixture(scope="module")
def mse64():
    return ganmetric.load_distance("mse", dtype="float64")


def _loop_reference(U, lam, H):
    """Pair by pair with numpy, straight from the definitions."""
    N = len(U)
    out = {k: np.full((N, N), np.nan) for k in ("corr_log", "corr_linear", "corr_vec")}
    for i in range(N):
        for j in range(N):
            vhv = np.array([U[i][:, k] @ H[j] @ U[i][:, k] for k in range(U[i].shape[1])])
            m = (vhv > 0) & (lam[j] > 0)
            out["corr_log"][i, j] = np.corrcoef(np.log10(vhv[m]), np.log10(lam[j][m]))[0, 1]
            out["corr_linear"][i, j] = np.corrcoef(vhv, lam[j])[0, 1]
            out["corr_vec"][i, j] = np.corrcoef(H[i].ravel(), H[j].ravel())[0, 1]
    return out


def test_constant_jacobian_is_perfectly_homogeneous(tmp_path, mse64):
    G = prescribed_linear([5.0, 2.0, 1.0, 0.3, 0.1, 0.01])
    batch_metric(G, mse64, G.sample(5, seed=0), tmp_path / "b", method="jacobian")
    h = homogeneity(load_results(tmp_path / "b"))
    for m in (h.corr_log, h.corr_linear, h.corr_vec):
        np.testing.assert_allclose(m, 1.0, atol=1e-9)
    s = h.summary()
    assert s["n_pairs"] == 20 and s["corr_log"]["mean"] == pytest.approx(1.0)
    assert h.full


def test_rotating_jacobian_is_not(tmp_path, mse64):
    G = RotatingGenerator()
    z = G.sample(12, seed=1)  # a seed whose 12 codes fall in 12 different cells
    assert len(set(G.cell(z).tolist())) == 12                           # twelve different rotations
    batch_metric(G, mse64, z, tmp_path / "b", method="jacobian")
    rs = load_results(tmp_path / "b")
    np.testing.assert_allclose(rs.eigvals, np.broadcast_to(2.0 ** -np.arange(-3, 5), (12, 8)), rtol=1e-9)
    h = homogeneity(rs)
    s = h.summary()
    assert abs(s["corr_log"]["mean"]) < 0.2 and abs(s["corr_linear"]["mean"]) < 0.2
    np.testing.assert_allclose(np.diag(h.corr_log), 1.0, atol=1e-9)   # vHv_ii = lambda_i
    ref = _loop_reference(list(rs.eigvecs), rs.eigvals, rs.metrics())
    for key in ref:
        np.testing.assert_allclose(getattr(h, key), ref[key], atol=1e-10)


def test_vhv_blocks_agree_with_einsum():
    rng = np.random.default_rng(0)
    N, n, K = 7, 5, 3
    U = torch.from_numpy(rng.standard_normal((N, n, K)))
    B = torch.from_numpy(rng.standard_normal((N, n, n)))
    H = B + B.transpose(1, 2)
    want = torch.einsum("ink,jnm,imk->ijk", U, H, U)
    torch.testing.assert_close(vhv_matrix(U, H), want)
    torch.testing.assert_close(vhv_matrix(U, H, block_bytes=1), want)   # one point per block


def test_topk_and_masking(tmp_path, device):
    """Top-k files: H rebuilt from k pairs; a zero eigenvalue is masked on the log scale only."""
    for s in range(4):
        fake_result(tmp_path / f"p{s}.npz", [4.0, 2.0, 1.0, 0.0], H=False, n=6, seed=s)
    rs = load_results(tmp_path)
    assert not rs.full
    h = homogeneity(rs, device=device)
    assert not h.full
    ref = _loop_reference(list(rs.eigvecs), rs.eigvals, rs.metrics())
    for key in ref:
        np.testing.assert_allclose(getattr(h, key), ref[key], atol=1e-10)
    assert np.isfinite(h.corr_log).all()


def test_undefined_correlation_is_nan(tmp_path):
    """Fewer than two positive ranks leaves the log-scale correlation undefined (NaN), not an error."""
    fake_result(tmp_path / "a.npz", [1.0, 0.0, 0.0], seed=0)
    fake_result(tmp_path / "b.npz", [1.0, 0.0, 0.0], seed=1)
    h = homogeneity(load_results(tmp_path))
    assert np.isnan(h.corr_log).all()
    assert h.summary()["corr_log"]["mean"] is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_unavailable_device(tmp_path):
    for s in range(2):
        fake_result(tmp_path / f"p{s}.npz", [1.0, 0.5], seed=s)
    with pytest.raises(ganmetric.InputError, match="CUDA is not available"):
        homogeneity(load_results(tmp_path), device="cuda")


def test_needs_two_points(tmp_path):
    fake_result(tmp_path / "a.npz", [1.0, 0.5])
    with pytest.raises(ganmetric.InputError, match="at least 2"):
        homogeneity(load_results(tmp_path))


def test_plots(tmp_path):
    for s in range(3):
        fake_result(tmp_path / f"p{s}.npz", [3.0, 2.0, 1.0], seed=s)
    h = homogeneity(load_results(tmp_path))
    plot_homogeneity_heatmap(h, tmp_path / "h.png")
    plot_homogeneity_hist(h, tmp_path / "g.png")
    for f in ("h.png", "g.png"):
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"
