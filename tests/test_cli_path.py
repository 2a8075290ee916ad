"""`ganmetric path` end to end (click's CliRunner), and every bad input as one line with nothing written."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import ganmetric
from ganmetric_cli.main import main
from helpers_analysis import save_traced_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_traced_tiny(tmp_path_factory.mktemp("model") / "tiny.pt", n=6, res=16)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_line_error(res, pattern, *, usage=False):
    """One ``Error:`` line naming the problem (after click's usage lines for a misuse of flags)."""
    assert res.exit_code != 0, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    if usage:
        assert lines[0].startswith("Usage:") and len(lines) == 3, res.output
        lines = lines[2:]
    assert len(lines) == 1 and lines[0].startswith("Error:") and pattern in lines[0], res.output
    assert "Traceback" not in res.output


def _base(tiny):
    return ["path", "--model", tiny, "--latent-dim", 6, "--distance", "mse", "--dtype", "float64", "-q"]


def test_three_paths_with_every_output(tiny, tmp_path):
    out = tmp_path / "deep" / "p"
    res = run(*_base(tiny), "--from-seed", 1, "--to-seed", 2, "--points", 5, "--max-iter", 20, "--out", out)
    assert res.exit_code == 0, res.output
    for name in ("summary.json", "montage.png", "steps.png", "codes_geodesic.npy", "codes_linear.npy",
                 "codes_slerp.npy", "path_geodesic.gif", "path_linear.gif", "path_slerp.gif"):
        assert (out / name).is_file(), name
    assert "length ratios: geodesic / linear" in res.output and "geodesic" in res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["endpoints"] == {"from": {"seed": 1}, "to": {"seed": 2}}
    assert s["options"]["methods"] == ["geodesic", "linear", "slerp"] and s["options"]["points"] == 5
    assert s["options"]["max_iter"] == 20 and s["options"]["dtype"] == "float64" and s["latent_dim"] == 6
    G = ganmetric.load_generator(str(tiny), latent_dim=6, dtype="float64")
    codes = np.load(out / "codes_linear.npy")
    assert codes.shape == (5, 6)
    np.testing.assert_allclose(codes[0], G.sample(1, seed=1)[0].numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(codes, ganmetric.linear_path(codes[0], codes[-1], 5).numpy(), rtol=0, atol=1e-15)
    # the length printed is the length of the path in the file
    measured = ganmetric.path_length(G, ganmetric.load_distance("mse", dtype="float64"), codes)
    assert s["paths"]["linear"]["length"] == pytest.approx(measured.length, rel=1e-12)
    assert f"{measured.length:.4g}" in res.output


def test_measure_a_path_file_and_refine(tiny, tmp_path):
    z = np.random.default_rng(0).standard_normal((2, 6))
    np.save(tmp_path / "a.npy", z[0])
    np.save(tmp_path / "b.npy", z[1][None])
    res = run(*_base(tiny), "--z-from", tmp_path / "a.npy", "--z-to", tmp_path / "b.npy", "--points", 3,
              "--method", "geodesic,linear", "--refine", "--max-iter", 10, "--out", tmp_path / "r")
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "r" / "codes_geodesic.npy").shape == (5, 6)  # (3 - 1) * 2 + 1
    assert "note: the geodesic stopped at --max-iter 10" in res.output and "no (max_iter)" in res.output
    assert np.load(tmp_path / "r" / "codes_linear.npy").shape == (5, 6)
    assert not (tmp_path / "r" / "codes_slerp.npy").exists()
    res = run(*_base(tiny)[:-1], "--measure", tmp_path / "r" / "codes_linear.npy")
    assert res.exit_code == 0, res.output
    assert "measured" in res.output and "wrote" not in res.output
    res = run(*_base(tiny), "--measure", tmp_path / "r" / "codes_geodesic.npy", "--out", tmp_path / "m")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["montage.png", "path_measured.gif",
                                                                    "steps.png", "summary.json"]


def _files(tmp):
    np.save(tmp / "short.npy", np.zeros(5))
    np.save(tmp / "nan.npy", np.full(6, np.nan))
    np.save(tmp / "two.npy", np.ones((2, 6)))
    np.save(tmp / "one.npy", np.ones(6))
    np.save(tmp / "path_short.npy", np.ones((4, 5)))
    (tmp / "text.npy").write_text("not an array")


@pytest.mark.parametrize("args,pattern", [
    (["--from-seed", 1, "--to-seed", 2, "--points", 2], "Invalid value for '--points': must be at least 3, got 2"),
    (["--from-seed", 1, "--to-seed", 1], "Invalid value for '--to-seed': is the same code as --from-seed: a path needs two different endpoints"),
    (["--from-seed", 1, "--z-to", "{tmp}/short.npy"], "Invalid value for '--z-to': short.npy must have shape (6,) or (N, 6)"),
    (["--from-seed", 1, "--z-to", "{tmp}/nan.npy"], "Invalid value for '--z-to': nan.npy contains NaN or inf"),
    (["--from-seed", 1, "--z-to", "{tmp}/two.npy"], "Invalid value for '--z-to': two.npy must hold one code of size 6, got 2 codes"),
    (["--from-seed", 1, "--z-to", "{tmp}/text.npy"], "--z-to"),
    (["--from-seed", 1, "--z-to", "{tmp}/missing.npy"], "Invalid value for '--z-to': file not found"),
    (["--from-seed", 1], "give --to-seed or --z-to"),
    (["--from-seed", 1, "--z-from", "{tmp}/one.npy", "--to-seed", 2], "give --from-seed or --z-from (one of them)"),
    (["--from-seed", 1, "--to-seed", 2, "--method", "geodesic,spline"],
     "Invalid value for '--method': method 'spline' is not one of {geodesic, linear, slerp}"),
    (["--from-seed", 1, "--to-seed", 2, "--method", "linear", "--prior-weight", 1],
     "Invalid value for '--prior-weight': applies to the geodesic only; add geodesic to --method or leave it out"),
    (["--from-seed", 1, "--to-seed", 2, "--tol", 0], "Invalid value for '--tol': must be a finite number > 0"),
    (["--from-seed", 1, "--to-seed", 2, "--refine", 9],
     "Invalid value for '--refine': 9 refinements of a path of 16 points would make 7681 codes; at most 4097"),
    (["--from-seed", 1, "--to-seed", 2, "--frames", 1], "Invalid value for '--frames': must be at least 2"),
    (["--measure", "{tmp}/path_short.npy"], "Invalid value for '--measure': path_short.npy must have shape (6,) or (N, 6)"),
    (["--measure", "{tmp}/one.npy"],
     "Invalid value for '--measure': one.npy must hold a path of at least 2 codes, shape (T + 1, 6), got 1 code"),
    (["--measure", "{tmp}/two.npy", "--points", 5], "--measure measures a path from a file; --points makes paths"),
])
def test_bad_input_is_one_line_and_writes_nothing(tiny, tmp_path, args, pattern):
    _files(tmp_path)
    out = tmp_path / "out"
    res = run(*_base(tiny), *[str(a).format(tmp=tmp_path) for a in args], "--out", out)
    _one_line_error(res, pattern, usage=pattern.startswith(("give", "--measure measures")))
    assert not out.exists()


def test_geodesic_refuses_a_distance_without_features(tiny, tmp_path, monkeypatch):
    import ganmetric.distances as distances
    from ganmetric.distances import FunctionDistance
    plain = FunctionDistance(lambda x, y: (x - y).pow(2).flatten(1).mean(1), name="plain")
    monkeypatch.setattr(distances.DistanceSpec, "load", lambda self, **kw: plain.double())
    res = run(*_base(tiny), "--from-seed", 1, "--to-seed", 2, "--out", tmp_path / "o")
    _one_line_error(res, "a geodesic needs a distance with the squared-feature form")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.pretrained("dcgan-face")
def test_dcgan_face_lpips_example(tmp_path):
    res = run("path", "--model", "dcgan-face", "--distance", "lpips-alex", "--lpips-backbone", "random",
              "--from-seed", 1, "--to-seed", 2, "--points", 5, "--max-iter", 5, "--out", tmp_path / "p", "-q")
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert s["model"] == "dcgan-face" and s["distance"] == "lpips-alex"
    assert s["distance_options"]["backbone"] == "random:0"
    assert s["paths"]["geodesic"]["energy"] < s["paths"]["linear"]["energy"]
