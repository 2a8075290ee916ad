"""ganmetric_cli/errors.py: exit statuses, decided in one place (one_line_error): 2 for bad input in every command
(click's usage errors and ganmetric's InputError alike), 1 for a failure at run time, each one Error line."""
from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

import ganmetric
from ganmetric.errors import NotDeterministicError, ResultFileError, WeightsError
from ganmetric_cli.errors import EXIT_BAD_INPUT, EXIT_FAILED, one_line_error
from ganmetric_cli.main import main
from helpers import one_error_line

DEMO = ("--model", "stylegan2-demo", "--distance", "mse")

#: one validation error per command that the library raises (InputError), each before any real work
BAD_INPUT = [
    (("hessian", "--model", "nope", "--out", "a.npz"), "Invalid value for '--model': 'nope' is not one of {"),
    (("hessian", *DEMO, "--method", "forward-iter", "--eps", "0", "--out", "a.npz"),
     "Invalid value for '--eps': must be a finite number > 0, got 0"),
    (("models", "fetch", "nope"), "Invalid value for 'NAME': model 'nope' is not one of {"),
    (("models", "layers", "nope"), "Invalid value for 'MODEL': 'nope' is not one of {"),
    (("batch", *DEMO, "--z", "missing.npy", "--out", "b"), "Invalid value for '--z': file not found: missing.npy"),
    (("spectrum", "missing"), "no such result file or directory"),
    (("homogeneity", "missing"), "no such result file or directory"),
    (("average", "missing"), "no such result file or directory"),
    (("compare", "missing1.npz", "missing2.npz"), "result file not found"),
    (("axes", "export", "missing.npz", "--out", "ax.npz"), "result file not found"),
    (("axes", "apply", "--axes", "missing.npz", "--axis", "0", "--amount", "1", "--out", "x.png"),
     "axis file not found"),
    (("axes", "compare", "missing.npz", "--methods", "sefa", "--out", "c.csv"), "result file not found"),
    (("explore", "--axes", "missing.npz", "--out", "e.txt"), "its name must end in .png"),
    (("invert", *DEMO, "--image", "missing.png", "--out", "i"), "image file not found"),
    (("view", "--axes", "missing.npz"), "axis file not found"),
    (("optimize", "--model", "stylegan2-demo", "--objective", "nope_module:f", "--out", "o"),
     "Invalid value for '--objective': cannot import module nope_module"),
    (("layers", *DEMO, "--z", "missing.npy", "--out", "l"), "missing.npy"),
    (("compress", *DEMO, "--axes", "missing.npz", "--out", "c"), "missing.npz"),
    (("path", *DEMO, "--measure", "missing.npz", "--out", "p"), "missing.npz"),
]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _one_error(res, match: str, code: int):
    assert res.exit_code == code, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1 and match in errors[0] and "Traceback" not in res.output, res.output
    assert lines[-1] == errors[0]


@pytest.mark.parametrize("args, match", BAD_INPUT, ids=[" ".join(a[:2]) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_in_every_command(args, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_error(run(*args), match, EXIT_BAD_INPUT)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("args, match", [
    (("batch", *DEMO, "--points", "2", "--z", "z.npy", "--out", "b"), "exactly one of --points"),
    (("hessian", "--method", "nope"), "Invalid value for '--method'"),
    (("hessian", "--no-such-flag"), "No such option"),
])
def test_click_usage_errors_exit_2_too(args, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run(*args)
    assert res.exit_code == EXIT_BAD_INPUT and match in res.output and "Traceback" not in res.output, res.output


NOISY = '''
import torch
from ganmetric.generators.base import Generator


class Noisy(Generator):
    """A different image every call: not a function of z."""

    def __init__(self):
        super().__init__(name="noisy", latent_dim=4, resolution=8)
        self.freeze()

    def _generate(self, z):
        return torch.tanh(z.sum(dim=1).reshape(-1, 1, 1, 1) + torch.rand(z.shape[0], 1, 8, 8, dtype=z.dtype))


def make():
    return Noisy()
'''


def test_a_failure_at_run_time_exits_1(tmp_path, monkeypatch):
    (tmp_path / "noisy_gen.py").write_text(NOISY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "noisy_gen", raising=False)
    res = run("hessian", "--model", "noisy_gen:make", "--distance", "mse", "--out", "h.npz", "-q")
    _one_error(res, "two evaluations of the same code differ", EXIT_FAILED)
    assert not (tmp_path / "h.npz").exists()


@pytest.mark.parametrize("exc, code", [
    (ganmetric.InputError("x"), EXIT_BAD_INPUT), (ResultFileError("x"), EXIT_BAD_INPUT),
    (FileNotFoundError("x"), EXIT_BAD_INPUT), (PermissionError("x"), EXIT_BAD_INPUT),
    (WeightsError("x"), EXIT_FAILED), (NotDeterministicError("x"), EXIT_FAILED),
    (ganmetric.errors.GanmetricError("x"), EXIT_FAILED),
])
def test_one_place_decides_the_status(exc, code):
    assert one_line_error("x", exc).exit_code == code
