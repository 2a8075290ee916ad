"""ganmetric_cli/params.py: every seed flag of every command is one check (issue 21), refused before loading;
lists of integers and seeds."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from ganmetric_cli.main import main
from ganmetric_cli.params import SEED, IntList, SeedList
from helpers import one_error_line


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
    one_error_line(res, f"Invalid value for '{flag}': must be an integer in [0, 2**63), got {bad}")
    assert res.exit_code == 2 and list(tmp_path.iterdir()) == []  # a usage error: nothing loaded or written


def test_seed_flags_take_the_whole_range():
    assert [SEED.convert(v, None, None) for v in ("0", str(2**63 - 1), 5)] == [0, 2**63 - 1, 5]


@pytest.mark.parametrize("kind, value, parsed", [(IntList(), "0, 2,7", [0, 2, 7]), (IntList(), [3, 1], [3, 1]),
                                                 (SeedList(), "4,0", [4, 0])])
def test_lists_of_integers_and_seeds(kind, value, parsed):
    assert kind.convert(value, None, None) == parsed


@pytest.mark.parametrize("args, message", [
    (["--axes-list", "0,x"], "Invalid value for '--axes-list': expected comma-separated integers like 0,1,2, got 0,x"),
    (["--axes-list", ","], "Invalid value for '--axes-list': expected at least one integer"),
    (["--action-seeds", "a"], "Invalid value for '--action-seeds': expected comma-separated seeds like 0,1,2, got a"),
])
def test_malformed_lists_are_the_flags_bad_value(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["explore", "--axes", "missing.npz", *args])
    one_error_line(res, message)
    assert res.exit_code == 2 and list(tmp_path.iterdir()) == []
