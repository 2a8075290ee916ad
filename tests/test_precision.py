"""precision: TF32 off (and deterministic cuDNN) inside every metric computation, the caller's settings restored,
the settings in effect recorded in the result, ``allow_tf32`` recorded and compared on resume.

The flags are process-wide torch settings that exist on CPU-only builds too, so the test reads
them from inside a generator's forward during ``metric_tensor``: that is what a GPU's kernels see.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric import precision
from ganmetric.errors import InputError
from ganmetric_cli.main import main as cli
from helpers import LinearGenerator, one_error_line

EXACT = {"cuda.matmul": "ieee", "cudnn.conv": "ieee", "mkldnn.matmul": "ieee", "mkldnn.conv": "ieee",
         "cudnn.deterministic": True, "cudnn.benchmark": False}


class SpyGenerator(LinearGenerator):
    """G(z) = A z, recording the precision settings (and the legacy TF32 flags) its forward runs under."""

    def __init__(self, A):
        super().__init__(A)
        self.seen = []

    def _generate(self, z):
        self.seen.append({**precision.current(), "legacy cudnn": torch.backends.cudnn.allow_tf32,
                          "legacy matmul": torch.backends.cuda.matmul.allow_tf32})
        return super()._generate(z)


@pytest.fixture
def user_tf32():
    """The user turned TF32 on globally (both interfaces) and cuDNN benchmarking; restored after the test."""
    saved = precision._read()
    torch.backends.cudnn.allow_tf32 = True
    torch.set_float32_matmul_precision("high")  # cuda.matmul and oneDNN matmul -> tf32
    torch.backends.cudnn.benchmark = True
    yield precision._read()
    precision._apply(*saved)


def G_spy(seed=0):
    A = torch.randn(16, 4, generator=torch.Generator(device="cpu").manual_seed(seed), dtype=torch.float64)
    return SpyGenerator(A)


@pytest.mark.parametrize("method, k", [("jacobian", None), ("gn-lanczos", 2), ("fwd-over-rev", 2), ("bp", None),
                                       ("backward-iter", 2), ("forward-iter", 2)])
def test_every_method_runs_its_products_in_exact_float32_and_restores_the_callers_settings(user_tf32, method, k):
    G = G_spy()
    mse = ganmetric.load_distance("mse", dtype="float64")
    res = ganmetric.metric_tensor(G, mse, torch.ones(4, dtype=torch.float64), method=method, k=k)
    assert G.seen, "the generator ran"
    for seen in G.seen:
        assert {key: seen[key] for key in EXACT} == EXACT
        assert seen["legacy cudnn"] is False and seen["legacy matmul"] is False  # readable, and agreeing
    assert precision._read() == user_tf32  # restored: the new and the legacy interface
    assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32 is True
    assert res.meta["float32_precision"] == EXACT and res.options["allow_tf32"] is False


def test_allow_tf32_switches_cuda_to_tf32_only_and_is_recorded_in_the_file(tmp_path, user_tf32):
    G = G_spy()
    mse = ganmetric.load_distance("mse", dtype="float64")
    res = ganmetric.metric_tensor(G, mse, torch.ones(4, dtype=torch.float64), method="jacobian", allow_tf32=True)
    want = {**EXACT, "cuda.matmul": "tf32", "cudnn.conv": "tf32"}  # the CPU's oneDNN stays exact
    assert all({key: seen[key] for key in want} == want for seen in G.seen)
    assert G.seen[0]["legacy cudnn"] is True and G.seen[0]["legacy matmul"] is True
    assert precision._read() == user_tf32
    loaded = ganmetric.load_result(res.save(tmp_path / "r.npz").path)
    assert loaded.options["allow_tf32"] is True and loaded.meta["float32_precision"] == want


def test_settings_are_restored_after_an_error_and_nested_uses_restore_the_enclosing_ones(user_tf32):
    with pytest.raises(RuntimeError, match="boom"):
        with precision.float32_precision():
            raise RuntimeError("boom")
    assert precision._read() == user_tf32
    with precision.float32_precision() as outer:
        with precision.float32_precision(allow_tf32=True) as inner:
            assert precision.current() == inner and inner["cudnn.conv"] == "tf32"
        assert precision.current() == outer == EXACT
    assert precision._read() == user_tf32


def test_a_flag_the_user_left_unreadable_is_left_alone():
    """Mixing torch's two interfaces makes the legacy getter raise; the context neither fixes nor breaks that."""
    saved = precision._read()
    try:
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.conv.fp32_precision = "ieee"  # conv and rnn now disagree: the legacy getter raises
        with pytest.raises(RuntimeError):
            torch.backends.cudnn.allow_tf32
        before = precision._read()
        assert before[1]["cudnn"] is None
        with precision.float32_precision():
            assert precision.current() == EXACT
        assert precision._read() == before
    finally:
        precision._apply(*saved)


def test_allow_tf32_must_be_a_bool():
    with pytest.raises(InputError, match="allow_tf32 must be True or False, got 1") as info:
        ganmetric.metric_tensor(G_spy(), ganmetric.load_distance("mse", dtype="float64"), torch.ones(4), allow_tf32=1)
    assert info.value.argument == "allow_tf32"


def test_exact_float32_decorates_an_entry_point(user_tf32):
    @precision.exact_float32
    def inside():
        return precision.current()

    assert inside() == EXACT and precision._read() == user_tf32


def test_a_batch_made_with_allow_tf32_is_not_resumed_without_it(tmp_path):
    G, D = G_spy(), ganmetric.load_distance("mse", dtype="float64")
    codes = np.ones((2, 4))
    ganmetric.batch_metric(G, D, codes, tmp_path / "b", method="jacobian", allow_tf32=True)
    res = ganmetric.load_result(tmp_path / "b" / "point_00000.npz")
    assert res.options["allow_tf32"] is True and res.meta["batch"]["solver"]["allow_tf32"] is True
    with pytest.raises(InputError, match="solver.allow_tf32: directory has true, this run null"):
        ganmetric.batch_metric(G, D, codes, tmp_path / "b", method="jacobian")
    # without the option the identity is what it was before the option existed: old folders resume
    ganmetric.batch_metric(G, D, codes, tmp_path / "c", method="jacobian")
    assert "allow_tf32" not in ganmetric.load_result(tmp_path / "c" / "point_00000.npz").meta["batch"]["solver"]


def test_cli_allow_tf32_is_recorded_and_its_help_states_the_tolerance(tmp_path):
    out = tmp_path / "h.npz"
    res = CliRunner().invoke(cli, ["hessian", "--model", "stylegan2-demo", "--distance", "mse",
                                   "--method", "gn-lanczos", "--k", "2", "--max-iter", "8", "--allow-tf32",
                                   "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    loaded = ganmetric.load_result(out)
    assert loaded.options["allow_tf32"] is True and loaded.meta["float32_precision"]["cudnn.conv"] == "tf32"
    help_text = " ".join(CliRunner().invoke(cli, ["hessian", "--help"]).output.split())
    assert "--allow-tf32" in help_text and "1e-3 relative error" in help_text


def test_cli_allow_tf32_takes_no_value(tmp_path):
    res = CliRunner().invoke(cli, ["hessian", "--model", "dcgan-face", "--allow-tf32", "yes", "--out",
                                   str(tmp_path / "h.npz")])
    one_error_line(res, "yes")


@pytest.mark.filterwarnings("ignore")  # tiny budgets: not converged, on purpose
def test_every_workflow_that_runs_the_generator_for_results_runs_it_in_exact_float32(user_tf32):
    G, D = G_spy(), ganmetric.load_distance("mse", dtype="float64")
    z = torch.ones(4, dtype=torch.float64)
    res = ganmetric.metric_tensor(G, D, z, method="jacobian")
    with torch.no_grad():
        target = G(2 * z[None])[0].tanh()  # an image in [-1, 1]
    axes = ganmetric.export_axes(res, top=2)
    runs = {
        "path_length": lambda: ganmetric.path_length(G, D, ganmetric.linear_path(z, 2 * z, 3)),
        "geodesic": lambda: ganmetric.geodesic(G, D, z, 2 * z, points=3, max_iter=2),
        "compare_paths": lambda: ganmetric.paths.compare_paths(G, D, z, 2 * z, points=3, max_iter=2),
        "invert": lambda: ganmetric.invert(G, target, D, steps=2, restarts=1),
        "compress": lambda: ganmetric.analysis.compress(G, D, res, G.sample(3, seed=0), [1], random_bases=0,
                                                        montage_samples=1),
        "explore": lambda: ganmetric.axes.explore(G, z, axes, indices=[0], D=D, steps=3, calibrate=0.01, curves=True,
                                                  curve_points=3),
        "optimize": lambda: ganmetric.optimize(G, lambda x: -x.pow(2).flatten(1).sum(1), "cma", budget=8, seed=0),
    }
    for name, run in runs.items():
        G.seen.clear()
        run()
        assert G.seen and all({key: s[key] for key in EXACT} == EXACT for s in G.seen), name
    assert precision._read() == user_tf32


def test_a_torch_without_the_per_operator_settings_gets_the_legacy_flags(monkeypatch):
    """torch before 2.9 has only ``allow_tf32``: those are set, and restored."""
    monkeypatch.setattr(precision, "_backend", lambda name: None)
    saved = precision._read()
    try:
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cuda.matmul.allow_tf32 = True
        with precision.float32_precision() as used:
            assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
            assert used == EXACT  # what runs: the legacy flags say the same
        assert torch.backends.cudnn.allow_tf32 is True and torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        monkeypatch.undo()
        precision._apply(*saved)
