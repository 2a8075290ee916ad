"""BigBiGAN (BigGAN-PyTorch generator, class 0): strict loading, eval-mode spectral norm and BatchNorm, bad
input, and the reference fixture made with BigGANsAreWatching's own code."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators.base import normal_rows
from helpers import assert_jacobian_matches_dense

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT.parent / "shared" / "fixtures" / "zoo"
needs_zoo = pytest.mark.skipif(not (ZOO / "bigbigan.pth").is_file(),
                               reason="reference fixtures (../shared/fixtures/zoo) not here")
# a narrow copy of BigBiGAN's layout: 3 blocks (32 px), attention after block 1, z = 4 chunks of 4
CHANNELS, ATTENTION, CHUNK, SHARED, CLASSES = (16, 16, 8, 8), 1, 4, 6, 3


def biggan_state(seed=0) -> dict:
    """A random BigGAN-PyTorch generator state dict written from its key list and shapes (not from our module)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape, s=1.0: torch.randn(*shape, generator=g) * s  # noqa: E731

    def sn(prefix, shape, bias=True):
        sd[f"{prefix}.weight"] = r(*shape)
        if bias:
            sd[f"{prefix}.bias"] = r(shape[0], s=0.1)
        sd[f"{prefix}.u0"] = F.normalize(r(1, shape[0]))
        sd[f"{prefix}.sv0"] = 1 + r(1).abs()  # a training log: unused in eval mode

    sd = {"shared.weight": r(CLASSES, SHARED)}
    sn("linear", (CHANNELS[0] * 16, CHUNK))
    cond = SHARED + CHUNK
    for i, (c_in, c_out) in enumerate(zip(CHANNELS[:-1], CHANNELS[1:])):
        p = f"blocks.{i}.0"
        sn(f"{p}.conv1", (c_out, c_in, 3, 3))
        sn(f"{p}.conv2", (c_out, c_out, 3, 3))
        sn(f"{p}.conv_sc", (c_out, c_in, 1, 1))
        for k, c in (("bn1", c_in), ("bn2", c_out)):
            sd[f"{p}.{k}.stored_mean"] = r(c, s=0.5)
            sd[f"{p}.{k}.stored_var"] = 0.5 + torch.rand(c, generator=g)
            sn(f"{p}.{k}.gain", (c, cond), bias=False)
            sn(f"{p}.{k}.bias", (c, cond), bias=False)
        if i == ATTENTION:
            sd[f"blocks.{i}.1.gamma"] = torch.tensor(0.4)
            for name, shape in (("theta", (c_out // 8, c_out)), ("phi", (c_out // 8, c_out)),
                                ("g", (c_out // 2, c_out)), ("o", (c_out, c_out // 2))):
                sn(f"blocks.{i}.1.{name}", (*shape, 1, 1), bias=False)
    c = CHANNELS[-1]
    sd.update({"output_layer.0.gain": 1 + r(c, s=0.1), "output_layer.0.bias": r(c, s=0.1),
               "output_layer.0.stored_mean": r(c, s=0.5),
               "output_layer.0.stored_var": 0.5 + torch.rand(c, generator=g)})
    sn("output_layer.2", (3, c, 3, 3))
    return sd


def reference_images(sd, z):
    """BigGAN-PyTorch's Generator in eval mode with the class-0 embedding, in float64 (its layers.py, read)."""
    sd = {k: v.double() for k, v in sd.items()}

    def W(p):  # one power iteration from the stored u0, not stored back
        w = sd[f"{p}.weight"]
        mat = w.reshape(w.shape[0], -1)
        v = F.normalize(sd[f"{p}.u0"] @ mat, eps=1e-4)
        u = F.normalize(v @ mat.T, eps=1e-4)
        return w / ((v @ mat.T) @ u.T).squeeze()

    conv = lambda x, p, pad=1: F.conv2d(x, W(p), sd.get(f"{p}.bias"), padding=pad)  # noqa: E731

    def ccbn(x, y, p):
        out = (x - sd[f"{p}.stored_mean"][:, None, None]) / torch.sqrt(sd[f"{p}.stored_var"][:, None, None] + 1e-4)
        return out * (1 + y @ W(f"{p}.gain").T)[:, :, None, None] + (y @ W(f"{p}.bias").T)[:, :, None, None]

    z = z.double()
    zs = z.split(CHUNK, 1)
    y = sd["shared.weight"][0].expand(z.shape[0], -1)
    h = (zs[0] @ W("linear").T + sd["linear.bias"]).reshape(z.shape[0], -1, 4, 4)
    for i in range(len(CHANNELS) - 1):
        p, yi = f"blocks.{i}.0", torch.cat([y, zs[i + 1]], 1)
        x = F.interpolate(h, scale_factor=2)
        h = conv(F.interpolate(torch.relu(ccbn(h, yi, f"{p}.bn1")), scale_factor=2), f"{p}.conv1")
        h = conv(torch.relu(ccbn(h, yi, f"{p}.bn2")), f"{p}.conv2") + conv(x, f"{p}.conv_sc", 0)
        if f"blocks.{i}.1.gamma" in sd:
            a, (B, C, H, Wd) = f"blocks.{i}.1", h.shape
            theta = conv(h, f"{a}.theta", 0).reshape(B, C // 8, H * Wd)
            phi = F.max_pool2d(conv(h, f"{a}.phi", 0), 2).reshape(B, C // 8, -1)
            g = F.max_pool2d(conv(h, f"{a}.g", 0), 2).reshape(B, C // 2, -1)
            beta = torch.softmax(theta.transpose(1, 2) @ phi, -1)
            h = sd[f"{a}.gamma"] * conv((g @ beta.transpose(1, 2)).reshape(B, C // 2, H, Wd), f"{a}.o", 0) + h
    o = "output_layer.0"
    h = (h - sd[f"{o}.stored_mean"][:, None, None]) / torch.sqrt(sd[f"{o}.stored_var"][:, None, None] + 1e-5)
    h = torch.relu(h * sd[f"{o}.gain"][:, None, None] + sd[f"{o}.bias"][:, None, None])
    return torch.tanh(conv(h, "output_layer.2"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    sd = biggan_state()
    path = tmp_path_factory.mktemp("bbg") / "G_ema.pth"
    torch.save(sd, path)
    return path, sd


def test_images_match_the_eval_mode_reference_in_float64(checkpoint):
    path, sd = checkpoint
    G = ganmetric.load_generator("bigbigan", weights=str(path), dtype="float64")
    assert (G.latent_dim, G.resolution, G.latent_space) == (4 * CHUNK, 32, "z")
    z = G.sample(3, seed=0)
    with torch.no_grad():
        got = G(z)
    ref = reference_images(sd, z)
    assert ref.abs().max() < 1 and torch.allclose(got, ref, rtol=0, atol=1e-12)
    assert G.map_options() == {} and G.weights["source"] == "file" and len(G.weights["sha256"]) == 64


def test_every_key_is_used_sv0_kept_u0_not_updated(checkpoint):
    path, sd = checkpoint
    G = ganmetric.load_generator("bigbigan", weights=str(path))
    state = G.big_gan.state_dict()
    assert set(state) == set(sd) and all(torch.equal(state[k], sd[k]) for k in sd)
    with torch.no_grad():
        G(G.sample(2, seed=1))
    assert all(torch.equal(G.big_gan.state_dict()[k], sd[k]) for k in sd if k.endswith(("u0", "sv0")))


def test_the_class_is_fixed_at_0(checkpoint, tmp_path):
    path, sd = checkpoint
    z = normal_rows(2, 4 * CHUNK, 5).float()
    images = []
    for row in (0, 1):
        changed = dict(sd)
        changed["shared.weight"] = sd["shared.weight"].clone()
        changed["shared.weight"][row] += 1
        torch.save(changed, tmp_path / f"row{row}.pth")
        with torch.no_grad():
            images.append(ganmetric.load_generator("bigbigan", weights=str(tmp_path / f"row{row}.pth"))(z))
    with torch.no_grad():
        base = ganmetric.load_generator("bigbigan", weights=str(path))(z)
    assert not torch.allclose(images[0], base) and torch.equal(images[1], base)


def test_loading_is_strict_one_line_per_fault(checkpoint, tmp_path):
    _, sd = checkpoint
    cases = {"missing": ({k: v for k, v in sd.items() if k != "blocks.1.0.bn2.gain.sv0"}, "blocks.1.0.bn2.gain.sv0"),
             "extra": ({**sd, "blocks.0.0.bn1.extra": torch.zeros(1)}, "blocks.0.0.bn1.extra"),
             "shape": ({**sd, "output_layer.0.gain": torch.zeros(5)}, "output_layer.0.gain"),
             "flat": ({k: v for k, v in sd.items() if ".bn" not in k}, "blocks.0.0.bn1.gain.weight"),
             "not hier": ({**sd, "blocks.0.0.bn1.gain.weight": torch.zeros(16, SHARED)}, "only hierarchical-z")}
    for name, (state, words) in cases.items():
        torch.save(state, tmp_path / f"{name}.pth")
        with pytest.raises(WeightsError) as err:
            ganmetric.load_generator("bigbigan", weights=str(tmp_path / f"{name}.pth"))
        assert words in str(err.value) and "\n" not in str(err.value), name


def test_other_families_and_sizes_are_refused_in_one_line(checkpoint, tmp_path):
    torch.save({"g_running": {}, "generator": {}}, tmp_path / "sg1.model")
    torch.save({"g_ema": {}}, tmp_path / "sg2.pt")
    torch.save({"netG_state_dict": {}}, tmp_path / "dcgan.tar")
    for name, words in [("sg1.model", "StyleGAN (1) checkpoint (key 'g_running')"),
                        ("sg2.pt", "StyleGAN2 checkpoint"), ("dcgan.tar", "found netG_state_dict")]:
        with pytest.raises(WeightsError) as err:
            ganmetric.load_generator("bigbigan", weights=str(tmp_path / name))
        assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(WeightsError) as err:  # the published model's config is 128 px, 120-d
        ganmetric.load_generator("bigbigan-128", weights=str(checkpoint[0]))
    assert "holds a 32 px generator with dim_z 16, but model bigbigan-128 is 128 px with dim_z 120" in str(err.value)
    with pytest.raises(InputError, match="weights file not found"):
        ganmetric.load_generator("bigbigan", weights=str(tmp_path / "absent.pth"))


def test_sample_is_standard_normal_and_the_metric_is_exact(checkpoint):
    G = ganmetric.load_generator("bigbigan", weights=str(checkpoint[0]), dtype="float64")
    assert torch.equal(G.sample(3, seed=9), normal_rows(3, 4 * CHUNK, 9))
    assert_jacobian_matches_dense(G, G.sample(1, seed=3)[0])


@needs_zoo
@pytest.mark.slow  # the full 70 M-parameter network at 128 px: about 3 s per image
def test_fixture_the_repositorys_own_output():
    R = np.load(ZOO / "bigbigan_ref.npz")
    G = ganmetric.load_generator("bigbigan", weights=str(ZOO / "bigbigan.pth"))
    assert len(G.big_gan.state_dict()) == 166 and G.latent_dim == 120 and G.resolution == 128
    with torch.no_grad():
        got = G(torch.from_numpy(R["z"])).double().numpy()
    assert np.abs(got - R["img"]).max() < 1e-4 * np.abs(R["img"]).max()


def test_loads_and_runs_with_the_default_device_meta(checkpoint):
    """Every tensor the family creates names its device: with torch's default device set to meta, a model on
    the CPU still loads (spectral norms and BatchNorms folded) and gives the same images."""
    G = ganmetric.load_generator("bigbigan", weights=str(checkpoint[0]))
    z = torch.randn(2, 4 * CHUNK, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = G(z)
        torch.set_default_device("meta")
        try:
            got = ganmetric.load_generator("bigbigan", weights=str(checkpoint[0]))(z)
        finally:
            torch.set_default_device(None)
    assert got.device.type == "cpu" and torch.equal(got, ref)
