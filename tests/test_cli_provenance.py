"""Issue 9, end to end: every option that changes the map reaches the result file and comes back in its consumers."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import ganmetric
from ganmetric_cli.main import main

pytestmark = pytest.mark.pretrained("eyes-cdcgan")  # the custom-module test needs no weights, the rest do


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _ok(res):
    assert res.exit_code == 0, res.output
    return res.output


def _one_error(res, pattern, code=2):
    """One Error line holding ``pattern`` (exit 2: bad input), after any progress lines."""
    assert res.exit_code == code, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and pattern in lines[-1], res.output
    assert "Traceback" not in res.output


@pytest.fixture(scope="module")
def hazel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hazel")
    # provenance, not accuracy: 3 products (a few tenths of a second) instead of a converged top 3 (seconds at
    # 128 px); the result says converged: False and the CLI warns, which no test here reads
    out = _ok(run("hessian", "--model", "eyes-cdcgan", "--class-name", "hazel", "--distance", "mse",
                  "--method", "gn-lanczos", "--k", 3, "--max-iter", 3, "--seed", 3, "--out", folder / "hazel.npz",
                  "-q"))
    assert "class name hazel" in out
    _ok(run("axes", "export", folder / "hazel.npz", "--top", 3, "--out", folder / "axes.npz"))
    return folder


def test_the_class_is_recorded(hazel):
    meta = ganmetric.load_result(hazel / "hazel.npz").meta
    assert meta["model"] == "eyes-cdcgan" and meta["model_options"]["class_name"] == "hazel"
    assert ganmetric.load_axes(hazel / "axes.npz").meta["model_options"]["class_name"] == "hazel"


def test_axes_apply_draws_the_recorded_class(hazel):
    """Before, `axes apply` drew the default class (32.7 grey levels away from hazel on average)."""
    _ok(run("axes", "apply", "--axes", hazel / "axes.npz", "--axis", 0, "--amount", 0, "--out", hazel / "a.png"))
    G = ganmetric.load_generator("eyes-cdcgan", class_name="hazel")
    z = ganmetric.load_result(hazel / "hazel.npz").z
    want = ganmetric.plotting.to_uint8(G(G.sample(1, seed=0).new_tensor(z)[None])[0])
    got = np.asarray(Image.open(hazel / "a.png").convert("RGB"))
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1  # PNG rounding of the same image


def test_another_class_is_refused_by_every_consumer(hazel):
    _one_error(run("axes", "apply", "--axes", hazel / "axes.npz", "--axis", 0, "--amount", 1, "--class-name", "blue",
                   "--out", hazel / "b.png"), "class name hazel there, blue here")
    _one_error(run("explore", "--axes", hazel / "axes.npz", "--axes-list", 0, "--class-name", "blue",
                   "--out", hazel / "e.png"), "class name hazel there, blue here")
    assert not (hazel / "b.png").exists() and not (hazel / "e.png").exists()


def test_a_basis_for_another_model_is_refused_by_invert(hazel, tmp_path):
    """Before, `invert --model eyes-cdcgan --hessian face.npz` accepted a dcgan-face basis."""
    Image.new("RGB", (32, 32), (90, 60, 30)).save(tmp_path / "eye.png")
    _one_error(run("invert", "--model", "eyes-cdcgan", "--class-name", "blue", "--hessian", hazel / "hazel.npz",
                   "--image", tmp_path / "eye.png", "--distance", "mse", "--steps", 1, "--out", tmp_path / "inv"),
               "the basis hazel.npz was made with another model setting: class name hazel there, blue here")
    assert not (tmp_path / "inv").exists()


def test_batch_of_another_class_is_refused(tmp_path):
    """Before, `batch --class-name blue` resumed a hazel folder and mixed the classes ("computed 1, kept 1")."""
    base = ["batch", "--model", "eyes-cdcgan", "--distance", "mse", "--method", "gn-lanczos", "--k", 2,
            "--max-iter", 2, "--seed", 0, "--out", tmp_path / "b", "-q"]  # unconverged on purpose, as in hazel
    _ok(run(*base, "--class-name", "hazel", "--points", 1))
    _one_error(run(*base, "--class-name", "blue", "--points", 2),
               'model_options.class_name: directory has "hazel", this run "blue"')


def test_custom_module_without_weights_is_said_untrained(tmp_path, monkeypatch):
    (tmp_path / "gm_untrained.py").write_text(textwrap.dedent('''
        import torch
        from torch import nn

        def make():
            torch.manual_seed(0)
            net = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
            net.latent_dim = 4
            return net
    '''))
    monkeypatch.chdir(tmp_path)
    res = run("hessian", "--model", "gm_untrained:make", "--distance", "mse", "--out", tmp_path / "u.npz", "-q")
    out = _ok(res)
    assert "gm_untrained:make [z, n=4" in out and "weights: none (untrained initial weights)" in out
    assert ganmetric.load_result(tmp_path / "u.npz").meta["model_options"]["weights"] is None
