"""The pretrained-config registry, model families and what ``load_generator`` accepts."""
from __future__ import annotations

import json

import pytest
import torch

import ganmetric
from ganmetric.errors import InputError
from ganmetric.generators import FAMILIES, available_configs, register_family
from ganmetric.generators.families import check_options
from ganmetric.generators.registry import loader_options


def test_every_shipped_config_has_a_registered_family():
    configs = available_configs()
    assert {"dcgan-face", "eyes-cdcgan", "stylegan2-demo", "biggan-deep-128"} <= set(configs)
    assert all(cfg["family"] in FAMILIES for cfg in configs.values())
    assert {"dcgan", "cdcgan", "biggan", "stylegan2"} <= set(FAMILIES)


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(InputError, match=r"model 'nope' is not one of \{.*dcgan-face.*stylegan2-demo"):
        ganmetric.load_generator("nope")


def test_options_a_family_does_not_take_are_refused_in_plain_words():
    with pytest.raises(InputError, match="^class name cannot be set for model dcgan-face; the options it takes are: "
                                         "weights, pretrained$"):
        ganmetric.load_generator("dcgan-face", class_name="blue")


def test_check_options_reads_the_builder_signature():
    def builder(cfg, *, latent_space="z", weights=None, truncation=1.0):
        return None

    check_options(builder, "model x", {"weights": "w.pt"})
    with pytest.raises(InputError, match="latent dim cannot be set for model x; the options it takes are: weights, "
                                         "truncation"):
        check_options(builder, "model x", {"latent_dim": 3})


def test_loader_options_per_kind_of_model():
    assert loader_options("eyes-cdcgan") == ["weights", "pretrained", "class_name"]
    assert "latent_dim" in loader_options("my_module:factory")
    assert "output_range" in loader_options("generator.pt2")
    assert loader_options("no-such-model") is None


def test_a_config_json_is_data_and_names_its_family(tmp_path, monkeypatch):
    cfg = json.loads(json.dumps(available_configs()["stylegan2-demo"]))
    cfg.pop("_path")
    cfg["name"] = "my-demo"
    (tmp_path / "my-demo.json").write_text(json.dumps(cfg))
    G = ganmetric.load_generator(str(tmp_path / "my-demo.json"), latent_space="z")
    assert G.latent_dim == 128 and G.name == str(tmp_path / "my-demo.json") and G.file_sha256 is not None
    monkeypatch.setenv("GANMETRIC_CONFIG_PATH", str(tmp_path))
    assert "my-demo" in available_configs()
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read model config .*broken.json"):
        ganmetric.load_generator(str(tmp_path / "broken.json"))
    (tmp_path / "partial.json").write_text(json.dumps({"name": "p"}))
    with pytest.raises(InputError, match="must be a JSON object with keys name, family, latent_spaces"):
        ganmetric.load_generator(str(tmp_path / "partial.json"))


def test_a_new_family_registers_itself(monkeypatch):
    monkeypatch.setitem(FAMILIES, "test-family", None)

    @register_family("test-family")
    def build(cfg, *, latent_space="z"):
        return None

    assert FAMILIES["test-family"] is build


@pytest.mark.parametrize("family", ["dcgan", "cdcgan", "stylegan2", "biggan"])
def test_loading_a_model_leaves_every_random_stream_alone(family, tmp_path, monkeypatch):
    """No torch.manual_seed (it reseeds every CUDA generator of the user's), and the CPU state is restored."""
    from helpers_devices import TINY_MODELS
    model, options = TINY_MODELS[family](tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model must not seed torch's global generators")
    for name in ("manual_seed", "seed"):
        monkeypatch.setattr(torch, name, refuse)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", refuse)
    monkeypatch.setattr(torch.cuda, "manual_seed", refuse)
    cpu = torch.random.get_rng_state()
    gpu = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    G = ganmetric.load_generator(model, **options)
    D = ganmetric.load_distance("lpips-squeeze", lpips_backbone="random")
    assert torch.equal(torch.random.get_rng_state(), cpu)
    if gpu is not None:
        assert all(torch.equal(a, b) for a, b in zip(torch.cuda.get_rng_state_all(), gpu))
    # the same weights as a load under another default device (built on the CPU whatever it is)
    with torch.device("meta"):
        again = ganmetric.load_generator(model, **options)
    assert again.device.type == "cpu" and D.has_features
    for (name, a), b in zip(G.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
