"""``ganmetric invert`` end to end on a tiny saved generator (TorchScript file)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import subprocess_env
from ganmetric.inversion import image_to_png_bytes
from ganmetric.io import atomic_save_npz
from ganmetric_cli.main import main
from helpers import TinyConvGenerator


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A traced 8-d, 8x8 generator, a target image made by it, and its metric at z*."""
    d = tmp_path_factory.mktemp("inv")
    G = TinyConvGenerator(n=8, seed=2, res=8)
    torch.jit.save(torch.jit.trace(G, torch.zeros(2, 8)), str(d / "tiny.pt"))
    z_star = torch.linspace(-1, 1, 8)[None]
    with torch.no_grad():
        (d / "target.png").write_bytes(image_to_png_bytes(G(z_star)[0]))
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
    assert Image.open(out / "fit.png").size == (8, 8)
    for name in ("side_by_side.png", "loss_curve.png"):
        assert Image.open(out / name).format == "PNG"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_bad_image_and_mismatched_basis_give_one_error_line(files):
    (files / "bad.png").write_bytes(b"no image")
    res = CliRunner().invoke(main, ["invert", "--model", str(files / "tiny.pt"), "--latent-dim", "8", "--distance",
                                    "mse", "--image", str(files / "bad.png"), "--out", str(files / "bad")])
    assert res.exit_code == 1 and "Error: cannot read image" in res.output and "Traceback" not in res.output
    assert not any((files / "bad").iterdir())  # nothing written
    atomic_save_npz(files / "axes5.npz", {"axes": np.eye(5)})
    res = _invert(files, "--hessian", str(files / "axes5.npz"), "--out", str(files / "bad2"))
    assert res.exit_code == 1 and "must have shape (8, k)" in res.output


def test_subprocess_no_traceback(files):
    """The real entry point: a missing image is one `Error:` line on stderr, exit status 1."""
    proc = subprocess.run([sys.executable, "-m", "ganmetric_cli", "invert", "--model", str(files / "tiny.pt"),
                           "--latent-dim", "8", "--distance", "mse", "--image", str(files / "missing.png"),
                           "--out", str(files / "o")], capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"Error: image file not found: {files / 'missing.png'}"
