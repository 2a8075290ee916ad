"""``ganmetric models layers`` and ``ganmetric layers``, in-process on a user's small module loaded by name."""
from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from ganmetric_cli.main import main
from helpers import last_line_error
from helpers_models import user_layers_model  # noqa: F401  (fixture model: --model gm_layers_nets:make ...)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_models_layers_lists_names_types_shapes(model):
    res = run("models", "layers", "gm_layers_nets:make", "--weights", model[3], "--latent-dim", 6)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split() == ["name", "type", "output", "shape", "usable"]
    assert lines[1].split() == ["net", "Sequential", "1x3x8x8", "yes"]
    assert lines[3].split() == ["net.1", "Tanh", "1x32", "yes"]
    assert lines[-1] == "6 of 6 submodules usable as layer:NAME"


@pytest.mark.slow
def test_layers_run_resume_and_refusals(model, tmp_path):
    out = tmp_path / "run"
    base = ["layers", *model, "--distance", "mse", "--dtype", "float64", "--points", 2, "--method", "jacobian",
            "-q", "--out", out]
    res = run(*base, "--layers", "net.3,net.1")
    assert res.exit_code == 0, res.output
    assert "random subspaces (k/n)" in res.output and "method jacobian" in res.output
    with open(out / "layers.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["layer"] for r in rows] == ["net.1", "net.3", "image"]
    assert float(rows[1]["align_k6"]) == pytest.approx(1.0, abs=1e-9)    # Unflatten keeps the elements: mse
    assert rows[0]["align_k6_random"] == "1.0"
    assert json.loads((out / "layers.json").read_text())["layers"] == ["net.1", "net.3"]
    for name in ("layers_spectra.png", "layers_summary.png", "run.json", "image/manifest.json",
                 "layer_net.1/point_00001.npz"):
        assert (out / name).exists(), name
    before = sorted(out.rglob("*"))
    last_line_error(run(*base, "--layers", "net.1"), f"{out} holds a layers run with other settings (layers: directory "
                                                     f"has [\"net.1\", \"net.3\"], this run [\"net.1\"])")
    last_line_error(run(*base, "--layers", "net.1", "--method", "bp"), "method: directory has \"jacobian\"")
    assert sorted(out.rglob("*")) == before


def test_bad_layer_names_are_one_line_and_write_nothing(model, tmp_path):
    base = ["layers", *model, "--distance", "mse", "--points", 2, "-q", "--out", tmp_path / "r"]
    last_line_error(run(*base, "--layers", "net.7"), "Invalid value for '--layers': gm_layers_nets:make has no layer "
                                                    "net.7; near matches: net.4, net.3")
    last_line_error(run(*base, "--layers", "net.1,net.1"),
                   "Invalid value for '--layers': must name each layer once, got net.1 twice")
    last_line_error(run("layers", *model, "--distance", "layer:net.1", "--points", 2, "--out", tmp_path / "r"),
                   "D is the image distance the layers are compared with")
    last_line_error(run(*base[:-2], "--points", 0, "--out", tmp_path / "r"), "--points")
    assert not (tmp_path / "r").exists()


def test_distance_layer_on_the_hessian_and_batch_commands(model, tmp_path):
    res = run("hessian", *model, "--distance", "layer:net.1", "--dtype", "float64", "--out", tmp_path / "h.npz", "-q")
    assert res.exit_code == 0, res.output
    assert "distance layer:net.1 " in res.output
    import ganmetric
    saved = ganmetric.load_result(tmp_path / "h.npz")
    assert saved.meta["distance"] == "layer:net.1" and saved.meta["distance_options"] == {"layers": ["net.1"]}
    last_line_error(run("batch", *model, "--distance", "layer:net.9", "--points", 2, "--out", tmp_path / "b"),
                   "Invalid value for '--distance': gm_layers_nets:make has no layer net.9")
    last_line_error(run("hessian", *model, "--distance", "layer:net.9", "--out", tmp_path / "h2.npz"),
                   "has no layer net.9")
    assert not (tmp_path / "b").exists() and not (tmp_path / "h2.npz").exists()
    last_line_error(run("hessian", *model, "--distance", "layer:net.1", "--lpips-backbone", "random",
                       "--out", tmp_path / "h3.npz"),
                   "applies to lpips-alex, lpips-vgg, lpips-squeeze only, not layer:net.1")
