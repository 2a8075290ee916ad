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
