"""The StyleGAN (1) and BigBiGAN families from the shell: their options (--resolution, --noise, --mean-style),
what result files record, `models list/fetch/layers`, and the commands that rebuild a recorded model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric.generators.bigbigan_layers import BigGANPyTorchNetwork
from ganmetric.generators.bigbigan_layers import seeded_random_ as random_biggan_
from ganmetric.generators.stylegan1_layers import StyledGenerator, seeded_random_
from ganmetric_cli.main import main
from helpers import one_error_line


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Tiny checkpoints in the published formats, a noise file for 16 px and a mean style."""
    d = tmp_path_factory.mktemp("zoo_b")
    net = seeded_random_(StyledGenerator(channels=[8, 8, 6, 4], style_dim=8, n_mlp=2, fused=[False] * 3 + [True]))
    torch.save({"g_running": net.state_dict()}, d / "sg1.model")
    bb = random_biggan_(BigGANPyTorchNetwork(channels=[16, 16, 8], attention=[1], z_chunk=4, shared_dim=6, n_classes=3))
    torch.save(bb.state_dict(), d / "bb.pth")
    g = torch.Generator().manual_seed(1)
    np.savez(d / "noise.npz", *[torch.randn(1, 1, s, s, generator=g).numpy() for s in (4, 8, 16)])
    np.save(d / "mean.npy", np.full(8, 0.1, dtype=np.float32))
    return d


def _sg1(files, *more):
    return ["--model", "stylegan1", "--weights", files / "sg1.model", "--resolution", 16, *more]


def test_hessian_with_the_stylegan1_options_records_them(files, tmp_path):
    out = tmp_path / "h.npz"
    r = run("hessian", *_sg1(files, "--noise", files / "noise.npz", "--mean-style", files / "mean.npy",
                         "--truncation", 0.5), "--distance", "mse", "--out", out)
    assert r.exit_code == 0, r.output
    res = ganmetric.load_result(out)
    opts = res.meta["model_options"]
    G = ganmetric.load_generator("stylegan1", weights=str(files / "sg1.model"), resolution=16, truncation=0.5,
                                 noise=str(files / "noise.npz"), mean_style=str(files / "mean.npy"))
    assert {k: opts[k] for k in G.map_options()} == G.map_options()
    assert opts["noise_seed"] is None and opts["noise_sha256"] == G.noise_sha256
    assert res.H.shape == (8, 8) and "noise sha256 " + G.noise_sha256[:12] in r.output  # the summary, shortened
    # a command rebuilding the model from the record needs the noise file again, and the same one
    np.savez(tmp_path / "other.npz", *[np.zeros((s, s)) for s in (4, 8, 16)])
    axes = tmp_path / "axes.npz"
    assert run("axes", "export", out, "--top", 3, "--out", axes).exit_code == 0
    explore = ["explore", "--axes", axes, "--axes-list", "0,1", "--steps", 3, "--weights", files / "sg1.model",
               "--mean-style", files / "mean.npy"]
    one_error_line(run(*explore, "--out", tmp_path / "a.png"), "--noise must be given again: the model was made "
                                                               "with arrays you gave (sha256 ")
    one_error_line(run(*explore, "--noise", tmp_path / "other.npz", "--out", tmp_path / "b.png"),
                   "Invalid value for '--noise': differs from the arrays the model was made with")
    r = run(*explore, "--noise", files / "noise.npz", "--out", tmp_path / "c.png")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists() and (tmp_path / "c.png").is_file()


@pytest.mark.parametrize("more, words", [
    (["--resolution", 64], "Invalid value for '--resolution': must be one of 4, 8, 16, 32"),
    (["--noise", "NOISE"], "Invalid value for '--noise': must hold 4 arrays for resolution 32"),
    (["--mean-style", "NOISE"], "Invalid value for '--mean-style': file must be a .npy file"),
    (["--mean-style", "absent.npy"], "Invalid value for '--mean-style': file not found"),
    (["--class-index", 3], "class index cannot be set for model stylegan1"),
])
def test_bad_stylegan1_options_one_line_nothing_written(files, tmp_path, more, words):
    more = [files / "noise.npz" if m == "NOISE" else tmp_path / m if str(m).endswith(".npy") else m for m in more]
    args = ["--model", "stylegan1", "--weights", files / "sg1.model", "--resolution", 32, *more]
    r = run("hessian", *args, "--distance", "mse", "--out", tmp_path / "h.npz")
    one_error_line(r, words)
    assert not (tmp_path / "h.npz").exists()


def test_bigbigan_hessian_layers_and_sefa_refusal(files, tmp_path):
    out = tmp_path / "b.npz"
    r = run("hessian", "--model", "bigbigan", "--weights", files / "bb.pth", "--distance",
            "layer:big_gan.blocks.1.1", "--out", out)
    assert r.exit_code == 0, r.output
    res = ganmetric.load_result(out)
    assert res.meta["latent_dim"] == 12 and res.meta["model_options"]["weights"]["source"] == "file"
    r = run("axes", "compare", out, "--k", 3, "--n-directions", 3, "--methods", "sefa", "--weights", files / "bb.pth",
            "--out", tmp_path / "c.csv")
    one_error_line(r, "SeFa is not defined for bigbigan: its code enters the network in 3 chunks of 4")
    r = run("models", "layers", "bigbigan", "--weights", files / "bb.pth")
    assert r.exit_code == 0 and "big_gan.blocks.1.1 " in r.output and "Attention" in r.output


def test_models_layers_list_stylegan1_at_its_resolution(files):
    r = run("models", "layers", "stylegan1", "--weights", files / "sg1.model", "--resolution", 8)
    assert r.exit_code == 0, r.output
    assert "g_running.generator.progression.1.adain2" in r.output  # runs at 8 px
    assert "g_running.generator.progression.2.adain2" not in r.output  # 16 px: not run (listed with --all)


def test_models_list_and_fetch_say_where_the_files_go(files, tmp_path):
    env = {"GANMETRIC_CACHE": str(tmp_path / "cache")}
    r = run("models", "list", env=env)
    rows = {line.split()[0]: line for line in r.output.splitlines() if line.strip()}
    assert "z (512), w (512), w+ (3584)" in rows["stylegan1-ffhq-256"] and rows["stylegan1-ffhq-256"].endswith("no")
    assert "z (120)" in rows["bigbigan-128"] and "128" in rows["bigbigan-128"].split()
    place = tmp_path / "cache" / "weights" / "stylegan1-ffhq-256" / "stylegan-256px-new.model"
    one_error_line(run("models", "fetch", "stylegan1-ffhq-256", env=env),
                   f"ganmetric cannot download its weights; download stylegan-256px-new.model from "
                   f"https://drive.google.com/open?id=1QlXFPIOFzsJyjZ1AtfpnVhqW4Z0r8GLZ and put it at {place}")
    one_error_line(run("hessian", "--model", "bigbigan", "--distance", "mse", "--out", tmp_path / "x.npz", env=env),
                   "bigbigan: give the weights file: weights=PATH (--weights PATH)")
    one_error_line(run("hessian", "--model", "bigbigan-128", "--distance", "mse", "--out", tmp_path / "x.npz", env=env),
                   "bigbigan-128: ganmetric cannot download its weights; download BigBiGAN_x1.pth from "
                   "https://www.dropbox.com/")
    # the file in its place: found by fetch and by every command, recorded as the config's own weights
    place.parent.mkdir(parents=True)
    place.write_bytes((files / "sg1.model").read_bytes())
    r = run("models", "fetch", "stylegan1-ffhq-256", env=env)
    assert r.exit_code == 0 and f"weights in place at {place}" in r.output
    assert run("models", "list", env=env).output.count("yes") >= 1
    one_error_line(run("hessian", "--model", "stylegan1-ffhq-256", "--distance", "mse", "--out", tmp_path / "y.npz",
                       env=env), "resolution must be one of 4, 8, 16, 32")  # the config's 256 px: not in this file
    r = run("hessian", "--model", "stylegan1-ffhq-256", "--resolution", 16, "--truncation", 1, "--distance", "mse",
            "--out", tmp_path / "y.npz", env=env)
    assert r.exit_code == 0, r.output
    meta = json.loads(str(np.load(tmp_path / "y.npz")["meta"]))
    assert meta["model_options"]["weights"]["source"] == "pretrained" and meta["model"] == "stylegan1-ffhq-256"


@pytest.mark.slow  # a batch, its spectrum, a path and an inversion: the commands on a StyleGAN in w
def test_commands_on_stylegan1_in_w(files, tmp_path):
    model = _sg1(files, "--latent-space", "w")
    assert run("batch", *model, "--distance", "mse", "--points", 2, "--out", tmp_path / "b").exit_code == 0
    assert run("spectrum", tmp_path / "b").exit_code == 0
    r = run("path", *model, "--distance", "mse", "--from-seed", 1, "--to-seed", 2, "--points", 4, "--out",
            tmp_path / "p")
    assert r.exit_code == 0, r.output
    r = run("axes", "compare", tmp_path / "b" / "point_00000.npz", "--k", 3, "--n-directions", 3, "--weights",
            files / "sg1.model", "--out", tmp_path / "c.csv")
    assert r.exit_code == 0 and "sefa" in r.output, r.output
