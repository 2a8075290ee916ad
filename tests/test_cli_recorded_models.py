"""Issue 21, section 1, end to end: a result or axis file's record never decides what code runs.

Every consumer of a file (``axes apply``, ``explore``, ``view``, ``axes compare``, ``invert``,
``optimize`` and ``compress`` with a basis) is given files whose meta names a module that
creates a marker file when imported or called, ``os:abort``, or a crafted .pt2: none may import,
load or run anything, and each says in one line what to pass. Naming the model on the command
line loads it, as the user asked.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import ganmetric
from ganmetric.generators import model_meta
from ganmetric.io import read_npz_with_meta, save_npz_with_meta
from ganmetric_cli.main import main
from helpers import one_error_line, save_with, subprocess_env

#: imported, it creates MARKER_IMPORT; called, MARKER_CALL (beside the module)
MARKER_NETS = textwrap.dedent('''
    from pathlib import Path
    from torch import nn

    HERE = Path(__file__).resolve().parent
    (HERE / "MARKER_IMPORT").write_text("imported")


    def make():
        (HERE / "MARKER_CALL").write_text("called")
        torch_net = nn.Sequential(nn.Linear(4, 12, bias=False), nn.Tanh(), nn.Unflatten(1, (3, 2, 2)))
        torch_net.latent_dim = 4
        return torch_net
''')


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _markers(folder):
    return sorted(p.name for p in folder.glob("MARKER_*"))


def _with_model(src, dst, model):
    """Copy a result or axis file with ``meta.model`` replaced (what a shared, edited file would say)."""
    arrays, meta = read_npz_with_meta(src, kind="ganmetric", required=("meta",), format_prefix="ganmetric-")
    arrays.pop("meta")
    meta["model"] = model
    save_npz_with_meta(dst, arrays, meta)
    return dst


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A result and an axis file made with ``gm_marker_nets:make``, plus copies recording other models."""
    (tmp_path / "gm_marker_nets.py").write_text(MARKER_NETS)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(ganmetric.errors.UntrainedWeightsWarning):
        G = ganmetric.load_generator("gm_marker_nets:make")
    assert _markers(tmp_path) == ["MARKER_CALL", "MARKER_IMPORT"]  # the module is live
    for marker in tmp_path.glob("MARKER_*"):
        marker.unlink()
    sys.modules.pop("gm_marker_nets", None)  # the next import would run the module again
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((4, 4)))[0]
    vals = np.array([1.0, 0.5, 0.2, 0.1])
    fake = SimpleNamespace(eigvals=vals, eigvecs=Q, z=np.ones(4) / 2, H=(Q * vals) @ Q.T, residuals=None)
    result = save_with(tmp_path / "r.npz", fake, **model_meta(G), distance="mse", distance_options={})
    axes = ganmetric.export_axes(result, top=2, out=tmp_path / "a.npz").path
    Image.new("RGB", (2, 2)).save(tmp_path / "target.png")
    yield SimpleNamespace(folder=tmp_path, result=result, axes=axes)
    sys.modules.pop("gm_marker_nets", None)


def _commands(result, axes, folder):
    """Every command that reads a model from a file, with the rest of its arguments valid."""
    return {
        "axes apply": ["axes", "apply", "--axes", axes, "--axis", 0, "--amount", 1, "--out", folder / "o.png"],
        "explore": ["explore", "--axes", axes, "--out", folder / "g.png", "-q"],
        "axes compare": ["axes", "compare", result, "--k", 2, "--n-directions", 2, "--out", folder / "c.csv", "-q"],
        "invert": ["invert", "--image", folder / "target.png", "--hessian", result, "--distance", "mse",
                   "--out", folder / "inv", "-q"],
        "optimize": ["optimize", "--objective", "unit:torchvision:alexnet:features.10:3", "--method", "hess-cma",
                     "--axes", axes, "--out", folder / "opt", "-q"],
        "compress": ["compress", "--axes", axes, "--out", folder / "cmp", "-q"],
        "view --axes": ["view", "--axes", axes, "--port", 0],
        "view --hessian": ["view", "--hessian", result, "--port", 0],
    }


def _viewer_or_skip(name):
    if name.startswith("view"):
        pytest.importorskip("fastapi")


@pytest.mark.parametrize("command", ["axes apply", "explore", "axes compare", "invert", "optimize", "compress",
                                     "view --axes", "view --hessian"])
def test_a_recorded_module_is_never_imported(files, command):
    _viewer_or_skip(command)
    args = _commands(files.result, files.axes, files.folder)[command]
    res = run(*args)
    one_error_line(res, "records the model gm_marker_nets:make (your own code, module.path:factory); ganmetric "
                        "rebuilds only pretrained models from a file's record: if you trust it, name it yourself "
                        "(--model gm_marker_nets:make)")
    assert res.exit_code == 2  # bad input (ganmetric_cli.errors.one_line_error)
    assert _markers(files.folder) == [] and "gm_marker_nets" not in sys.modules


@pytest.mark.parametrize("command", ["axes apply", "explore", "invert", "compress", "view --hessian"])
def test_a_recorded_program_file_is_never_opened(files, command, tmp_path):
    """The recorded path is a crafted .pt2 whose loading would create a marker: the record is refused before
    the file is opened (the message is the record's, not the archive check's)."""
    _viewer_or_skip(command)
    evil = files.folder / "evil.pt2"
    evil.write_bytes(b"PK\x03\x04 not even read")
    result = _with_model(files.result, files.folder / "r_pt2.npz", str(evil))
    axes = _with_model(files.axes, files.folder / "a_pt2.npz", str(evil))
    res = run(*_commands(result, axes, files.folder)[command])
    one_error_line(res, f"records the model {evil} (a saved program file); ganmetric rebuilds only pretrained models")


@pytest.mark.parametrize("model, kind", [("other-config.json", "a config file"),
                                         ("hf://someone/gan", "not a pretrained model here"),
                                         ("nvidia-gan.pkl", "not a pretrained model here")])
def test_any_other_recorded_model_kind_needs_naming(files, model, kind):
    """The rule is an allow-list of registry names: kinds added later are covered without being known."""
    axes = _with_model(files.axes, files.folder / "a_other.npz", model)
    res = run("axes", "apply", "--axes", axes, "--axis", 0, "--amount", 1, "--out", files.folder / "o.png")
    one_error_line(res, f"records the model {model} ({kind}")


def test_naming_the_model_loads_it_and_checks_it(files):
    res = run("axes", "apply", "--axes", files.axes, "--model", "gm_marker_nets:make", "--axis", 0, "--amount", 1,
              "--out", files.folder / "o.png")
    assert res.exit_code == 0, res.output
    assert _markers(files.folder) == ["MARKER_CALL", "MARKER_IMPORT"]  # the user asked for it
    edited = np.load(files.folder / "o.npy")
    ax = ganmetric.load_axes(files.axes)
    np.testing.assert_allclose(edited, ax.points + ax.axes[0], rtol=1e-12)  # the source point moved along axis 0
    res = run("axes", "apply", "--axes", files.axes, "--model", "dcgan-face", "--axis", 0, "--amount", 1,
              "--out", files.folder / "o2.png")
    one_error_line(res, "the axis file a.npz was made with another model setting: latent size 4 there, 100 here")


def test_a_recorded_weights_file_needs_naming(files):
    """A user's weights file in the record is loaded only when the user passes it, and then by sha256."""
    with pytest.warns(ganmetric.errors.UntrainedWeightsWarning):
        net = ganmetric.load_generator("gm_marker_nets:make").net
    torch.save(net.state_dict(), files.folder / "w.pt")
    G = ganmetric.load_generator("gm_marker_nets:make", weights=str(files.folder / "w.pt"))
    meta = {**json.loads(str(np.load(files.axes)["meta"])), **model_meta(G)}
    arrays = {k: np.load(files.axes)[k] for k in ("axes", "eigvals", "points")}
    save_npz_with_meta(files.folder / "aw.npz", arrays, meta)
    args = ["axes", "apply", "--axes", files.folder / "aw.npz", "--model", "gm_marker_nets:make", "--axis", 0,
            "--amount", 1, "--out", files.folder / "o.png"]
    one_error_line(run(*args), f"the axis file aw.npz records weights from the file {files.folder / 'w.pt'} (sha256 ")
    torch.save({k: v + 1 for k, v in net.state_dict().items()}, files.folder / "other.pt")
    one_error_line(run(*args, "--weights", files.folder / "other.pt"), "weights file ")
    assert run(*args, "--weights", files.folder / "w.pt").exit_code == 0


#: the CLI's entry point run once per argument (an axis file), each run's exit status and stderr reported
FRESH = r"""
import contextlib, io, json, sys
from ganmetric_cli.main import main
report = []
for axes in sys.argv[2:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            main(["axes", "apply", "--axes", axes, "--axis", "0", "--amount", "1", "--out", sys.argv[1]])
            code = 0
        except SystemExit as e:
            code = e.code
    report.append([code, err.getvalue()])
print(json.dumps(report))
"""


@pytest.mark.slow  # a fresh process: about 4 s
def test_in_a_fresh_process_nothing_is_imported_or_aborted(files):
    """The brief's own cases, in a fresh process (``helpers`` and ``os:abort`` are not imported yet, the
    current folder first on sys.path): ``helpers.py`` in the current folder, and ``os:abort``, one after
    the other (an abort would end the process)."""
    (files.folder / "helpers.py").write_text(MARKER_NETS)
    models = ["helpers:make", "os:abort"]
    axes = [str(_with_model(files.axes, files.folder / f"a_sub{i}.npz", m)) for i, m in enumerate(models)]
    proc = subprocess.run([sys.executable, "-c", FRESH, str(files.folder / "o.png"), *axes], cwd=files.folder,
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for i, (model, (code, err)) in enumerate(zip(models, json.loads(proc.stdout.strip().splitlines()[-1]))):
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1, (model, err)
        assert lines[0].startswith(f"Error: the axis file a_sub{i}.npz records the model {model} (your own code"), err
    assert _markers(files.folder) == [] and not (files.folder / "o.png").exists()
