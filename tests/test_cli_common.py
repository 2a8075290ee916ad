"""cli/ganmetric_cli/common.py: every seed flag of every command is one check (issue 21), refused before loading."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from ganmetric_cli.main import main
from helpers import one_error_line

#: each command with a seed flag, with arguments that would fail later if the seed got through (missing files)
SEED_FLAGS = [
    (["hessian", "--seed"], "--seed"), (["batch", "--points", "2", "--out", "b", "--seed"], "--seed"),
    (["layers", "--points", "2", "--layers", "x", "--out", "l", "--seed"], "--seed"),
    (["axes", "apply", "--axes", "missing.npz", "--axis", "0", "--amount", "1", "--seed"], "--seed"),
    (["axes", "compare", "missing.npz", "--seed"], "--seed"), (["explore", "--axes", "missing.npz", "--seed"], "--seed"),
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
