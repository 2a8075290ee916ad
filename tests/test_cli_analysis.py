"""The batch / spectrum / homogeneity / average commands, in-process (click's CliRunner)."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric.generators import Generator
from ganmetric_cli.main import main
from helpers_analysis import fake_result, save_traced_tiny

DECADES = [0.9, 0.09, 0.009, 0.0009, 0.00009, 0.00001]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return save_traced_tiny(tmp_path_factory.mktemp("model") / "tiny.pt", n=6, res=8)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(res, pattern, code=2):
    assert res.exit_code == code, res.output
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
    _one_line_error(run("spectrum", tmp_path / "one.npz", "--thresholds", "0.5,2"), "--thresholds")
    base = ["batch", "--model", tiny_file, "--latent-dim", 6, "--distance", "mse", "-q"]
    np.save(tmp_path / "bad.npy", np.zeros((3, 5)))
    _one_line_error(run(*base, "--z", tmp_path / "bad.npy", "--out", tmp_path / "o"), "shape")
    assert not (tmp_path / "o").exists()
    res = run(*base, "--out", tmp_path / "o")
    assert res.exit_code == 2 and "exactly one of --points N or --z" in res.output
    _one_line_error(run(*base, "--points", 2, "--k", 99, "--out", tmp_path / "o"),
                    "Invalid value for '--k': must be at least 1 and at most 6, got 99")
    _one_line_error(run(*base, "--points", 1_000_000, "--out", tmp_path / "o"),
                    "--max-points 10000 is fewer than the 1000000 points asked for: the batch would write about ")
    _one_line_error(run(*base, "--points", 3, "--max-points", 2, "--k", 2, "--out", tmp_path / "o"),
                    # a top-2 float32 point of n = 6: eigenvectors 12 numbers, eigenvalues and residuals 2, z 6
                    "Invalid value for '--max-points': 2 is fewer than the 3 points asked for: the batch would write "
                    "about 408 bytes (3 result files of about 88 bytes each and 144 bytes of codes); raise it to "
                    "run them")
    assert not (tmp_path / "o").exists()
    fake_result(tmp_path / "one.npz", [1.0, 0.5])
    _one_line_error(run("average", tmp_path / "one.npz", "--out", tmp_path / "avg.txt"),
                    "Invalid value for '--out': is written as a ganmetric result file (.npz): its name must end in .npz, got avg.txt")
    assert not (tmp_path / "avg.txt").exists()


def test_failed_points_end_the_batch_with_one_error_and_the_analyses_say_how_many_they_left_out(tmp_path):
    out = tmp_path / "b"
    base = ["batch", "--model", "helpers_analysis:make_nan_at", "--latent-dim", 4, "--distance", "mse", "-q",
            "--points", 8, "--seed", 1, "--out", out]
    res = run(*base)
    assert res.exit_code == 1 and "computed 6 (recomputed 0 corrupt/stale), kept 0 already done, failed 2" in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines[-1] == ("Error: 2 of 8 points failed (0, 5): the generator's output is not finite at this code. "
                         "They are not saved; manifest.json lists them, and running the same command computes them "
                         "again") and "Traceback" not in res.output
    for command in ("spectrum", "average", "homogeneity"):
        res = run(command, out, *(["--out", tmp_path / "avg.npz"] if command == "average" else []))
        assert res.exit_code == 0, res.output
        assert "6 result(s)" in res.output and "left out: 2 failed point(s)" in res.output
    assert json.loads((out / "spectrum.json").read_text())["left_out"] == {"failed": 2}
    assert ganmetric.load_result(tmp_path / "avg.npz").meta["left_out"] == {"failed": 2}


def _row_sample(self, n=1, seed=0):
    """Row-independent sampling: row i of sample(N, seed) does not depend on N."""
    rows = [torch.randn(self.latent_dim, generator=torch.Generator().manual_seed(seed * 100_003 + i),
                        dtype=torch.float64) for i in range(n)]
    return torch.stack(rows).to(device=self.device, dtype=self.dtype)


def _size_dependent_sample(self, n=1, seed=0):
    """Like older ganmetric versions: every row depends on N."""
    g = torch.Generator().manual_seed(seed + 1000 * n)
    return torch.randn(n, self.latent_dim, generator=g, dtype=torch.float64).to(device=self.device, dtype=self.dtype)


def _strict_json(path):
    def refuse(token):
        raise AssertionError(f"{path}: non-strict JSON token {token}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_batch_grows_with_more_points_and_point_0_is_hessian_seed(tiny_file, tmp_path, monkeypatch):
    monkeypatch.setattr(Generator, "sample", _row_sample)
    out = tmp_path / "b"
    base = ["--model", tiny_file, "--latent-dim", 6, "--distance", "mse", "--dtype", "float64", "-q"]
    res = run("batch", *base, "--points", 2, "--seed", 7, "--out", out)
    assert res.exit_code == 0 and "computed 2" in res.output, res.output
    res = run("batch", *base, "--points", 4, "--seed", 7, "--out", out)
    assert res.exit_code == 0, res.output
    assert "computed 2 (recomputed 0 corrupt/stale), kept 2 already done" in res.output
    assert _strict_json(out / "manifest.json")["n_points"] == 4
    res = run("hessian", *base, "--seed", 7, "--out", tmp_path / "h.npz")
    assert res.exit_code == 0, res.output
    # copies of the same draw: exact
    np.testing.assert_array_equal(ganmetric.load_result(tmp_path / "h.npz").z.reshape(-1),
                                  np.load(out / "codes.npy")[0])


def test_batch_resumes_an_old_folder_and_refuses_to_grow_it(tiny_file, tmp_path, monkeypatch):
    out = tmp_path / "b"
    base = ["batch", "--model", tiny_file, "--latent-dim", 6, "--distance", "mse", "--dtype", "float64", "-q"]
    monkeypatch.setattr(Generator, "sample", _size_dependent_sample)
    assert run(*base, "--points", 3, "--seed", 7, "--out", out).exit_code == 0
    monkeypatch.setattr(Generator, "sample", _row_sample)
    res = run(*base, "--points", 3, "--seed", 7, "--out", out)
    assert res.exit_code == 0 and "kept 3 already done" in res.output, res.output
    res = run(*base, "--points", 5, "--seed", 7, "--out", out)
    _one_line_error(res, "not the first 3 of the 5 drawn now")
    assert "resume it with --points 3" in res.output and "choose another folder for --out" in res.output
    assert "out_dir" not in res.output and "n_points" not in res.output


@pytest.mark.parametrize("bad", ["nan", "0.5,nan", "inf", "0", "-0.5", "1.5"])
def test_spectrum_thresholds_must_be_finite_fractions(tmp_path, bad):
    fake_result(tmp_path / "a.npz", DECADES)
    res = run("spectrum", tmp_path / "a.npz", "--out", tmp_path / "out" / "s", "--thresholds", bad)
    _one_line_error(res, "Invalid value for '--thresholds': must be finite fractions in (0, 1]")
    assert not (tmp_path / "out").exists()                       # refused before anything was written


def test_written_json_is_strict(tmp_path):
    """Undefined statistics (a correlation of a constant) are null, never NaN."""
    fake_result(tmp_path / "a.npz", [1.0, 0.0, 0.0], seed=0)
    fake_result(tmp_path / "b.npz", [1.0, 0.0, 0.0], seed=1)
    assert run("spectrum", tmp_path, "--out", tmp_path / "s").exit_code == 0
    assert run("homogeneity", tmp_path, "--out", tmp_path / "h", "-q").exit_code == 0
    assert run("compare", tmp_path / "a.npz", tmp_path / "b.npz", "--out", tmp_path / "c").exit_code == 0
    assert _strict_json(tmp_path / "s.json")["anisotropy"][0]["mean_spectrum"] == 1
    assert _strict_json(tmp_path / "h.json")["corr_log"]["mean"] is None
    c = _strict_json(tmp_path / "c.json")
    assert c["a_eigenvectors_under_b"]["log_consistency"] is None         # one positive rank only
    assert c["per_rank"][1]["ratio_ab"] is None                             # lambda_2(B) = 0


def test_cli_imports_only_public_names():
    """The analysis and compare commands import packages' public names, never deeper modules."""
    import ast
    import ganmetric_cli.analysis as cli_analysis
    import ganmetric_cli.compare as cli_compare
    for mod in (cli_analysis, cli_compare):
        tree = ast.parse(open(mod.__file__).read())
        for node in ast.walk(tree):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("ganmetric."):
                    assert name.count(".") == 1, f"{mod.__name__} imports {name}"
    assert not hasattr(cli_analysis, "SPECTRUM_HELP")                      # one definition: analysis'
    help_text = " ".join(run("spectrum", "--help").output.split())
    assert " ".join(ganmetric.analysis.ANISOTROPY_DEFINITION.split()) in help_text


def test_compare_command(tmp_path):
    rng = np.random.default_rng(0)
    U = np.linalg.qr(rng.standard_normal((6, 6)))[0]
    fake_result(tmp_path / "a.npz", DECADES, eigvecs=U)
    fake_result(tmp_path / "same.npz", DECADES, eigvecs=U)
    res = run("compare", tmp_path / "a.npz", tmp_path / "same.npz", "--k", 3, "--out", tmp_path / "c")
    assert res.exit_code == 0, res.output
    assert "principal angles between the top-3 eigenspaces" in res.output and "log-scale consistency" in res.output
    summary = _strict_json(tmp_path / "c.json")
    np.testing.assert_allclose(summary["principal_angles_deg"], 0.0, atol=1e-6)
    assert summary["b_eigenvectors_under_a"]["linear_consistency"] == pytest.approx(1.0, abs=1e-12)
    assert (tmp_path / "c.csv").read_text().splitlines()[0] == "rank,lambda_a,lambda_b,vhv_ab,ratio_ab,vhv_ba,ratio_ba"
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    # another model of the same latent size: one warning line, then the comparison
    fake_result(tmp_path / "other.npz", DECADES, model="other-model")
    res = run("compare", tmp_path / "a.npz", tmp_path / "other.npz", "--out", tmp_path / "d")
    assert res.exit_code == 0, res.output
    warns = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(warns) == 1 and warns[0].startswith("Warning:") and "different models" in warns[0]
    # k larger than the files hold is cut, and said
    assert "compared top k = 6 (asked 10" in res.output
    # another latent size: refused with one line, nothing written
    fake_result(tmp_path / "n8.npz", DECADES + [1e-6, 1e-7])
    _one_line_error(run("compare", tmp_path / "a.npz", tmp_path / "n8.npz", "--out", tmp_path / "e"),
                    "different latent sizes")
    assert not (tmp_path / "e.json").exists()
    _one_line_error(run("compare", tmp_path / "a.npz", tmp_path / "same.npz", "--k", 0, "--out", tmp_path / "e"),
                    "Invalid value for '--k': must be at least 1")
