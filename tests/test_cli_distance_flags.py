"""--distance and the distances' flags come from the registry: a registered distance's options are flags with its
help, parsed into one DistanceSpec; --distance is checked by form before anything is loaded or imported."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from ganmetric.distances import DISTANCES, DistanceOption, DistanceSpec, MSEDistance, register_distance
from ganmetric_cli.distance_flags import DISTANCE_FLAGS, distance_options
from ganmetric_cli.main import main


@pytest.fixture
def registered():
    """``gm-flagged`` with an option ``gm_width``, for one test (the registry restored afterwards)."""
    before = dict(DISTANCES)
    width = DistanceOption("gm_width", type=int, help="Width of the test distance.")

    @register_distance("gm-flagged", options=(width,), help="a distance of this test")
    def build(spec, *, gm_width):
        D = MSEDistance()
        D.name = spec
        return D

    yield "gm-flagged"
    DISTANCES.clear()
    DISTANCES.update(before)


def _spy():
    """A command with the distance options that prints the DistanceSpec it gets."""
    @click.command()
    @distance_options
    def spy(distance_spec):
        click.echo(repr(distance_spec))
    return spy


def test_a_registered_distance_is_on_the_command_line(registered):
    spy = _spy()
    res = CliRunner().invoke(spy, ["--distance", registered, "--gm-width", "3"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == repr(DistanceSpec("gm-flagged", {"gm_width": 3}))
    helps = {p.name: p.help for p in spy.params}
    assert helps["gm_width"] == "Width of the test distance. Distances: gm-flagged."
    assert "; `gm-flagged`: a distance of this test; " in helps["distance"]
    assert "--gm-width INTEGER" in CliRunner().invoke(spy, ["--help"]).output
    res = CliRunner().invoke(spy, ["--gm-width", "x"])
    assert res.exit_code == 2 and "'x' is not a valid integer" in res.output


def test_builtin_flags_and_help():
    assert DISTANCE_FLAGS == ("--distance", "--lpips-backbone", "--resize")
    hessian = main.commands["hessian"]
    helps = {p.name: p.help for p in hessian.params}
    assert helps["lpips_backbone"].startswith("LPIPS backbone weights: 'pretrained'")
    assert helps["resize"].endswith("Distances: lpips-alex, lpips-vgg, lpips-squeeze.")
    assert helps["distance"].startswith("Distance pulled back through the generator. `mse`: mean squared difference")
    assert "; `module.path:factory`: your own code" in helps["distance"]  # not ":factory:", an emoji code on the site
    res = CliRunner().invoke(main, ["hessian", "--help"])
    assert "[mse|lpips-alex|lpips-vgg|lpips-squeeze|layer:NAME[,NAME2...]|module.path:factory]" in res.output


@pytest.mark.parametrize("value, spec", [("layer:any.name", DistanceSpec("layer:any.name")),
                                         ("gm_not_imported_yet:make", DistanceSpec("gm_not_imported_yet:make")),
                                         ("lpips-vgg", DistanceSpec("lpips-vgg"))])
def test_distance_is_checked_by_form_only(value, spec):
    res = CliRunner().invoke(_spy(), ["--distance", value])
    assert res.exit_code == 0 and res.output.strip() == repr(spec)


def test_a_bad_distance_lists_every_form():
    res = CliRunner().invoke(_spy(), ["-d", "ssim"])
    assert res.exit_code == 2
    assert res.output.splitlines()[-1] == ("Error: Invalid value for '--distance' / '-d': 'ssim' is not one of mse, "
                                           "lpips-alex, lpips-vgg, lpips-squeeze, layer:NAME[,NAME2...], "
                                           "module.path:factory")
