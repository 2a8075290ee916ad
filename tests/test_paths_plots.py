"""Montage, steps plot, GIF and the summary of a path run: sizes, frames, labels, provenance."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageSequence

import ganmetric
from ganmetric.axes.montage import LABEL_W, PAD
from ganmetric.paths import check_outputs, compare_paths, path_summary, report_lines, write_outputs
from ganmetric.paths.plots import GIF_END_MS, GIF_FRAME_MS, frame_indices, gif_bytes, montage_image, steps_png
from helpers import TinyConvGenerator


@pytest.fixture(scope="module")
def run():
    G = TinyConvGenerator(n=4, res=16).double()
    D = ganmetric.load_distance("mse", dtype="float64")
    z = G.sample(2, seed=3)
    return G, D, compare_paths(G, D, z[0], z[1], points=6, max_iter=30)


def test_frame_indices_spread_over_the_path_with_both_ends():
    assert frame_indices(16, 16) == list(range(16))
    assert frame_indices(5, 9) == [0, 1, 2, 3, 4]
    assert frame_indices(33, 5) == [0, 8, 16, 24, 32]
    assert frame_indices(16, 9) == [0, 3, 6, 9, 12, 15]  # 15 steps: 5 even gaps rather than 8 uneven ones
    idx = frame_indices(32, 16)  # 31 steps, a prime: the nearest to an even spread
    assert idx[0] == 0 and idx[-1] == 31 and len(idx) == 16 and max(b - a for a, b in zip(idx, idx[1:])) == 3


def test_montage_has_one_row_per_method_and_the_same_frames(run):
    G, D, paths = run
    image = montage_image(G, D, paths, frames=4, scale=2)
    cols, cell = 4, 32
    assert image.width == LABEL_W + cols * (cell + PAD) + PAD
    assert image.height > 3 * cell  # three rows plus the title and captions


def test_gif_plays_the_path_forward_and_back(run):
    G, D, paths = run
    data = gif_bytes(G, paths["geodesic"])
    im = Image.open(io.BytesIO(data))
    frames = [f.convert("RGB") for f in ImageSequence.Iterator(im)]
    assert len(frames) == 2 * 6 - 2 and im.info.get("loop") == 0
    assert frames[0].width >= 128  # 16 px images upscaled
    # frame k of the way back shows the same image as frame k forward
    assert np.abs(np.asarray(frames[1], dtype=int) - np.asarray(frames[-1], dtype=int)).max() <= 8
    durations = []
    for f in ImageSequence.Iterator(Image.open(io.BytesIO(data))):
        durations.append(f.info["duration"])
    assert durations[0] == GIF_END_MS and durations[5] == GIF_END_MS and durations[1] == GIF_FRAME_MS


def test_steps_png_is_a_png(run):
    G, D, paths = run
    assert steps_png(G, D, paths)[:4] == b"\x89PNG"


def test_outputs_and_summary_record_what_made_them(run, tmp_path):
    G, D, paths = run
    out = tmp_path / "new" / "p"
    files = check_outputs(out, paths)
    assert not (tmp_path / "new").exists()  # checked, nothing created yet
    summary = path_summary(G, D, paths, options={"points": 6}, endpoints={"from": {"seed": 3}}, files=files)
    write_outputs(out, G, D, paths, summary, files, frames=4)
    assert sorted(p.name for p in out.iterdir()) == sorted(files.values())
    s = json.loads((out / "summary.json").read_text())
    assert s["format"] == "ganmetric-paths/1" and s["model"] == "tiny-conv" and s["latent_dim"] == 4
    assert s["distance"] == "mse" and "model_options" in s and "distance_options" in s and "torch" in s["versions"]
    assert set(s["paths"]) == {"geodesic", "linear", "slerp"}
    geo = s["paths"]["geodesic"]
    assert geo["length"] == pytest.approx(paths["geodesic"].length, rel=1e-12)
    assert geo["converged"] in (True, False) and geo["iterations"] == paths["geodesic"].iterations
    assert s["length_ratios"]["geodesic/linear"] == pytest.approx(
        paths["geodesic"].length / paths["linear"].length, rel=1e-12)
    codes = np.load(out / "codes_geodesic.npy")
    np.testing.assert_array_equal(codes, paths["geodesic"].codes.numpy())  # bitwise: the codes copied to the file
    lines = report_lines(paths)
    assert lines[0].split()[:3] == ["method", "points", "length"] and "length ratios: geodesic / linear" in lines[-1]


def test_check_outputs_refuses_bad_frames_and_unwritable_folders(tmp_path):
    with pytest.raises(ganmetric.InputError, match="frames must be at least 2"):
        check_outputs(tmp_path / "x", ["linear"], frames=1)
    assert not (tmp_path / "x").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(ganmetric.InputError):
        check_outputs(tmp_path / "file", ["linear"])
