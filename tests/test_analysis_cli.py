"""The batch / spectrum / homogeneity / average commands, in-process (click's CliRunner)."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

import ganmetric
from ganmetric_cli.main import main
from helpers_analysis import fake_result, save_traced_tiny

DECADES = [0.9, 0.09, 0.009, 0.0009, 0.00009, 0.00001]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return save_traced_tiny(tmp_path_factory.mktemp("model") / "tiny.pt", n=6, res=8)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(res, pattern):
    assert res.exit_code == 1, res.output
    lines = [l for l in res.output.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and pattern in lines[0], res.output


def test_batch_then_analyses(tiny_file, tmp_path):
    out = tmp_path / "b"
    base = ["batch", "--model", tiny_file, "--latent-dim", 6, "--distance", "mse", "--dtype", "float64", "-q"]
    res = run(*base, "--points", 4, "--seed", 7, "--out", out)
    assert res.exit_code == 0, res.output
    assert "computed 4" in res.output and (out / "point_00003.npz").exists()
    res = run(*base, "--points", 4, "--seed", 7, "--out", out)
    assert "kept 4 already done" in res.output
    _one_line_error(run(*base, "--points", 4, "--seed", 7, "--method", "bp", "--out", out), "different batch")
    # the same codes through --z give the same batch (the seed is then not recorded: a different run)
    np.save(tmp_path / "z.npy", np.load(out / "codes.npy"))
    res = run(*base, "--z", tmp_path / "z.npy", "--out", tmp_path / "bz")
    assert res.exit_code == 0, res.output
    a, b = ganmetric.load_result(out / "point_00002.npz"), ganmetric.load_result(tmp_path / "bz" / "point_00002.npz")
    np.testing.assert_array_equal(a.H, b.H)  # bitwise on purpose: the same codes through the same batch code path

    res = run("spectrum", out)
    assert res.exit_code == 0, res.output
    assert "0.99999" in res.output and "4 result(s)" in res.output
    for suffix in (".png", ".csv", ".json"):
        assert (out / f"spectrum{suffix}").exists()
    summary = json.loads((out / "spectrum.json").read_text())
    assert len(summary["anisotropy"]) == 4 and summary["n_points"] == 4

    res = run("homogeneity", out, "-q")
    assert res.exit_code == 0, res.output
    assert "log-scale consistency" in res.output
    with np.load(out / "homogeneity.npz") as f:
        assert f["corr_log"].shape == (4, 4) and f["corr_vec"].shape == (4, 4)
    h = json.loads((out / "homogeneity.json").read_text())
    assert h["n_pairs"] == 12 and set(h["corr_log"]) == {"mean", "median", "n_defined"}
    assert (out / "homogeneity_heatmap.png").exists() and (out / "homogeneity_hist.png").exists()

    res = run("average", out, "--out", tmp_path / "avg.npz")
    assert res.exit_code == 0, res.output
    avg = ganmetric.load_result(tmp_path / "avg.npz")
    assert avg.meta["kind"] == "average" and avg.meta["n_points"] == 4
    res = run("spectrum", tmp_path / "avg.npz", "--out", tmp_path / "avgspec")
    assert res.exit_code == 0, res.output


def test_spectrum_help_defines_the_count():
    res = run("spectrum", "--help")
    text = " ".join(res.output.split())
    assert "number of leading eigenvalues, sorted by magnitude" in text and "first reaches the fraction t" in text


def test_exact_counts_and_topk_note(tmp_path):
    fake_result(tmp_path / "a.npz", DECADES)
    res = run("spectrum", tmp_path / "a.npz", "--out", tmp_path / "s")
    assert res.exit_code == 0, res.output
    rows = (tmp_path / "s.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[1]) for r in rows] == [2, 3, 4, 5]
    (tmp_path / "t").mkdir()
    fake_result(tmp_path / "t" / "p.npz", DECADES[:3], H=False, n=6)
    fake_result(tmp_path / "t" / "q.npz", DECADES[:3], H=False, n=6, seed=4)
    res = run("spectrum", tmp_path / "t")
    assert "note: top-k results" in res.output
    res = run("homogeneity", tmp_path / "t", "-q")
    assert res.exit_code == 0 and "reconstructed from top-k" in res.output


def test_errors_are_one_line(tiny_file, tmp_path):
    (tmp_path / "empty").mkdir()
    _one_line_error(run("spectrum", tmp_path / "empty"), "holds no result files")
    _one_line_error(run("homogeneity", tmp_path / "empty"), "holds no result files")
    _one_line_error(run("average", tmp_path / "nope"), "no such result file")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    _one_line_error(run("spectrum", tmp_path / "junk.npz"), "junk.npz")
    (tmp_path / "m").mkdir()
    fake_result(tmp_path / "m" / "a.npz", [1.0, 0.5])
    fake_result(tmp_path / "m" / "b.npz", [1.0, 0.5], model="other")
    _one_line_error(run("spectrum", tmp_path / "m"), "mix models")
    fake_result(tmp_path / "one.npz", [1.0, 0.5])
    _one_line_error(run("homogeneity", tmp_path / "one.npz"), "at least 2")
    _one_line_error(run("spectrum", tmp_path / "one.npz", "--thresholds", "0.5,2"), "thresholds")
    base = ["batch", "--model", tiny_file, "--latent-dim", 6, "--distance", "mse", "-q"]
    np.save(tmp_path / "bad.npy", np.zeros((3, 5)))
    _one_line_error(run(*base, "--z", tmp_path / "bad.npy", "--out", tmp_path / "o"), "shape")
    assert not (tmp_path / "o").exists()
    res = run(*base, "--out", tmp_path / "o")
    assert res.exit_code == 2 and "exactly one of --points N or --z" in res.output
    res = run(*base, "--points", 2, "--k", 99, "--out", tmp_path / "o")
    assert res.exit_code == 2 and "--k" in res.output
    assert not (tmp_path / "o").exists()
