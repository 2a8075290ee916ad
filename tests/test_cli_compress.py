"""``ganmetric compress``, in-process, on a user's small module loaded by name (basis: ``ganmetric hessian``)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

import ganmetric
from ganmetric_cli.compress import default_ks
from ganmetric_cli.main import main
from helpers import last_line_error
from helpers_models import user_layers_model  # noqa: F401  (fixture model: --model gm_layers_nets:make ...)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def result(model, tmp_path):  # noqa: F811
    res = run("hessian", *model, "--distance", "mse", "--dtype", "float64", "--out", tmp_path / "h.npz", "-q")
    assert res.exit_code == 0, res.output
    return tmp_path / "h.npz"


def test_compress_from_a_result_file(model, result, tmp_path):  # noqa: F811
    out = tmp_path / "c"
    res = run("compress", "--hessian", result, *model, "--samples", 8, "--ks", "1,3,6", "--random-bases", 2,
              "--dtype", "float64", "--out", out, "-q")
    assert res.exit_code == 0, res.output
    assert "distance mse;" in res.output                           # the distance the basis file records
    assert "eigen, fill none: mean distance below 10% of the k = 0 distance" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["codes_k1.npy", "codes_k3.npy", "codes_k6.npy", "curve.csv",
                                                      "curve.png", "montage.png", "summary.json"]
    with open(out / "curve.csv") as f:
        rows = list(csv.DictReader(f))
    k6 = [r for r in rows if r["k"] == "6" and r["fill"] == "none" and r["basis"] == "eigen"][0]
    assert float(k6["mean"]) == pytest.approx(0.0, abs=1e-20) and float(k6["kept_fraction"]) == pytest.approx(1.0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "gm_layers_nets:make" and summary["codes_seed"] == 0
    assert summary["center"] == "zero" and summary["random_bases"] == 2
    # the codes are the projections of G.sample(8, 0) onto the top 3 eigenvectors
    G = ganmetric.load_generator("gm_layers_nets:make", weights=str(tmp_path / "w.pt"), latent_dim=6,
                                 dtype="float64")
    U = ganmetric.load_result(result).eigvecs[:, :3]
    Z = G.sample(8, seed=0).numpy()
    np.testing.assert_allclose(np.load(out / "codes_k3.npy"), Z @ U @ U.T, rtol=1e-12, atol=1e-14)


def test_compress_with_other_bases_and_distances(model, result, tmp_path):  # noqa: F811
    ganmetric.export_axes(result, top=4, out=tmp_path / "ax.npz")
    res = run("compress", "--axes", tmp_path / "ax.npz", *model, "--samples", 3, "--ks", "2,4", "--center",
              "--distance", "layer:net.1", "--dtype", "float64", "--random-bases", 0, "--fill", "norm",
              "--out", tmp_path / "c1", "-q")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "c1" / "summary.json").read_text())
    assert summary["distance"] == "layer:net.1" and summary["center"] == "the metric's point"
    assert summary["fills"] == ["norm"] and list(summary["summary"]["smallest_k"]) == ["eigen"]
    np.save(tmp_path / "d.npy", np.eye(6)[:5])
    res = run("compress", *model, "--directions", tmp_path / "d.npy", "--distance", "mse", "--samples", 3,
              "--ks", "5", "--out", tmp_path / "c2", "-q")
    assert res.exit_code == 0, res.output
    assert "fill none:     k   kept          d" in res.output          # the file's stem names the basis


def test_default_ks():
    assert default_ks(100) == [1, 2, 5, 10, 20, 50, 100]
    assert default_ks(6) == [1, 2, 5, 6]
    assert default_ks(512) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 512]


def test_bad_input_is_one_line_and_writes_nothing(model, result, tmp_path):  # noqa: F811
    out = tmp_path / "c"
    base = ["compress", "--hessian", result, *model, "--samples", 2, "--out", out]
    last_line_error(run(*base, "--ks", "3,1"), "Invalid value for '--ks': must be distinct and ascending, got 3,1")
    last_line_error(run(*base, "--ks", "1,1"), "Invalid value for '--ks': must be distinct and ascending")
    last_line_error(run(*base, "--ks", "0,7"), "Invalid value for '--ks': must be at least 0 and at most 6, got 7")
    last_line_error(run(*base, "--ks", "a"), "expected comma-separated integers")
    last_line_error(run("compress", "--hessian", result, "--samples", 0, "--out", out), "--samples")
    last_line_error(run("compress", "--hessian", result, "--samples", 2, "--out", out),  # a file never names code
                    "the basis h.npz records the model gm_layers_nets:make (your own code, module.path:factory); "
                    "ganmetric rebuilds only pretrained models from a file's record: if you trust it, name it "
                    "yourself (--model gm_layers_nets:make, --weights ")
    last_line_error(run("compress", "--hessian", result, *model[:2], "--latent-dim", "6", "--samples", 2,
                        "--out", out), "the basis h.npz records weights from the file ")
    last_line_error(run(*base, "--random-bases", -1), "Invalid value for '--random-bases': must be at least 0")
    last_line_error(run(*base[:3], "--model", "dcgan-face", *base[9:]),
                    "the basis h.npz was made with another model setting: latent size 6 there, 100 here; "
                    "model gm_layers_nets:make there, dcgan-face here")
    last_line_error(run(*base, "--distance", "layer:nope"), "has no layer nope")
    last_line_error(run("compress", *model, "--directions", "sefa", "--distance", "mse", "--center", "--out", out),
                   "Invalid value for '--center': needs the point a metric was computed at")
    np.save(tmp_path / "d.npy", np.eye(7))
    last_line_error(run("compress", *model, "--directions", tmp_path / "d.npy", "--out", out), "must be (m, 6) rows")
    last_line_error(run("compress", *model, "--out", out), "give exactly one basis")
    assert not out.exists()
