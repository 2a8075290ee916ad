"""The paper's other generators on the command line: DeePSim's options, model files by layout, models fetch/list."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric_cli.main import main
from helpers import one_error_line
from helpers_zoo import deepsim_state


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


def test_hessian_on_a_deepsim_file_records_variant_and_clamp(tmp_path):
    torch.save(deepsim_state("fc6"), tmp_path / "upconvGAN_fc7.pt")
    out = tmp_path / "h.npz"
    r = run("hessian", "--model", "deepsim", "--weights", str(tmp_path / "upconvGAN_fc7.pt"), "--variant", "fc7",
            "--no-clamp", "--distance", "mse", "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    res = ganmetric.load_result(out)
    opts = res.meta["model_options"]
    assert (opts["family"], opts["variant"], opts["clamp"]) == ("deepsim", "fc7", False) and res.H.shape == (24, 24)
    assert opts["weights"]["source"] == "file"
    r = run("hessian", "--model", str(tmp_path / "upconvGAN_fc7.pt"), "--distance", "mse", "--out",
            str(tmp_path / "g.npz"), "-q")
    assert r.exit_code == 0, r.output
    assert ganmetric.load_result(tmp_path / "g.npz").meta["model_options"]["clamp"] is True


def test_bad_deepsim_input_one_line_nothing_written(tmp_path):
    torch.save(deepsim_state("pool5", code=5), tmp_path / "pool5.pt")
    out = tmp_path / "x.npz"
    r = run("hessian", "--model", "deepsim-fc6", "--weights", str(tmp_path / "pool5.pt"), "--distance", "mse",
            "--out", str(out))
    one_error_line(r, "pool5.pt holds a pool5 generator (Rconv layers, 256x6x6 codes), not the DeePSim variant fc6")
    r = run("hessian", "--model", "deepsim", "--weights", str(tmp_path / "pool5.pt"), "--variant", "fc9",
            "--out", str(out))
    one_error_line(r, "--variant")
    assert not out.exists()


def test_models_fetch_says_where_to_get_a_published_file_and_checks_it(tmp_path):
    env = {"GANMETRIC_CACHE": str(tmp_path / "cache")}
    r = run("models", "fetch", "pggan-celebahq-256", env=env)
    one_error_line(r, "pggan-celebahq-256: ganmetric cannot download its weights; download "
                      "celebaHQ_s6_i80000-6196db68.pth from https://dl.fbaipublicfiles.com/gan_zoo/PGAN/"
                      "celebaHQ_s6_i80000-6196db68.pth and put it at ")
    target = tmp_path / "cache" / "weights" / "deepsim-fc6" / "upconvGAN_fc6.pt"
    target.parent.mkdir(parents=True)
    torch.save(deepsim_state("fc6"), target)
    r = run("models", "fetch", "deepsim-fc6", env=env)
    assert r.exit_code == 0 and f"deepsim-fc6: weights in place at {target}" in r.output, r.output
    r = run("models", "list", env=env)
    rows = {line.split()[0]: line for line in r.output.splitlines() if line.strip()}
    assert rows["deepsim-fc6"].rstrip().endswith("yes") and rows["deepsim-fc7"].rstrip().endswith("no")
    assert "pggan-celebahq-256" in rows and "gan-zoo-dcgan-fashiongen" in rows
    assert "hf://OWNER/REPO/PATH[@REVISION]" in r.output


def test_models_layers_of_a_checkpoint_file(tmp_path):
    torch.save(deepsim_state("fc6"), tmp_path / "g.pt")
    r = run("models", "layers", str(tmp_path / "g.pt"))
    assert r.exit_code == 0, r.output
    assert "defc7" in r.output and "deconv0" in r.output and "12 of" in r.output


@pytest.mark.slow  # about 6 s of CPU: a DeePSim checkpoint through three commands
def test_a_result_of_a_checkpoint_file_is_reused_with_the_file_named_again(tmp_path):
    """explore --axes A --model FILE: the recorded weights are the file itself, not an extra --weights."""
    torch.save(deepsim_state("fc6"), tmp_path / "g.pt")
    assert run("hessian", "--model", str(tmp_path / "g.pt"), "--distance", "mse", "--out", str(tmp_path / "h.npz"),
               "-q").exit_code == 0
    assert run("axes", "export", str(tmp_path / "h.npz"), "--top", "6", "--out", str(tmp_path / "a.npz")).exit_code == 0
    r = run("explore", "--axes", str(tmp_path / "a.npz"), "--model", str(tmp_path / "g.pt"), "--out",
            str(tmp_path / "e.png"))
    assert r.exit_code == 0 and (tmp_path / "e.png").is_file(), r.output
    torch.save(deepsim_state("fc6", seed=9), tmp_path / "other.pt")
    r = run("explore", "--axes", str(tmp_path / "a.npz"), "--model", str(tmp_path / "other.pt"), "--out",
            str(tmp_path / "f.png"))
    one_error_line(r, "was made with another model setting")
    assert not (tmp_path / "f.png").exists()
