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
from helpers import montage_layout, one_error_line, save_with
from ganmetric.axes import apply_axis, export_axes, load_axes
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
    save_with(path, fake, model="dcgan-face", latent_space="z", distance="mse", seed=0,
                          distance_options={})
    return folder, path


def _montage_size(path, rows, cols, cell, caption_lines=1):
    """The image's size, checked against the layout for whichever number of title lines it has."""
    size = Image.open(path).size
    assert any(size == montage_layout(rows, cols, cell, caption_lines, lines) for lines in range(1, 6)), size
    return size


def run(*args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res


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
    _montage_size(grid, 2, 3, 64, caption_lines=2)
    assert Image.open(folder / "curves.png").size == (640, 260)  # two panels of 320 x 260 px
    _montage_size(folder / "grid_action.png", 2, 3, 64, caption_lines=2)  # step and real distance per cell
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
    with open(folder / "c_angles.csv") as f:
        angles = list(csv.DictReader(f))
    assert [(a["method"], a["rank"]) for a in angles] == [("ganspace", str(j)) for j in (1, 2, 3)] + \
        [("sefa", str(j)) for j in (1, 2, 3)]
    assert "principal angles" in res.output


def test_compare_external_directions(result, tmp_path):
    """--directions FILE.npy: any (m, n) array, on the same footing as SeFa; wrong sizes refused in one line."""
    folder, path = result
    res_file = ganmetric.load_result(path)
    top = res_file.eigvecs[:, :2].T  # the metric's own top-2 eigenvectors, scaled: ratio 1 and 0.8, angles 0
    np.save(tmp_path / "mine.npy", 5 * top)
    res = run("axes", "compare", path, "--k", 2, "--methods", "sefa", "--n-directions", 2, "--directions",
              tmp_path / "mine.npy", "--out", tmp_path / "c.csv", "-q")
    assert res.exit_code == 0, res.output
    with open(tmp_path / "c.csv") as f:
        got = {(r["method"], r["index"]): r for r in csv.DictReader(f)}
    assert float(got["mine", "0"]["rayleigh_ratio"]) == pytest.approx(1.0, abs=1e-9)
    assert float(got["mine", "1"]["rayleigh_ratio"]) == pytest.approx(0.8, abs=1e-9)
    assert float(got["mine", "1"]["topk_energy"]) == pytest.approx(1.0, abs=1e-9)
    assert ("sefa", "1") in got
    with open(tmp_path / "c_angles.csv") as f:
        mine = [float(r["angle_deg"]) for r in csv.DictReader(f) if r["method"] == "mine"]
    np.testing.assert_allclose(mine, [0.0, 0.0], atol=1e-5)
    np.save(tmp_path / "short.npy", np.ones((2, 7)))
    one_error_line(run("axes", "compare", path, "--methods", "none", "--directions", tmp_path / "short.npy",
                        "--out", tmp_path / "d.csv"), "must be (m, 100) rows, one direction each")
    np.save(tmp_path / "zero.npy", np.zeros((1, 100)))
    one_error_line(run("axes", "compare", path, "--methods", "none", "--directions", tmp_path / "zero.npy",
                        "--out", tmp_path / "d.csv"), "row 0 is zero")
    np.save(tmp_path / "nan.npy", np.full(100, np.nan))
    one_error_line(run("axes", "compare", path, "--methods", "none", "--directions", tmp_path / "nan.npy",
                        "--out", tmp_path / "d.csv"), "contain NaN or inf")
    assert not (tmp_path / "d.csv").exists()


def test_output_formats_follow_the_suffix(result, tmp_path):
    """--out x.jpg writes JPEG, --out x.npz is refused before any work (nothing written); --scale upscales."""
    folder, path = result
    axes_file = tmp_path / "axes.npz"
    export_axes(path, top=3, out=axes_file)
    res = run("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", 1, "--seed", 1, "--scale", 3,
              "--out", tmp_path / "e.jpg")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "e.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert Image.open(tmp_path / "e.jpg").size == (192, 192)
    assert (tmp_path / "e.npy").is_file()
    res = run("explore", "--axes", axes_file, "--axes-list", "0", "--steps", 3, "--action-seeds", "1",
              "--out", tmp_path / "g.jpeg")
    assert res.exit_code == 0, res.output
    for name in ("g.jpeg", "g_action.jpeg"):
        assert (tmp_path / name).read_bytes()[:3] == b"\xff\xd8\xff"
    bad = tmp_path / "bad"
    for args, match in [
        (("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", 1, "--out", bad / "x.npz"),
         "Invalid value for '--out': is written as an image (PNG or JPEG, by the suffix): its name must end in .png "
         "or .jpg or .jpeg, got x.npz"),
        (("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", 1, "--out", bad / "x.png", "--codes-out",
          bad / "c.txt"),
         "Invalid value for '--codes-out': is written as a .npy array: its name must end in .npy, got c.txt"),
        (("explore", "--axes", axes_file, "--axes-list", "0", "--out", bad / "g.npz"),
         "Invalid value for '--out': is written as an image"),
        (("explore", "--axes", axes_file, "--axes-list", "0", "--action-seeds", "1", "--action-out", bad / "a.gif",
          "--out", bad / "g.png"), "Invalid value for '--action-out': is written as an image"),
        (("explore", "--axes", axes_file, "--axes-list", "0", "--curves", bad / "c.jpg", "--out", bad / "g.png"),
         "Invalid value for '--curves': is written as a PNG plot: its name must end in .png, got c.jpg"),
        (("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", 1, "--scale", 0, "--out", bad / "x.png"),
         "Invalid value for '--scale': must be at least 1, got 0"),
        (("explore", "--axes", axes_file, "--axes-list", "0", "--scale", 0, "--out", bad / "g.png"),
         "Invalid value for '--scale': must be at least 1, got 0"),
        (("explore", "--axes", axes_file, "--axes-list", "0", "--curves", bad / "c.png", "--curve-points", 1,
          "--out", bad / "g.png"), "Invalid value for '--curve-points': must be at least 2, got 1"),
        (("explore", "--axes", axes_file, "--axes-list", "0", "--action-seeds", "1", "--action-axis", 5,
          "--out", bad / "g.png"), "axis index 5 is out of range"),
        (("explore", "--axes", axes_file, "--axes-list", "0", "--calibrate", "0.1", "--steps-out", bad / "s.txt",
          "--out", bad / "g.png"),
         "Invalid value for '--steps-out': is written as a CSV table: its name must end in .csv, got s.txt"),
        (("axes", "export", path, "--out", bad / "t3.txt"),
         "Invalid value for '--out': is written as a numpy .npz archive: its name must end in .npz, got t3.txt"),
        (("axes", "compare", path, "--methods", "sefa", "--out", bad / "c.txt"), "Invalid value for '--out': is written as a CSV table"),
        (("axes", "compare", path, "--methods", "sefa", "--out", bad / "c.csv", "--meta-out", bad / "m.csv"),
         "Invalid value for '--meta-out': is written as a JSON file: its name must end in .json, got m.csv"),
    ]:
        one_error_line(run(*args), match)
    assert [p for p in bad.rglob("*") if p.is_file()] == []


def test_unreachable_calibration_is_reported(result, tmp_path):
    """mse of [-1, 1] images is at most 4: targets up to 100 cannot be reached (issue 9: steps of -1.99e19 and
    "max relative error 0.0e+00" before)."""
    folder, path = result
    axes_file = tmp_path / "axes.npz"
    export_axes(path, top=2, out=axes_file)
    res = run("explore", "--axes", axes_file, "--axes-list", "0,1", "--steps", 3, "--calibrate", 100,
              "--out", tmp_path / "g.png", "-q")
    assert res.exit_code == 0, res.output
    assert "no target reached" in res.output and "max relative error" not in res.output
    assert res.output.count("targets not reached within |t| <= 20 (the search bound)") == 2  # 2 sqrt(100)
    assert "e+1" not in res.output  # no absurd steps
    with open(tmp_path / "g_steps.csv") as f:
        rows = list(csv.DictReader(f))
    steps = np.array([float(r["step"]) for r in rows])
    assert np.isfinite(steps).all() and np.abs(steps).max() <= 20
    assert [r["reached"] for r in rows] == ["0", "1", "0"] * 2
    assert all(float(r["distance"]) < 4 for r in rows)
    img = np.asarray(Image.open(tmp_path / "g.png").convert("RGB"))
    assert np.all(img == (220, 0, 0), axis=-1).sum() > 4 * 64 * 2  # red frames around the unreached cells


@pytest.mark.pretrained("dcgan-face")
def test_bad_inputs(result, tmp_path):
    folder, path = result
    axes_file = tmp_path / "axes.npz"
    export_axes(path, top=4, out=axes_file)
    out = tmp_path / "x.png"
    one_error_line(run("axes", "apply", "--axes", axes_file, "--axis", 4, "--amount", 1, "--out", out),
                    "axis index 4 is out of range: the axis file holds 4 axes (0 to 3)")
    one_error_line(run("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", "nan", "--out", out),
                    "Invalid value for '--amount': must be a finite number, got nan")
    # 1e308 is finite but moves the code beyond float32: once an all-black image and a code hessian refused
    one_error_line(run("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", 1e308, "--out", out),
                   "the codes moved by amount 1e+308: values beyond float32's range (up to ")
    one_error_line(run("explore", "--axes", axes_file, "--axes-list", "0", "--range", 1e300, "--out", out),
                   "the codes moved by up to 1e+300: values beyond float32's range")
    one_error_line(run("explore", "--axes", axes_file, "--axes-list", "0,7", "--out", out), "axis index 7")
    one_error_line(run("axes", "export", tmp_path / "missing.npz", "--out", tmp_path / "a.npz"), "not found")
    np.save(tmp_path / "z.npy", np.zeros(100))
    one_error_line(run("axes", "apply", "--axes", axes_file, "--axis", 0, "--amount", 1, "--z", tmp_path / "z.npy",
                        "--seed", 1, "--out", out), "not both")
    one_error_line(run("explore", "--axes", axes_file, "--axes-list", "0", "--steps", 4, "--out", out),
                    "odd number >= 3")
    one_error_line(run("explore", "--axes", axes_file, "--axes-list", "0", "--curves", tmp_path / "c.png",
                        "--curves-range", "nan", "--out", out),
           "Invalid value for '--curves-range': must be a finite number, got nan")

    small = SimpleNamespace(eigvals=np.array([2.0, 1.0]), eigvecs=np.eye(8)[:, :2], z=np.ones(8), H=None,
                            residuals=None)
    save_with(tmp_path / "small.npz", small, model="linear", latent_space="z", distance="mse")
    export_axes(tmp_path / "small.npz", top=2, out=tmp_path / "small_axes.npz")
    one_error_line(run("explore", "--model", "dcgan-face", "--axes", tmp_path / "small_axes.npz", "--axes-list",
                        "0", "--out", out), "latent size 8 there, 100 here")
    other = SimpleNamespace(eigvals=np.array([2.0]), eigvecs=np.eye(100)[:, :1], z=np.ones(100), H=None,
                            residuals=None)
    save_with(tmp_path / "other.npz", other, model="eyes-cdcgan", latent_space="z", distance="mse")
    export_axes(tmp_path / "other.npz", top=1, out=tmp_path / "other_axes.npz")
    one_error_line(run("axes", "apply", "--model", "dcgan-face", "--axes", tmp_path / "other_axes.npz", "--axis",
                        0, "--amount", 1, "--out", out), "model eyes-cdcgan there, dcgan-face here")
    one_error_line(run("axes", "apply", "--axes", path, "--axis", 0, "--amount", 1, "--out", out),
                    "looks like a result file")
    assert not out.exists() and not out.with_suffix(".npy").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files left


def test_cli_uses_only_the_public_axes_api():
    """cli/axes.py reaches ganmetric.axes only through the names its __init__ exports (issue 10)."""
    import ast
    from pathlib import Path

    import ganmetric.axes as gax
    source = (Path(__file__).resolve().parents[1] / "cli" / "ganmetric_cli" / "axes.py").read_text()
    tree = ast.parse(source)
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "gax"}
    assert used and used <= set(gax.__all__), used - set(gax.__all__)
    deep = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("ganmetric.axes.")]
    assert deep == []
