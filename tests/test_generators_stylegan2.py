"""StyleGAN2: rosinality checkpoints (strict), latent spaces z / w / w+, exact metrics, torch.func."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch
from torch.func import jacrev, jvp, vjp, vmap

import ganmetric
from ganmetric.errors import InputError, NotDeterministicError, WeightsError
from ganmetric.testing import dense_hessian

ROOT = Path(__file__).resolve().parents[1]
from helpers_models import N_MLP, STYLE_DIM, rosinality_state  # noqa: E402  (also the oracle's StyleGAN2)


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sg2") / "tiny.pt"
    avg = torch.randn(STYLE_DIM, generator=torch.Generator().manual_seed(1))
    torch.save({"g_ema": rosinality_state(), "latent_avg": avg}, path)
    return path


@pytest.fixture(scope="module")
def small_ckpt_path(tmp_path_factory):
    """8 px (one up-sampling block, n_latent 4): keeps the dense double-backward reference in w+ (64-d) quick."""
    path = tmp_path_factory.mktemp("sg2") / "small.pt"
    torch.save({"g_ema": rosinality_state(channels={4: 8, 8: 4}, seed=3),
                "latent_avg": torch.randn(STYLE_DIM, generator=torch.Generator().manual_seed(2))}, path)
    return path


def load(path, space="w", **kw):
    return ganmetric.load_generator("stylegan2", weights=str(path), latent_space=space, dtype="float64", **kw)


@pytest.fixture(scope="module")
def mse():
    return ganmetric.load_distance("mse", dtype="float64")


def test_a_safetensors_state_dict_loads_like_the_checkpoint(ckpt_path, tmp_path):
    """--weights FILE.safetensors: the g_ema state dict, latent_avg beside it in the same flat file."""
    from safetensors.torch import save_file
    ckpt = torch.load(ckpt_path, weights_only=True)
    path = tmp_path / "g.safetensors"
    save_file({**ckpt["g_ema"], "latent_avg": ckpt["latent_avg"]}, path)
    G_pt, G_st = load(ckpt_path, "z", truncation=0.5), load(path, "z", truncation=0.5)
    z = G_pt.sample(2, seed=1)
    assert torch.equal(G_st(z), G_pt(z)) and torch.equal(G_st.latent_avg, G_pt.latent_avg)
    assert G_st.weights["sha256"] != G_pt.weights["sha256"] and G_st.weights["path"].endswith("g.safetensors")


def test_architecture_inferred_from_shapes(ckpt_path):
    sizes = {s: load(ckpt_path, s) for s in ("z", "w", "w+")}
    G = sizes["w"]
    assert (G.resolution, G.style_dim, G.n_latent, len(G.g_ema.style) - 1) == (16, STYLE_DIM, 6, N_MLP)
    assert {s: g.latent_dim for s, g in sizes.items()} == {"z": 16, "w": 16, "w+": 96}
    x = G(G.sample(3, seed=0))
    assert x.shape == (3, 3, 16, 16) and torch.isfinite(x).all()


def test_state_dict_round_trip_is_strict_and_exact(ckpt_path, tmp_path):
    G = load(ckpt_path)
    original = torch.load(ckpt_path, weights_only=True)
    ck = G.to_checkpoint()
    assert set(ck["g_ema"]) == set(original["g_ema"])
    assert all(torch.equal(ck["g_ema"][k].float(), v) for k, v in original["g_ema"].items())
    assert torch.equal(ck["latent_avg"].float(), original["latent_avg"])
    torch.save(ck, tmp_path / "again.pt")
    w = G.sample(2, seed=3)
    assert torch.equal(load(tmp_path / "again.pt")(w), G(w))


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.update({"convs.0.extra.weight": torch.zeros(1)}), "unexpected keys convs.0.extra.weight"),
    (lambda sd: sd.pop("convs.1.noise.weight"), "missing keys convs.1.noise.weight"),
    (lambda sd: sd.pop("noises.noise_4"), "missing keys noises.noise_4"),
    (lambda sd: sd.update({"convs.1.activate.bias": torch.zeros(5)}), "convs.1.activate.bias has shape (5,)"),
    (lambda sd: sd.pop("input.input"), "'input.input' is missing"),
])
def test_checkpoint_that_does_not_fit_is_refused(tmp_path, change, message):
    sd = rosinality_state()
    change(sd)
    torch.save({"g_ema": sd}, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(tmp_path / "bad.pt")


def test_bad_files_and_options(tmp_path, ckpt_path):
    with pytest.raises(InputError, match="not found"):
        load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="junk.pt is not a PyTorch file"):
        load(tmp_path / "junk.pt")
    torch.save({"netG": {}}, tmp_path / "other.pt")
    with pytest.raises(WeightsError, match="g_ema"):
        load(tmp_path / "other.pt")
    with pytest.raises(InputError, match="latent space"):
        load(ckpt_path, "noise")
    with pytest.raises(InputError, match="truncation"):
        load(ckpt_path, truncation="strong")
    with pytest.raises(InputError, match="class name cannot be set"):
        load(ckpt_path, class_name="blue")
    with pytest.raises(InputError, match="lr_mlp"):
        load(ckpt_path, lr_mlp=-1)


def test_training_checkpoint_with_args_loads(tmp_path):
    """rosinality's train.py stores g, d, optimiser states and an argparse.Namespace next to g_ema."""
    sd = rosinality_state()
    torch.save({"g": sd, "g_ema": sd, "d": {"w": torch.zeros(2)}, "args": argparse.Namespace(size=16, latent=16)},
               tmp_path / "train.pt")
    G = load(tmp_path / "train.pt", truncation=0.5)  # no latent_avg stored: estimated from mapped samples
    assert G.latent_avg is not None and G.latent_avg.shape == (STYLE_DIM,)


def test_pretrained_configs_need_user_weights(ckpt_path):
    configs = ganmetric.generators.available_configs()
    for name in ("stylegan2-ffhq-256", "stylegan2-ffhq-1024", "stylegan2-church-256"):
        assert configs[name]["family"] == "stylegan2" and configs[name]["weights"]["url"].startswith("https://")
        with pytest.raises(WeightsError, match="weights=PATH"):
            ganmetric.load_generator(name)
    with pytest.raises(WeightsError, match="16 px generator with style_dim 16, but config stylegan2-ffhq-256"):
        ganmetric.load_generator("stylegan2-ffhq-256", weights=str(ckpt_path))


def test_custom_config_example(tmp_path, ckpt_path):
    cfg = json.loads((ROOT / "pretrained_configs" / "stylegan2-custom.json.example").read_text())
    cfg.update(resolution=16, latent_spaces={"w": 16, "z": 16, "w+": 96})
    cfg["weights"]["path"] = "tiny.pt"  # relative to the config file
    (tmp_path / "tiny.pt").write_bytes(ckpt_path.read_bytes())
    (tmp_path / "mine.json").write_text(json.dumps(cfg))
    G = ganmetric.load_generator(str(tmp_path / "mine.json"), latent_space="w+")
    assert (G.name, G.latent_dim, G.truncation) == (str(tmp_path / "mine.json"), 96, cfg["options"]["truncation"])
    cfg["weights"]["sha256"] = "0" * 64
    (tmp_path / "pinned.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        ganmetric.load_generator(str(tmp_path / "pinned.json"))


def test_truncation_and_sampling(ckpt_path):
    Gz, Gw, Gwp = load(ckpt_path, "z", truncation=0.6), load(ckpt_path, "w", truncation=0.6), load(ckpt_path, "w+")
    z = Gz.sample(4, seed=7)
    assert z.shape == (4, 16) and torch.equal(z, load(ckpt_path, "z").sample(4, seed=7))
    avg = Gz.latent_avg
    assert torch.allclose(Gz.mapping(z) - avg, 0.6 * (Gz.mapping(z, truncation=1.0) - avg), atol=1e-12)
    assert torch.allclose(Gw.sample(4, seed=7), Gz.mapping(z), atol=1e-12)
    wp = Gwp.sample(4, seed=7).reshape(4, 6, 16)
    assert torch.allclose(wp, Gwp.mapping(z)[:, None].expand(-1, 6, -1), rtol=0, atol=1e-12)  # row by row vs batch
    assert torch.allclose(Gz(z), Gw(Gz.mapping(z)), atol=1e-12)


@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_metric_matches_dense_hessian(small_ckpt_path, mse, space):
    G = load(small_ckpt_path, space, truncation=0.7)
    z0 = G.sample(1, seed=2)
    H_ref = dense_hessian(G, mse, z0)
    scale = H_ref.abs().max()
    ref_vals = torch.linalg.eigvalsh(H_ref).flip(0)
    for method in ("jacobian", "fwd-over-rev"):
        res = ganmetric.metric_tensor(G, mse, z0, method=method)
        assert float((res.H - H_ref).abs().max() / scale) <= 1e-6, method
    res = ganmetric.metric_tensor(G, mse, z0, method="gn-lanczos", k=4)
    assert res.converged
    assert float((res.eigvals - ref_vals[:4]).abs().max() / ref_vals[0]) <= 1e-6
    Hv = H_ref @ res.eigvecs
    assert float((Hv - res.eigvecs * res.eigvals).abs().max() / ref_vals[0]) <= 1e-6


def test_w_plus_with_equal_rows_is_w(ckpt_path, mse):
    Gw, Gwp = load(ckpt_path, "w"), load(ckpt_path, "w+")
    w0 = Gw.sample(1, seed=4)
    wp0 = w0.repeat(1, Gw.n_latent)
    assert torch.equal(Gw(w0), Gwp(wp0))
    H_w = ganmetric.metric_tensor(Gw, mse, w0, method="jacobian").H
    H_wp = ganmetric.metric_tensor(Gwp, mse, wp0, method="jacobian").H
    blocks = H_wp.reshape(6, 16, 6, 16).sum((0, 2))
    assert float((blocks - H_w).abs().max() / H_w.abs().max()) <= 1e-10


def test_z_metric_is_pullback_of_w_metric(ckpt_path, mse):
    Gz, Gw = load(ckpt_path, "z", truncation=0.8), load(ckpt_path, "w", truncation=0.8)
    z0 = Gz.sample(1, seed=5)
    H_z = ganmetric.metric_tensor(Gz, mse, z0, method="jacobian").H
    w0 = Gz.mapping(z0)
    H_w = ganmetric.metric_tensor(Gw, mse, w0, method="jacobian").H
    J_map = jacrev(lambda z: Gz.mapping(z[None])[0])(z0[0])
    pulled = J_map.T @ H_w @ J_map
    assert float((pulled - H_z).abs().max() / H_z.abs().max()) <= 1e-10


def test_torch_func_transforms(ckpt_path):
    G = load(ckpt_path, "w+")
    W = G.sample(3, seed=6)
    single = vmap(lambda w: G(w[None])[0])(W)
    torch.testing.assert_close(single, G(W), rtol=1e-12, atol=1e-12)
    v = torch.randn(W.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, jv = jvp(G, (W,), (v,))
    fd = (G(W + 1e-6 * v) - G(W - 1e-6 * v)) / 2e-6
    torch.testing.assert_close(jv, fd, rtol=1e-5, atol=1e-6)
    out, pull = vjp(G, W)
    u = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (jtu,) = pull(u)
    assert torch.allclose((jtu * v).sum(), (u * jv).sum(), rtol=1e-10)


def test_random_noise_is_caught_by_the_determinism_probe(ckpt_path, mse):
    G = load(ckpt_path, "w", randomize_noise=True)
    w0 = G.sample(1, seed=0)
    assert not torch.equal(G(w0), G(w0))
    with pytest.raises(NotDeterministicError, match="differ"):
        ganmetric.metric_tensor(G, mse, w0, method="jacobian")


@pytest.mark.slow  # the CLI's first command in this process: about 2 s
def test_cli_hessian_with_a_stylegan2_config(tmp_path, ckpt_path, mse):
    import numpy as np
    from click.testing import CliRunner

    from ganmetric_cli.main import main
    cfg = {"name": "tiny-sg2", "family": "stylegan2", "latent_spaces": {"w": 16, "z": 16, "w+": 96},
           "weights": {"path": str(ckpt_path)}}
    (tmp_path / "tiny.json").write_text(json.dumps(cfg))
    out = tmp_path / "h.npz"
    args = ["hessian", "--model", str(tmp_path / "tiny.json"), "--latent-space", "w+", "--distance", "mse", "--dtype",
            "float64", "--method", "jacobian", "--seed", "1", "--out", str(out), "-q"]
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    G = ganmetric.load_generator(str(tmp_path / "tiny.json"), latent_space="w+", dtype="float64")
    ref = ganmetric.metric_tensor(G, mse, G.sample(1, seed=1), method="jacobian")
    with np.load(out, allow_pickle=False) as f:
        np.testing.assert_allclose(f["eigvals"], ref.eigvals.numpy(), rtol=1e-8, atol=1e-12 * float(ref.eigvals[0]))
    args[args.index("--model") + 1] = "stylegan2-ffhq-256"
    out.unlink()
    done = CliRunner().invoke(main, args)
    assert done.exit_code != 0 and done.stderr.strip().startswith("Error:") and "Traceback" not in done.output
    assert len(done.stderr.strip().splitlines()) == 1 and "550000.pt" in done.stderr and not out.exists()


@pytest.mark.parametrize("space", ["w", "w+"])
def test_seeded_w_samples_do_not_depend_on_n_and_map_on_the_cpu_in_float64_row_by_row(space):
    """Growing a seeded batch draws the same first rows exactly (float32 model: the case where a batched
    mapping's rounding changed with the number of rows); the mapping runs on the CPU in float64, one
    row a pass, whatever the model's device and dtype (what makes the codes the same on a GPU)."""
    G = ganmetric.load_generator("stylegan2-demo", latent_space=space)
    seen = []
    hooks = [m.register_forward_pre_hook(lambda m, args: seen.append((args[0].device.type, args[0].dtype,
                                                                       args[0].shape[0])))
             for m in G.g_ema.style]
    try:
        small = G.sample(3, seed=11)
        assert seen == [("cpu", torch.float64, 1)] * (3 * len(G.g_ema.style))  # the copy on the CPU runs the hooks
        big = G.sample(40, seed=11)
    finally:
        for h in hooks:
            h.remove()
    assert big.dtype == torch.float32 and torch.equal(big[:3], small)
    with torch.no_grad():  # and it is the mapping: float32 on the model agrees to float32 rounding
        z = torch.stack([torch.randn(128, generator=torch.Generator(device="cpu").manual_seed(11),
                                     dtype=torch.float64)])
        w = G.g_ema.mapping(z.float())
    assert torch.allclose(small[:1, :128], w, rtol=1e-5, atol=1e-5)
