"""``ganmetric invert`` end to end on a tiny saved generator (TorchScript file)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganmetric
from helpers import one_error_line, subprocess_env
from ganmetric.axes import export_axes
from ganmetric.plotting import image_bytes
from ganmetric_cli.main import main
from helpers import TinyConvGenerator, save_with


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A traced 8-d, 8x8 generator, a target image made by it, and its metric at z*."""
    d = tmp_path_factory.mktemp("inv")
    G = TinyConvGenerator(n=8, seed=2, res=8)
    torch.jit.save(torch.jit.trace(G, torch.zeros(2, 8)), str(d / "tiny.pt"))
    z_star = torch.linspace(-1, 1, 8)[None]
    with torch.no_grad():
        (d / "target.png").write_bytes(image_bytes(G(z_star)[0]))
    np.save(d / "z_star.npy", z_star[0].numpy())
    runner = CliRunner()
    res = runner.invoke(main, ["hessian", "--model", str(d / "tiny.pt"), "--latent-dim", "8", "--distance", "mse",
                               "--seed", "1", "--quiet", "--out", str(d / "h.npz")])
    assert res.exit_code == 0, res.output
    return d


def _invert(d, *extra):
    return CliRunner().invoke(main, ["invert", "--model", str(d / "tiny.pt"), "--latent-dim", "8", "--distance",
                                     "mse", "--image", str(d / "target.png"), "--steps", "30", "--restarts", "3",
                                     "--lr", "0.1", "--quiet", *extra])


@pytest.mark.parametrize("basis", [False, True])
def test_writes_every_output(files, basis):
    out = files / ("with_basis" if basis else "plain")
    extra = ["--hessian", str(files / "h.npz"), "--eigval-power", "0.25"] if basis else []
    res = _invert(files, "--out", str(out), *extra)
    assert res.exit_code == 0, res.output
    assert "best loss" in res.output
    code = np.load(out / "code.npy")
    losses = np.load(out / "losses.npy")
    assert code.shape == (8,) and np.load(out / "codes.npy").shape == (3, 8) and losses.shape == (3, 30)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["restarts"] == 3 and summary["settings"]["lr"] == 0.1
    assert summary["loss"] == pytest.approx(min(summary["final_losses"]))
    assert summary["loss"] < losses[:, 0].min()  # the fit improved on every starting code
    assert summary["settings"]["basis"] == ("point result file h.npz" if basis else None)
    assert summary["basis_label"] == ("point result file h.npz, k=8, eigval power 0.25" if basis else "none")
    assert f"basis: {summary['basis_label']}" in res.output
    fit = summary["fit"]  # always: the chosen distance of the fit, PSNR, SSIM (None: 8 px < its 11 px window)
    assert fit["distance_name"] == "mse" and fit["distance"] == pytest.approx(summary["loss"], rel=1e-6)
    assert fit["psnr_db"] > 0 and fit["ssim"] is None and fit["true_z_l2"] is None
    assert f"fit: mse {fit['distance']:.4g}, PSNR {fit['psnr_db']:.2f} dB, SSIM n/a" in res.output
    assert Image.open(out / "fit.png").size == (8, 8)
    for name in ("side_by_side.png", "loss_curve.png"):
        assert Image.open(out / name).format == "PNG"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_bad_image_and_mismatched_basis_give_one_error_line(files):
    (files / "bad.png").write_bytes(b"no image")
    res = CliRunner().invoke(main, ["invert", "--model", str(files / "tiny.pt"), "--latent-dim", "8", "--distance",
                                    "mse", "--image", str(files / "bad.png"), "--out", str(files / "bad")])
    assert res.exit_code == 2 and "Error: Invalid value for '--image': cannot read image" in res.output and "Traceback" not in res.output
    assert not (files / "bad").exists()  # nothing written: every input is checked before --out is made
    five = ganmetric.MetricResult(eigvals=torch.ones(5), eigvecs=torch.eye(5), H=None, method="x", seconds=0.0,
                                  z=torch.zeros(5))
    export_axes(save_with(files / "h5.npz", five), top=5, out=files / "axes5.npz")
    res = _invert(files, "--hessian", str(files / "axes5.npz"), "--out", str(files / "bad2"))
    assert res.exit_code == 2 and "latent size 5 there, 8 here" in res.output and not (files / "bad2").exists()


@pytest.mark.slow  # a fresh interpreter: about 3 s of CPU
def test_subprocess_no_traceback(files):
    """The real entry point: a missing image is one `Error:` line on stderr, exit status 1."""
    proc = subprocess.run([sys.executable, "-m", "ganmetric_cli", "invert", "--model", str(files / "tiny.pt"),
                           "--latent-dim", "8", "--distance", "mse", "--image", str(files / "missing.png"),
                           "--out", str(files / "o")], capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"Error: Invalid value for '--image': image file not found: {files / 'missing.png'}"


def _error_line(res, code=2):
    """The output is exactly one `Error:` line (no traceback; exit 2: bad input), returned."""
    assert res.exit_code == code and "Traceback" not in res.output, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    return lines[0]


def test_a_basis_made_for_another_model_is_refused(files):
    """Issue 9: `invert --model eyes-cdcgan --hessian face.npz` accepted a dcgan-face basis."""
    h = ganmetric.load_result(files / "h.npz")
    recorded = {k: v for k, v in h.meta.items() if k != "model_options"}  # a file recording only the model's name
    other = save_with(files / "face.npz", dataclasses.replace(h, meta={}), **{**recorded, "model": "dcgan-face"})
    line = _error_line(_invert(files, "--hessian", str(other), "--out", str(files / "face_inv")))
    assert line.startswith("Error: Invalid value for '--model': the basis face.npz was made with another model setting: model dcgan-face there, ")
    assert line.endswith("tiny.pt here") and not (files / "face_inv").exists()


def test_basis_k_without_hessian_is_refused(files):
    res = _invert(files, "--basis-k", "3", "--out", str(files / "bk"))
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.strip().splitlines()[-1] == "Error: Invalid value for '--basis-k': needs --hessian (the basis " \
                                                  "to take the top k directions from)"
    assert not (files / "bk").exists()


def test_out_creates_missing_parent_folders(files):
    """Issue 9: `--out a/b/c` refused when a/b was missing."""
    out = files / "new" / "deeper" / "inv"
    res = _invert(files, "--out", str(out))
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["code.npy", "codes.npy", "losses.npy", "fit.png",
                                                            "side_by_side.png", "loss_curve.png", "summary.json"])


@pytest.mark.parametrize("extra, expected", [
    (["--restarts", "100000000"], "Error: Invalid value for '--restarts': 100000000 with --steps 30 would keep 35.0 GiB of per-restart results"),
    (["--box", "0,0,9,8"], "Error: Invalid value for '--box': 0, 0, 9, 8 does not fit in target.png, which is 8 x 8 pixels"),
    (["--box", "4,0,2,8"], "Error: Invalid value for '--box': must have 0 <= x0 < x1 and 0 <= y0 < y1, got 4, 0, 2, 8"),
    (["--chunk", "0"], "Error: Invalid value for '--chunk': must be at least 1, got 0"),
    (["--lr", "nan"], "Error: Invalid value for '--lr': must be a finite number, got nan"),
    (["--lr", "0"], "Error: Invalid value for '--lr': must be a finite number > 0, got 0"),
    (["--pixel-weight", "-1"], "Error: Invalid value for '--pixel-weight': must be a finite number >= 0, got -1"),
    (["--eigval-power", "0.5"], "Error: Invalid value for '--eigval-power': needs a basis"),
    (["--true-z", "TRUE_Z_9"], "Error: Invalid value for '--true-z': TRUE_Z_9.npy must have shape (8,) or (N, 8)"),
    (["--true-z", "TRUE_Z_2x8"], "Error: Invalid value for '--true-z': must be one code of size 8, got 2 codes"),
])
def test_bad_inputs_are_one_error_line_and_write_nothing(files, extra, expected):
    for name, shape in (("TRUE_Z_9", (9,)), ("TRUE_Z_2x8", (2, 8))):
        np.save(files / f"{name}.npy", np.zeros(shape))
    extra = [str(files / f"{e}.npy") if e.startswith("TRUE_Z") else e for e in extra]
    out = files / "never"
    line = _error_line(_invert(files, *extra, "--out", str(out)))
    assert line.startswith(expected), line
    assert not out.exists()


def test_box_syntax_is_a_flag_error(files):
    res = _invert(files, "--box", "1,2,3", "--out", str(files / "never"))
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "Invalid value for '--box': expected x0,y0,x1,y1 (four integers, pixels of the image), got 1,2,3" \
        in res.output


def test_box_and_true_z_end_to_end(files):
    """The box is recorded; --true-z reports the fit's cosine similarity and L2 distance to the code."""
    out = files / "boxed"
    res = _invert(files, "--box", "0,0,8,8", "--true-z", str(files / "z_star.npy"), "--out", str(out))
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    z, z_star = np.load(out / "code.npy").astype(np.float64), np.load(files / "z_star.npy").astype(np.float64)
    fit = summary["fit"]
    assert fit["true_z_l2"] == pytest.approx(float(np.linalg.norm(z - z_star)), rel=1e-5)
    cos = float(z @ z_star / (np.linalg.norm(z) * np.linalg.norm(z_star)))
    assert fit["true_z_cosine"] == pytest.approx(cos, rel=1e-5)
    assert summary["settings"]["box"] == [0, 0, 8, 8] and summary["true_z_file"] == str(files / "z_star.npy")
    assert f"to the known code: cosine similarity {cos:.4f}" in res.output


def test_an_earlier_runs_folder_needs_overwrite_and_is_then_replaced_whole(files):
    out = files / "again"
    assert _invert(files, "--out", str(out), "--seed", "0").exit_code == 0
    first = np.load(out / "code.npy")
    one_error_line(_invert(files, "--out", str(out), "--seed", "7"),
                   f"Error: Invalid value for '--out': {out} holds the outputs of an earlier run (code.npy, codes.npy, fit.png, "
                   f"loss_curve.png and 3 more); choose another folder, or replace them with this run's: --overwrite")
    np.testing.assert_array_equal(np.load(out / "code.npy"), first)
    res = _invert(files, "--out", str(out), "--seed", "7", "--overwrite")
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    codes = np.load(out / "codes.npy")
    assert summary["settings"]["seed"] == 7 and summary["interrupted"] is False
    np.testing.assert_array_equal(np.load(out / "code.npy"), codes[summary["best_restart"]])  # one run's set
    (out / "notes.txt").write_text("mine")
    one_error_line(_invert(files, "--out", str(out), "--overwrite"),
                   "holds files that invert does not write (notes.txt)")
    assert (out / "notes.txt").read_text() == "mine"
    assert not [p.name for p in files.iterdir() if p.name.startswith(".again.")]  # no stage, no lock file left


def test_a_full_disk_is_one_error_line_and_leaves_the_previous_set(files, monkeypatch):
    import errno
    import os
    out = files / "full"
    assert _invert(files, "--out", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_fsync, calls = os.fsync, []

    def fsync(fd):  # the fourth file of the new set does not fit
        calls.append(fd)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    res = _invert(files, "--out", str(out), "--overwrite", "--seed", "3")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert [line for line in res.output.splitlines() if line.strip()] == [
        f"Error: cannot write {out}/fit.png: No space left on device"]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p.name for p in files.iterdir() if p.name.startswith(".full.")]
