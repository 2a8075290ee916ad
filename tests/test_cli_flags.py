"""ganmetric_cli/flags.py: a library error about an argument names the command's flag, from a table generated from
the command's own parameters, in one defined place (click's "Invalid value for '--flag': ..."); the rest of the
message is never rewritten."""
from __future__ import annotations

import sys

import click
import pytest
from click.testing import CliRunner

from ganmetric.errors import InputError, WeightsError
from ganmetric_cli import path as path_cli
from ganmetric_cli.flags import Feeds, flag_table, install_flag_names, known_arguments
from ganmetric_cli.main import main
from helpers import one_error_line


def _command(error):
    """A one-command group whose command raises ``error``, as every real command is installed."""
    @click.group()
    def group():
        pass

    @group.command()
    @click.argument("result", type=click.Path())
    @click.option("--seed", "-s", type=int, default=0)
    @click.option("--out", "-o", "out_dir", default="x")
    @click.option("--from-seed", cls=Feeds, feeds="z_a", type=int, default=None)
    @click.option("--z-from", cls=Feeds, feeds="z_a", default=None)
    def run(result, seed, out_dir, from_seed, z_from):
        raise error

    install_flag_names(group)
    return group


@pytest.mark.parametrize("error, line", [
    # a flag the user gave: click's wording, the argument's name (the message's subject) left out
    (InputError("seed must be an integer in [0, 2**63), got -1", argument="seed"),
     "Error: Invalid value for '--seed': must be an integer in [0, 2**63), got -1"),
    # an option whose Python name is the library's argument: --out feeds out_dir
    (InputError("out_dir o holds files that run does not write", argument="out_dir"),
     "Error: Invalid value for '--out': o holds files that run does not write"),
    # a message that does not start with its argument keeps all of it
    (InputError("cannot write o/a.npz: folder o does not exist", argument="out_dir"),
     "Error: Invalid value for '--out': cannot write o/a.npz: folder o does not exist"),
    # a positional argument is shown by its metavar
    (InputError("r.npz holds no eigenvalues", argument="result"), "Error: Invalid value for 'RESULT': r.npz holds no "
                                                                  "eigenvalues"),
    # other arguments the error mentions are named by their flags; the rest is not touched
    (InputError("out_dir o holds an earlier run's {{a, b}}; pass a new {seed}", argument="out_dir", mentions=("seed",)),
     "Error: Invalid value for '--out': o holds an earlier run's {a, b}; pass a new --seed"),
    # an argument the command has no flag for: the library's message as written
    (InputError("latent size unknown; give latent_dim (or save a latent_dim attribute on the module)",
                argument="latent_dim"),
     "Error: latent size unknown; give latent_dim (or save a latent_dim attribute on the module)"),
    (InputError("no argument named", argument=None), "Error: no argument named"),
    (WeightsError("weights not in the cache; offline, give {out_dir} x", mentions=("out_dir",)),
     "Error: weights not in the cache; offline, give --out x"),
])
def test_an_error_names_the_flag_in_one_place(error, line):
    res = CliRunner().invoke(_command(error), ["run", "r.npz", "--seed", "-1", "--out", "o"])
    assert res.output.strip().splitlines()[-1] == line and "Traceback" not in res.output
    assert res.exit_code == (1 if isinstance(error, WeightsError) else 2)


@pytest.mark.parametrize("error, line", [
    # the flag takes the subject's place
    (InputError("seed 0 is taken", argument="seed"), "Error: --seed 0 is taken"),
    # a message that does not start with the argument is shown as it is (the user did not give that flag)
    (InputError("the basis h.npz was made with another seed", argument="seed"),
     "Error: the basis h.npz was made with another seed"),
])
def test_an_error_about_a_flag_left_at_its_default(error, line):
    res = CliRunner().invoke(_command(error), ["run", "r.npz"])
    assert res.output.strip().splitlines()[-1] == line and res.exit_code == 2


def test_an_argument_two_flags_feed_names_the_one_given():
    group = _command(InputError("z_a is the zero code: slerp needs a direction", argument="z_a"))
    res = CliRunner().invoke(group, ["run", "r.npz", "--z-from", "a.npy"])
    assert res.output.strip() == "Error: Invalid value for '--z-from': is the zero code: slerp needs a direction"
    res = CliRunner().invoke(group, ["run", "r.npz", "--from-seed", "3"])
    assert res.output.strip() == "Error: Invalid value for '--from-seed': is the zero code: slerp needs a direction"


def test_the_table_is_read_off_the_commands_parameters():
    ctx = path_cli.path.make_context("path", ["--z-to", "b.npy", "--from-seed", "1"])
    table = flag_table(path_cli.path, ctx)
    assert table["z_a"] == "--from-seed" and table["z_b"] == "--z-to" and table["out_dir"] == "--out"
    assert table["methods"] == "--method" and table["max_iter"] == "--max-iter" and table["model"] == "--model"
    invert = main.commands["invert"]
    assert flag_table(invert)["target"] == "--image" and flag_table(invert)["out_dir"] == "--out"
    # every option a command has is in its table, under its Python name
    for command in (invert, main.commands["hessian"], main.commands["axes"].commands["compare"]):
        table = flag_table(command)
        assert all(p.name in table for p in command.params)
    assert {"seed", "out_dir", "latent_dim", "sefa_layers", "n_points", "z_a", "basis"} <= known_arguments(main)


FACTORY = '''
import torch


def make():
    return torch.nn.Linear(3, 12)  # no latent_dim attribute: the size must be given
'''


def test_a_message_naming_other_arguments_is_not_rewritten(tmp_path, monkeypatch):
    """The regex mapping once made "save a --latent-dim attribute on the module" of this message."""
    (tmp_path / "gm_flags_nodim.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gm_flags_nodim", raising=False)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["hessian", "--model", "gm_flags_nodim:make", "--distance", "mse", "-q"])
    one_error_line(res, "Error: gm_flags_nodim:make: latent size unknown; give --latent-dim "
                        "(or a latent_dim attribute on the module)")
    assert res.exit_code == 2 and "--latent-dim attribute" not in res.output
