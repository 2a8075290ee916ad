import numpy as np
import pytest

import ganmetric
from ganmetric.analysis import anisotropy_counts, batch_metric, load_results, plot_spectrum, spectrum_stats
from helpers_analysis import fake_result, prescribed_linear

# cumulative fractions 0.9, 0.99, 0.999, 0.9999, 0.99999, 1: counts 2, 3, 4, 5 for the four thresholds
DECADES = [0.9, 0.09, 0.009, 0.0009, 0.00009, 0.00001]


def test_counts_on_prescribed_spectrum():
    assert anisotropy_counts(DECADES).tolist() == [2, 3, 4, 5]
    # order and sign do not matter: sorted by magnitude
    assert anisotropy_counts([-0.00001, 0.009, 0.9, 0.00009, 0.09, 0.0009]).tolist() == [2, 3, 4, 5]
    # threshold 1 counts every non-zero eigenvalue, and a flat spectrum needs all of them at 0.99
    assert anisotropy_counts([3.0, 1.0, 0.0, 0.0], thresholds=[1.0]).tolist() == [2]
    assert anisotropy_counts(np.ones(10)).tolist() == [10, 10, 10, 10]
    batch = anisotropy_counts(np.array([DECADES, [1, 0, 0, 0, 0, 0]]))
    assert batch.tolist() == [[2, 3, 4, 5], [1, 1, 1, 1]]


@pytest.mark.parametrize("bad", [[0.0], [1.5], [-0.1]])
def test_bad_thresholds(bad):
    with pytest.raises(ganmetric.InputError, match="thresholds"):
        anisotropy_counts(DECADES, thresholds=bad)


def test_all_zero_spectrum_is_an_error():
    with pytest.raises(ganmetric.InputError, match="all zeros"):
        anisotropy_counts(np.zeros(4))


def test_metric_with_prescribed_spectrum_through_batch(tmp_path):
    """A linear generator whose metric has the DECADES spectrum: computed, saved, loaded, counted exactly."""
    G = prescribed_linear(DECADES)
    D = ganmetric.load_distance("mse", dtype="float64")
    batch_metric(G, D, G.sample(3, seed=0), tmp_path / "b", method="jacobian")
    st = spectrum_stats(load_results(tmp_path / "b"))
    np.testing.assert_allclose(st.mean, DECADES, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(st.p5, st.p95, rtol=1e-9, atol=1e-15)
    assert st.mean_counts.tolist() == [2, 3, 4, 5]
    assert st.point_counts.tolist() == [[2, 3, 4, 5]] * 3
    assert st.full


def test_per_point_mean_and_spread(tmp_path):
    fake_result(tmp_path / "a.npz", DECADES, seed=1)
    fake_result(tmp_path / "b.npz", [1, 0, 0, 0, 0, 0], seed=2)
    st = spectrum_stats(load_results(tmp_path))
    rows = st.table()
    assert [r["threshold"] for r in rows] == [0.99, 0.999, 0.9999, 0.99999]
    # per point: [2, 3, 4, 5] and [1, 1, 1, 1]
    assert [r["per_point_mean"] for r in rows] == pytest.approx([1.5, 2.0, 2.5, 3.0], abs=1e-12)
    assert [r["per_point_std"] for r in rows] == pytest.approx([0.5, 1.0, 1.5, 2.0], abs=1e-12)
    assert [r["per_point_max"] for r in rows] == [2, 3, 4, 5]
    # the mean spectrum (0.95, 0.045, ...) is a different thing from the mean of the counts
    np.testing.assert_allclose(st.mean, (np.array(DECADES) + [1, 0, 0, 0, 0, 0]) / 2)
    assert st.mean_counts.tolist() == anisotropy_counts(st.mean).tolist()
    csv = st.to_csv().splitlines()
    assert csv[0].startswith("threshold,mean_spectrum,per_point_mean")
    assert len(csv) == 5


def test_topk_results_are_flagged(tmp_path):
    fake_result(tmp_path / "a.npz", DECADES[:3], H=False, n=6)
    st = spectrum_stats(load_results(tmp_path))
    assert not st.full
    # the total is the sum of the stored top 3: 0.9 / 0.999 < 0.99
    assert st.mean_counts.tolist() == [2, 3, 3, 3]


def test_png(tmp_path):
    fake_result(tmp_path / "a.npz", DECADES)
    fake_result(tmp_path / "b.npz", np.array(DECADES) * 2, seed=3)
    plot_spectrum(spectrum_stats(load_results(tmp_path)), tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
