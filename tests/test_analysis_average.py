import numpy as np

import ganmetric
from ganmetric.analysis import average_metric, batch_metric, load_results, spectrum_stats
from helpers_analysis import fake_result, prescribed_linear


def test_average_of_a_constant_metric_is_that_metric(tmp_path):
    G = prescribed_linear([4.0, 1.0, 0.25])
    D = ganmetric.load_distance("mse", dtype="float64")
    batch_metric(G, D, G.sample(3, seed=0), tmp_path / "b", method="jacobian")
    rs = load_results(tmp_path / "b")
    avg = average_metric(rs)
    np.testing.assert_allclose(avg.eigvals, [4.0, 1.0, 0.25], rtol=1e-10)
    np.testing.assert_allclose(avg.H, rs.results[0].H, atol=1e-12)
    np.testing.assert_allclose(avg.z, np.mean([r.z for r in rs.results], axis=0))


def test_average_file_round_trip(tmp_path):
    U = np.eye(3)
    fake_result(tmp_path / "a.npz", [2.0, 0.0, 0.0], eigvecs=U)
    fake_result(tmp_path / "b.npz", [0.0, 0.0, 4.0][::-1], eigvecs=U[:, [2, 1, 0]])   # 4 along e3
    rs = load_results(tmp_path)
    avg = average_metric(rs)
    np.testing.assert_allclose(avg.H, np.diag([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(avg.eigvals, [2.0, 1.0, 0.0])
    np.testing.assert_allclose(np.abs(avg.eigvecs[:, 0]), [0, 0, 1])
    out = avg.save(tmp_path / "avg.npz").path
    back = ganmetric.load_result(out)
    assert back.meta["kind"] == "average" and back.meta["n_points"] == 2 and back.meta["method"] == "average"
    assert back.meta["model"] == "fake" and not back.meta["reconstructed_from_topk"]
    # the other analyses accept it
    assert spectrum_stats(load_results(out)).mean_counts.tolist() == [2, 2, 2, 2]


def test_topk_average_is_flagged(tmp_path):
    fake_result(tmp_path / "a.npz", [2.0, 1.0], H=False, n=4)
    fake_result(tmp_path / "b.npz", [3.0, 1.0], H=False, n=4, seed=5)
    rs = load_results(tmp_path)
    avg = average_metric(rs)
    np.testing.assert_allclose(avg.H, (rs.results[0].metric() + rs.results[1].metric()) / 2)
    assert avg.kind == "average" and avg.meta["reconstructed_from_topk"] and avg.meta["n_points"] == 2
    assert avg.eigvals.shape == (4,)
