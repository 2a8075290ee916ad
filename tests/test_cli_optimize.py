"""``ganmetric optimize`` end to end on a tiny saved generator, with objectives written next to the user."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ganmetric_cli import optimize as optimize_cli
from ganmetric_cli.main import main
from helpers import TinyConvGenerator

OBJECTIVES = '''
import torch
CALLS = []

def brightness(images):
    return images.mean(dim=(1, 2, 3))

def flaky(images):
    CALLS.append(1)
    if len(CALLS) == 3:
        raise RuntimeError("sensor offline")
    return images.mean(dim=(1, 2, 3))
'''


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A traced 8-d, 8x8 generator, a module of objectives, and the generator's metric at one point."""
    d = tmp_path_factory.mktemp("opt")
    G = TinyConvGenerator(n=8, seed=2, res=8)
    torch.jit.save(torch.jit.trace(G, torch.zeros(2, 8)), str(d / "tiny.pt"))
    (d / "opt_scores_cli.py").write_text(OBJECTIVES)
    res = CliRunner().invoke(main, ["hessian", "--model", str(d / "tiny.pt"), "--latent-dim", "8", "--distance",
                                    "mse", "--seed", "1", "--quiet", "--out", str(d / "h.npz")])
    assert res.exit_code == 0, res.output
    return d


def _run(files, monkeypatch, *extra, out="out"):
    monkeypatch.chdir(files)
    return CliRunner().invoke(main, ["optimize", "--model", "tiny.pt", "--latent-dim", "8", "--quiet",
                                     "--out", str(files / out), *extra])


def test_runs_every_method_and_writes_every_file(files, monkeypatch):
    res = _run(files, monkeypatch, "--objective", "opt_scores_cli:brightness", "--hessian", "h.npz", "--top", "4",
               "--budget", "25", "--seeds", "2", "--seed", "3", out="full")
    assert res.exit_code == 0, res.output
    out = files / "full"
    for method in ("random", "cma", "hess-cma"):       # the default methods with a basis
        for seed in (3, 4):
            assert np.load(out / f"best_{method}_s{seed}.npy").shape == (8,)
            assert (out / f"best_{method}_s{seed}.png").stat().st_size > 0
            rows = list(csv.DictReader((out / f"trace_{method}_s{seed}.csv").open()))
            assert [int(r["scored"]) for r in rows] == [10, 10, 5]   # popsize 4 + floor(3 ln 8) = 10; the last cut
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == str(files / "tiny.pt") or summary["model"].endswith("tiny.pt")
    assert summary["objective"] == {"kind": "function", "spec": "opt_scores_cli:brightness"}
    assert summary["settings"]["basis"]["file"] == "h.npz" and summary["settings"]["basis"]["distance"] == "mse"
    assert summary["settings"]["seeds"] == [3, 4] and "cma" in summary["versions"]
    assert summary["stopped"] is None and sum(summary["wins"].values()) >= 2
    run = next(r for r in summary["runs"] if r["label"] == "cma" and r["seed"] == 4)
    best = np.load(out / "best_cma_s4.npy")
    with torch.no_grad():
        image = torch.jit.load(str(files / "tiny.pt"))(torch.as_tensor(best, dtype=torch.float32)[None])
    assert run["best_score"] == pytest.approx(float(image.mean()), abs=1e-6)
    table = list(csv.DictReader((out / "scores.csv").open()))
    assert len(table) == 18 and set(table[0]) >= {"method", "seed", "evaluations", "best_so_far", "mean"}
    assert "median best" in res.output and "wins" in res.output


def test_objective_error_is_one_line_and_keeps_what_it_had(files, monkeypatch):
    import importlib
    monkeypatch.chdir(files)
    importlib.import_module("opt_scores_cli").CALLS.clear()
    res = _run(files, monkeypatch, "--objective", "opt_scores_cli:flaky", "--method", "cma", "--budget", "40",
               "--seeds", "2", out="flaky")
    assert res.exit_code == 1
    assert res.output.strip().splitlines()[-1] == (
        f"Error: the objective opt_scores_cli:flaky raised RuntimeError: sensor offline; the run stopped, and what "
        f"it had is written in {files / 'flaky'}")
    summary = json.loads((files / "flaky" / "summary.json").read_text())
    assert summary["runs"][0]["evaluations"] == 20 and summary["stopped"].endswith("sensor offline")
    assert (files / "flaky" / "best_cma_s0.npy").exists() and (files / "flaky" / "curves.png").exists()


def test_ctrl_c_stops_after_the_generation_and_writes(files, monkeypatch):
    asked = []
    monkeypatch.setattr(optimize_cli.stop_on_sigint, "__enter__",
                        lambda self: lambda: asked.append(1) or len(asked) > 2)
    monkeypatch.setattr(optimize_cli.stop_on_sigint, "__exit__", lambda self, *exc: False)
    res = _run(files, monkeypatch, "--objective", "opt_scores_cli:brightness", "--method", "cma", "--budget", "40",
               out="stopped")
    assert res.exit_code == 130 and "Interrupted: 1 run(s) so far are written" in res.output
    rows = list(csv.DictReader((files / "stopped" / "trace_cma_s0.csv").open()))
    assert len(rows) == 1                              # the check before generation 1 ran it; the next ones stopped


@pytest.mark.parametrize("extra,message", [
    (["--objective", "no_module_here:f"], "Error: Invalid value for '--objective': cannot import module no_module_here"),
    (["--objective", "opt_scores_cli:brightness", "--method", "hess-cma", "--hessian", "h.npz", "--top", "9"],
     "Error: Invalid value for '--top': must be at most the latent size 8, got 9"),
    (["--objective", "opt_scores_cli:brightness", "--budget", "5"],
     "Error: Invalid value for '--budget': must be at least one population (10 codes per generation), got 5"),
    (["--objective", "opt_scores_cli:brightness", "--method", "hess-cma"], "Error: hess-cma needs a basis, --hessian"),
    (["--objective", "opt_scores_cli:brightness", "--method", "cma", "--hessian", "h.npz"],
     "and a basis is used only by hess-cma"),
    (["--objective", "opt_scores_cli:brightness", "--method", "cma,simplex"],
     "Error: Invalid value for '--method': expected a comma-separated list of random, cma, hess-cma, got cma,simplex"),
    (["--objective", "unit:torchvision:alexnet:conv9:0", "--objective-weights", "random"],
     "Error: Invalid value for '--objective': torchvision alexnet has no layer conv9; its layers are: features, "),
    (["--objective", "unit:torchvision:alexnet:features.0:0", "--distance", "mse"],
     "Error: --distance, --lpips-backbone and --resize apply to image: objectives only"),
    (["--objective", "opt_scores_cli:brightness", "--objective-weights", "random"],
     "Error: Invalid value for '--objective-weights': is used only by unit: objectives, not by opt_scores_cli"),
    (["--objective", "opt_scores_cli:brightness", "--init", "z"],
     "Error: Invalid value for '--init': --init z needs --z"),
    (["--objective", "opt_scores_cli:brightness", "--hessian", "h.npz", "--axes", "h.npz"],
     "Error: give one basis: --hessian or --axes"),
])
def test_bad_input_is_one_error_line_and_writes_nothing(files, monkeypatch, extra, message):
    res = _run(files, monkeypatch, *extra, out="bad")
    assert res.exit_code != 0
    assert message in res.output and "Traceback" not in res.output
    assert not (files / "bad").exists()


def test_basis_of_another_model_is_refused(files, monkeypatch, tmp_path):
    other = TinyConvGenerator(n=8, seed=5, res=8)
    torch.jit.save(torch.jit.trace(other, torch.zeros(2, 8)), str(files / "other.pt"))
    res = _run(files, monkeypatch, "--model", "other.pt", "--objective", "opt_scores_cli:brightness",
               "--hessian", "h.npz", "--top", "4", out="bad")
    assert res.exit_code == 2 and "Error: Invalid value for '--model': the basis h.npz was made with another model setting" in res.output
    assert not (files / "bad").exists()


def test_axes_basis_and_given_starting_codes(files, monkeypatch):
    import ganmetric
    ganmetric.export_axes(str(files / "h.npz"), top=5, out=files / "axes.npz")
    np.save(files / "starts.npy", np.stack([np.full(8, 0.1), np.full(8, -0.1)]).astype(np.float32))
    res = _run(files, monkeypatch, "--objective", "opt_scores_cli:brightness", "--method", "hess-cma", "--axes",
               "axes.npz", "--top", "5", "--eigval-power", "0", "--z", "starts.npy", "--seeds", "2", "--budget", "10",
               out="axes_run")
    assert res.exit_code == 0, res.output
    s = json.loads((files / "axes_run" / "summary.json").read_text())
    assert s["methods"][0]["basis_source"] == "axes file axes.npz" and s["methods"][0]["top"] == 5
    assert s["settings"]["init"] == "given (2 code(s))" and s["settings"]["basis"]["file"] == "axes.npz"
    res = _run(files, monkeypatch, "--objective", "opt_scores_cli:brightness", "--z", "starts.npy", "--init", "prior",
               out="bad")
    assert res.exit_code == 2 and "--init z needs --z FILE; --init prior takes no --z" in res.output
