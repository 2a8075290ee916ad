"""ganmetric_cli/codes.py: the files every --z-like flag takes, read and checked in one place."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from ganmetric_cli.codes import read_codes
from ganmetric_cli.main import main
from helpers import one_error_line


def test_half_precision_code_files_are_refused_in_one_line(tmp_path):
    import numpy as np
    np.save(tmp_path / "z16.npy", np.ones((1, 100), np.float16))
    res = CliRunner().invoke(main, ["hessian", "--distance", "mse", "--z", str(tmp_path / "z16.npy"), "-q",
                                    "--out", str(tmp_path / "h.npz")])
    one_error_line(res, "Invalid value for '--z': z16.npy has dtype float16: codes must be float32 or float64 (or "
                        "integers)")
    assert not (tmp_path / "h.npz").exists()


def test_code_files_are_npy_or_on_purpose_a_result_or_axis_file(tmp_path):
    """``--z face.npz`` (a result file) is accepted on purpose: its point z; an axis file gives its points;
    any other .npz of several arrays is refused instead of using whichever array comes first."""
    from types import SimpleNamespace

    import numpy as np

    import ganmetric
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
    with pytest.raises(ganmetric.InputError, match=r"^two.npz holds the arrays eigvals, codes: give a .npy of "
                                                   r"codes \(or an .npz of one array, a ganmetric result file or an "
                                                   r"axis file\)$") as info:
        read_codes(tmp_path / "two.npz", 4)
    assert info.value.argument == "z_file"  # the command's parameter: its errors name the flag
    help_text = " ".join(CliRunner().invoke(main, ["hessian", "--help"]).output.split())
    assert "A ganmetric result file (.npz) gives its point z, an axis file its points." in help_text
