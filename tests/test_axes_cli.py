"""ganmetric axes export/apply/compare and ganmetric explore, end to end on dcgan-face (in process)."""
from __future__ import annotations

import csv
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganmetric
from ganmetric.axes import apply_axis, curves_size, export_axes, grid_size, load_axes
from ganmetric_cli.main import main


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """A dcgan-face result file with a known synthetic metric (the CLI plumbing is what is tested here)."""
    folder = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((100, 100)))[0]
    vals = 0.5 * 0.8 ** np.arange(100)
    z = torch.randn(1, 100, generator=torch.Generator().manual_seed(0), dtype=torch.float64).numpy()[0]
    fake = SimpleNamespace(eigvals=vals, eigvecs=Q, z=z, H=(Q * vals) @ Q.T, residuals=None)
    path = folder / "face.npz"
    ganmetric.save_result(path, fake, model="dcgan-face", latent_space="z", distance="mse", seed=0,
                          distance_options={})
    return folder, path


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res


def _one_error_line(res, match):
    """ganmetric errors: exit 1 and one line; click usage errors (BadParameter): exit 2, usage + one Error line."""
    assert res.exit_code in (1, 2), res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and match in errors[0], res.output
    if res.exit_code == 1:
        assert len(lines) == 1, res.output
    assert "Traceback" not in res.output


@pytest.mark.pretrained("dcgan-face")
def test_export_apply_explore_compare(result):
    folder, path = result
    axes_file = folder / "axes.npz"
    res = run("axes", "export", path, "--top", "6", "--out", axes_file)
    assert res.exit_code == 0, res.output
    ax = load_axes(axes_file)
    assert ax.top == 6 and ax.model == "dcgan-face"

    out = folder / "edited.png"
    res = run("axes", "apply", "--axes", axes_file, "--axis", 2, "--amount", 1.5, "--seed", 4, "--out", out)
    assert res.exit_code == 0, res.output
    G = ganmetric.load_generator("dcgan-face")
    z4 = G.sample(1, seed=4).double().numpy()
    np.testing.assert_allclose(np.load(folder / "edited.npy"), apply_axis(z4, ax, 2, 1.5), rtol=1e-6)
    assert Image.open(out).size == (64, 64)

    codes = folder / "codes.npy"
    np.save(codes, np.stack([z4[0], 2 * z4[0]]))
    res = run("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", 0.3, "--sphere", "--z", codes,
              "--out", folder / "sph.png")
    assert res.exit_code == 0, res.output
    edited = np.load(folder / "sph.npy")
    np.testing.assert_allclose(np.linalg.norm(edited, axis=1), np.linalg.norm(np.load(codes), axis=1), rtol=1e-12)
    assert (folder / "sph_0.png").is_file() and (folder / "sph_1.png").is_file()

    grid = folder / "grid.png"
    res = run("explore", "--model", "dcgan-face", "--axes", axes_file, "--axes-list", "0,3", "--steps", 3,
              "--calibrate", 0.02, "--curves", folder / "curves.png", "--curve-points", 5,
              "--action-seeds", "1,2", "--out", grid, "-q")
    assert res.exit_code == 0, res.output
    assert "calibrated to mse distances 0.02" in res.output  # the distance defaults to the axes' one
    assert Image.open(grid).size == grid_size(2, 3, 64, caption_lines=2)
    assert Image.open(folder / "curves.png").size == curves_size(2)
    assert Image.open(folder / "grid_action.png").size == grid_size(2, 3, 64)
    with open(folder / "grid_steps.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    for r in rows:
        assert float(r["distance"]) == pytest.approx(float(r["target"]), rel=2e-3, abs=1e-9)

    res = run("axes", "compare", path, "--k", 5, "--n-directions", 3, "--samples", 400, "--out", folder / "c.csv",
              "-q")
    assert res.exit_code == 0, res.output
    assert "sefa" in res.output and "ganspace" in res.output and "layer=main.2" in res.output
    with open(folder / "c.csv") as f:
        got = list(csv.DictReader(f))
    assert [r["method"] for r in got] == ["ganspace"] * 3 + ["sefa"] * 3 + ["random-expected"]


@pytest.mark.pretrained("dcgan-face")
def test_bad_inputs(result, tmp_path):
    folder, path = result
    axes_file = tmp_path / "axes.npz"
    export_axes(path, top=4, out=axes_file)
    out = tmp_path / "x.png"
    _one_error_line(run("axes", "apply", "--axes", axes_file, "--axis", 4, "--amount", 1, "--out", out),
                    "axis index 4 is out of range: the axis file holds 4 axes (0 to 3)")
    _one_error_line(run("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", "nan", "--out", out),
                    "amount must be a finite number, got nan")
    _one_error_line(run("explore", "--axes", axes_file, "--axes-list", "0,7", "--out", out), "axis index 7")
    _one_error_line(run("axes", "export", tmp_path / "missing.npz", "--out", tmp_path / "a.npz"), "not found")
    np.save(tmp_path / "z.npy", np.zeros(100))
    _one_error_line(run("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", 1, "--z", tmp_path / "z.npy",
                        "--seed", 1, "--out", out), "not both")
    _one_error_line(run("explore", "--axes", axes_file, "--axes-list", "0", "--steps", 4, "--out", out), "odd number >= 3")
    _one_error_line(run("explore", "--axes", axes_file, "--axes-list", "0", "--curves", tmp_path / "c.png", "--curves-range", "nan",
                        "--out", out), "must be a positive number")

    small = SimpleNamespace(eigvals=np.array([2.0, 1.0]), eigvecs=np.eye(8)[:, :2], z=np.ones(8), H=None,
                            residuals=None)
    ganmetric.save_result(tmp_path / "small.npz", small, model="linear", latent_space="z", distance="mse")
    export_axes(tmp_path / "small.npz", top=2, out=tmp_path / "small_axes.npz")
    _one_error_line(run("explore", "--model", "dcgan-face", "--axes", tmp_path / "small_axes.npz", "--axes-list",
                        "0", "--out", out), "latent sizes differ")
    other = SimpleNamespace(eigvals=np.array([2.0]), eigvecs=np.eye(100)[:, :1], z=np.ones(100), H=None,
                            residuals=None)
    ganmetric.save_result(tmp_path / "other.npz", other, model="eyes-cdcgan", latent_space="z", distance="mse")
    export_axes(tmp_path / "other.npz", top=1, out=tmp_path / "other_axes.npz")
    _one_error_line(run("axes", "apply", "--model", "dcgan-face", "--axes", tmp_path / "other_axes.npz", "--axis",
                        0, "--amount", 1, "--out", out), "made for model eyes-cdcgan")
    _one_error_line(run("axes", "apply", "--axes", path, "--axis", 0, "--amount", 1, "--out", out),
                    "looks like a result file")
    assert not out.exists() and not out.with_suffix(".npy").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files left
