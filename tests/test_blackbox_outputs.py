"""write_outputs: every file a comparison promises, matching its runs, also for a comparison stopped early."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganmetric
from ganmetric.blackbox import OUTPUTS, compare, prepare_optimization, run_files, write_outputs
from ganmetric.blackbox.outputs import check_folder
from helpers import TinyConvGenerator


@pytest.fixture(scope="module")
def G():
    return TinyConvGenerator(n=6, seed=3, res=8)


def _brightness(x):
    return x.mean(dim=(1, 2, 3))


def test_files_match_the_runs(G, tmp_path):
    cmp = compare(G, _brightness, ["random", "cma"], seeds=2, budget=20)
    written = write_outputs(cmp, tmp_path / "a" / "b")
    out = tmp_path / "a" / "b"
    assert set(OUTPUTS.values()) <= set(written)
    for run in cmp.runs:
        names = run_files(run.label, run.seed)
        np.testing.assert_allclose(np.load(out / names["code"]), run.z.numpy(), atol=0)
        assert Image.open(out / names["image"]).size == (8, 8)
        rows = list(csv.DictReader((out / names["trace"]).open()))
        np.testing.assert_allclose([float(r["best_so_far"]) for r in rows], run.trace["best_so_far"], rtol=1e-8)
        np.testing.assert_allclose([float(r["mean"]) for r in rows], run.trace["mean"], rtol=1e-8)
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert len(rows) == sum(len(r.trace["generation"]) for r in cmp.runs)
    assert [r["sigma"] for r in rows if r["method"] == "random"] == [""] * 6   # 9 + 9 + 2 per seed; random has no step
    s = json.loads((out / "summary.json").read_text())
    assert s["model"] == "tiny-conv" and s["latent_dim"] == 6 and s["versions"]["cma"]
    assert s["median"]["cma"] == pytest.approx(cmp.medians()["cma"])
    assert s["final_best"]["random"]["1"] == pytest.approx(cmp.run("random", 1).score)
    for name in ("curves.png", "best_montage.png"):
        assert Image.open(out / name).format == "PNG"


def test_a_stopped_comparison_writes_what_it_has(G, tmp_path):
    asked = []
    cmp = compare(G, _brightness, ["random", "cma"], seeds=2, budget=20, stop=lambda: asked.append(1) or len(asked) > 4)
    assert cmp.stopped == "interrupted"
    write_outputs(cmp, tmp_path)
    s = json.loads((tmp_path / "summary.json").read_text())
    # asked before each arm and each generation: random seed 0 ran its 3 generations, cma never started
    assert s["stopped"] == "interrupted" and s["complete_seeds"] == [] and s["median"]["cma"] is None
    assert [(r["label"], r["seed"], r["evaluations"]) for r in s["runs"]] == [("random", 0, 20)]
    assert not (tmp_path / "best_cma_s1.npy").exists()


def test_check_folder_refuses_a_file(G, tmp_path):
    plan = prepare_optimization(G, _brightness, ["cma"], budget=9)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ganmetric.InputError, match="is a file; optimize writes a folder"):
        check_folder(plan, tmp_path / "f")


def test_a_comparison_that_scored_nothing_still_writes_its_files(G, tmp_path):
    cmp = compare(G, lambda x: torch.full((x.shape[0],), float("nan")), ["cma"], seeds=1, budget=9)
    assert cmp.stopped.endswith("returned NaN for 9 of 9 images (first at index 0); scores must be finite")
    write_outputs(cmp, tmp_path)
    assert not (tmp_path / "best_cma_s0.npy").exists()
    assert (tmp_path / "trace_cma_s0.csv").read_text().count("\n") == 1          # the header alone
    assert Image.open(tmp_path / "curves.png").format == "PNG"
    assert json.loads((tmp_path / "summary.json").read_text())["runs"][0]["evaluations"] == 0
