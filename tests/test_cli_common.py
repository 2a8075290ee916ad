"""Exit statuses, decided in one place (ganmetric_cli.common.one_line_error): 2 for bad input in every command
(click's usage errors and ganmetric's InputError alike), 1 for a failure at run time, each one Error line.

Every seed flag of every command is one check (issue 21), refused before loading; code files."""
from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

import ganmetric
from ganmetric.errors import NotDeterministicError, ResultFileError, WeightsError
from ganmetric_cli.common import EXIT_BAD_INPUT, EXIT_FAILED, one_line_error
from ganmetric_cli.main import main
from helpers import one_error_line

DEMO = ("--model", "stylegan2-demo", "--distance", "mse")

#: one validation error per command that the library raises (InputError), each before any real work
BAD_INPUT = [
    (("hessian", "--model", "nope", "--out", "a.npz"), "Invalid --model 'nope'"),
    (("hessian", *DEMO, "--method", "forward-iter", "--eps", "0", "--out", "a.npz"), "Invalid value for --eps"),
    (("models", "fetch", "nope"), "Invalid model 'nope'"),
    (("models", "layers", "nope"), "Invalid model 'nope'"),
    (("batch", *DEMO, "--z", "missing.npy", "--out", "b"), "--z file not found"),
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
     "Invalid value for --objective"),
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


#: each command with a seed flag, with arguments that would fail later if the seed got through (missing files)
SEED_FLAGS = [
    (["hessian", "--seed"], "--seed"), (["batch", "--points", "2", "--out", "b", "--seed"], "--seed"),
    (["layers", "--points", "2", "--layers", "x", "--out", "l", "--seed"], "--seed"),
    (["axes", "apply", "--axes", "missing.npz", "--axis", "0", "--amount", "1", "--seed"], "--seed"),
    (["axes", "compare", "missing.npz", "--seed"], "--seed"),
    (["explore", "--axes", "missing.npz", "--seed"], "--seed"),
    (["explore", "--axes", "missing.npz", "--action-seeds", "0,1,"], "--action-seeds"),
    (["invert", "--image", "missing.png", "--seed"], "--seed"), (["compress", "--out", "c", "--seed"], "--seed"),
    (["optimize", "--objective", "x:y", "--seed"], "--seed"), (["path", "--from-seed", "0", "--to-seed"], "--to-seed"),
    (["hessian", "--model", "biggan-deep-128", "--reference-seed"], "--reference-seed"),
]


@pytest.mark.parametrize("bad", ["-1", "99999999999999999999", "9223372036854775808"])
@pytest.mark.parametrize("args, flag", SEED_FLAGS, ids=[" ".join(a[:2]) + " " + f for a, f in SEED_FLAGS])
def test_every_seed_flag_takes_only_0_to_2_63(tmp_path, monkeypatch, args, flag, bad):
    monkeypatch.chdir(tmp_path)
    if flag == "--action-seeds":
        args = args[:-1] + [args[-1] + bad]
    else:
        args = args + [bad]
    res = CliRunner().invoke(main, args)
    one_error_line(res, f"Invalid value for '{flag}': must be an integer in [0, 2**63), got {bad}"
                   if flag != "--action-seeds" else f"Invalid value for --action-seeds: must be an integer in "
                                                     f"[0, 2**63), got {bad}")
    assert res.exit_code == 2 and list(tmp_path.iterdir()) == []  # a usage error: nothing loaded or written


def test_seed_flags_take_the_whole_range():
    from ganmetric_cli.common import SEED
    assert [SEED.convert(v, None, None) for v in ("0", str(2**63 - 1), 5)] == [0, 2**63 - 1, 5]


def test_half_precision_code_files_are_refused_in_one_line(tmp_path):
    import numpy as np
    np.save(tmp_path / "z16.npy", np.ones((1, 100), np.float16))
    res = CliRunner().invoke(main, ["hessian", "--distance", "mse", "--z", str(tmp_path / "z16.npy"), "-q",
                                    "--out", str(tmp_path / "h.npz")])
    one_error_line(res, "--z z16.npy has dtype float16: codes must be float32 or float64 (or integers)")
    assert not (tmp_path / "h.npz").exists()


def test_code_files_are_npy_or_on_purpose_a_result_or_axis_file(tmp_path):
    """``--z face.npz`` (a result file) is accepted on purpose: its point z; an axis file gives its points;
    any other .npz of several arrays is refused instead of using whichever array comes first."""
    from types import SimpleNamespace

    import numpy as np

    import ganmetric
    from ganmetric_cli.common import read_codes
    from helpers import save_with
    z = np.linspace(-1, 1, 4)
    fake = SimpleNamespace(eigvals=np.array([2.0, 1.0]), eigvecs=np.eye(4)[:, :2], z=z, H=None, residuals=None)
    result = save_with(tmp_path / "face.npz", fake, model="dcgan-face", latent_space="z", distance="mse")
    np.testing.assert_array_equal(read_codes(result, 4), z[None])
    axes = ganmetric.export_axes(result, top=2, out=tmp_path / "axes.npz").path
    np.testing.assert_array_equal(read_codes(axes, 4), z[None])
    np.savez(tmp_path / "one.npz", codes=np.ones((3, 4)))
    assert read_codes(tmp_path / "one.npz", 4).shape == (3, 4)
    np.savez(tmp_path / "two.npz", eigvals=np.ones(4), codes=np.ones((3, 4)))
    with pytest.raises(ganmetric.InputError, match=r"^--z two.npz holds the arrays eigvals, codes: give a .npy of "
                                                   r"codes \(or an .npz of one array, a ganmetric result file or an "
                                                   r"axis file\)$"):
        read_codes(tmp_path / "two.npz", 4)
    help_text = " ".join(CliRunner().invoke(main, ["hessian", "--help"]).output.split())
    assert "A ganmetric result file (.npz) gives its point z, an axis file its points." in help_text
