"""Model provenance: what made a generator is recorded, rebuilt from the record, and mismatches are refused."""
from __future__ import annotations

import shutil
import textwrap
import warnings

import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, UntrainedWeightsWarning
from ganmetric.generators import ModelSpec, check_same_model, describe_model, load_recorded_generator, model_meta
from helpers import TinyConvGenerator

USER_MODULE = textwrap.dedent('''
    from torch import nn


    def linear():
        net = nn.Sequential(nn.Linear(5, 16, bias=False), nn.Unflatten(1, (1, 4, 4)))
        net.latent_dim = 5
        return net
''')


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    (tmp_path / "gm_spec_nets.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def eyes_hazel():
    return ganmetric.load_generator("eyes-cdcgan", class_name="hazel")


# --- sampling: row i of sample(N, seed) does not depend on N -------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: TinyConvGenerator(n=100, res=8),
    lambda: ganmetric.load_generator("stylegan2-demo", latent_space="z"),
    lambda: ganmetric.load_generator("stylegan2-demo", latent_space="w"),
    lambda: ganmetric.load_generator("stylegan2-demo", latent_space="w+"),
], ids=["gaussian", "stylegan2-z", "stylegan2-w", "stylegan2-w+"])
def test_sample_rows_do_not_depend_on_n(make):
    G = make()
    few, many = G.sample(6, seed=3), G.sample(40, seed=3)
    # the draws are identical; w and w+ also pass them through the mapping network, whose
    # batched matrix products may round differently for 6 and 40 rows (float32: ~1e-6)
    torch.testing.assert_close(many[:6], few, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(G.sample(1, seed=3)[0], many[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(G.sample(6, seed=4), few)  # the seed matters


def test_biggan_samples_do_not_depend_on_n():
    pytest.importorskip("pytorch_pretrained_biggan")
    from helpers_models import small_biggan
    from ganmetric.generators.biggan import BigGANGenerator
    G = BigGANGenerator(small_biggan(), latent_space="full").double()
    few, many = G.full_sample(5, seed=7), G.full_sample(50, seed=7)
    torch.testing.assert_close(many[:5], few, rtol=0, atol=1e-12)  # truncated noise and class draws, row by row


# --- what is recorded ------------------------------------------------------------------------------------------

def test_class_and_weights_are_recorded(eyes_hazel):
    meta = model_meta(eyes_hazel)
    assert meta["model"] == "eyes-cdcgan" and meta["latent_space"] == "z" and meta["latent_dim"] == 100
    assert meta["model_options"]["class_name"] == "hazel"
    assert meta["model_options"]["weights"] == {
        "source": "pretrained", "sha256": "dd486abbd738bfe3d28ddd46987bec11e3842ddcc8c28ccc5251b52c6ecf4da0"}
    assert "class name hazel" in describe_model(eyes_hazel)


def test_default_class_is_recorded_by_value():
    """No class given: the class in effect (the first) is recorded, so a later default change cannot alter it."""
    G = ganmetric.load_generator("eyes-cdcgan")
    assert model_meta(G)["model_options"]["class_name"] == "amber"


def test_stylegan2_demo_is_offline_seeded_and_says_it_is_untrained():
    a = ganmetric.load_generator("stylegan2-demo", latent_space="w", dtype="float64")
    b = ganmetric.load_generator("stylegan2-demo", latent_space="w", dtype="float64")
    z = a.sample(2, seed=0)
    torch.testing.assert_close(a(z), b(z), rtol=0, atol=0)  # same seed, same weights: a copy, not a computation
    assert a.latent_dim == 128 and a.resolution == 64
    assert model_meta(a)["model_options"]["weights"] == {"source": "random", "seed": 0}
    assert "untrained" in describe_model(a)
    assert "UNTRAINED" in ganmetric.generators.available_configs()["stylegan2-demo"]["description"]
    assert ganmetric.load_generator("stylegan2-demo", latent_space="w+").latent_dim == 1280


def test_custom_module_without_weights_warns_and_records_none(user_dir):
    with pytest.warns(UntrainedWeightsWarning, match="gm_spec_nets:linear runs on its untrained initial weights"):
        G = ganmetric.load_generator("gm_spec_nets:linear")
    assert G.name == "gm_spec_nets:linear"  # as the user wrote it
    assert model_meta(G)["model_options"]["weights"] is None
    assert "weights: none (untrained initial weights)" in describe_model(G)


def test_custom_weights_are_recorded_by_digest(user_dir):
    with pytest.warns(UntrainedWeightsWarning):
        net = ganmetric.load_generator("gm_spec_nets:linear").net
    torch.save(net.state_dict(), user_dir / "w.pt")
    G = ganmetric.load_generator("gm_spec_nets:linear", weights="w.pt")
    meta = model_meta(G)
    assert meta["model_options"]["weights"]["source"] == "file"
    assert meta["model_options"]["weights"]["path"] == str((user_dir / "w.pt").resolve())
    # the same bytes under another name are the same weights; other bytes are not
    shutil.copy(user_dir / "w.pt", user_dir / "copy.pt")
    check_same_model(meta, ganmetric.load_generator("gm_spec_nets:linear", weights="copy.pt"))
    torch.save({k: v + 1 for k, v in net.state_dict().items()}, user_dir / "other.pt")
    with pytest.raises(InputError, match="weights file .*other.pt"):
        check_same_model(meta, ganmetric.load_generator("gm_spec_nets:linear", weights="other.pt"))


# --- rebuilding from the record, and refusing mismatches --------------------------------------------------------

def test_the_record_rebuilds_the_same_generator(eyes_hazel):
    meta = model_meta(eyes_hazel)
    G = load_recorded_generator(meta)
    assert G.class_name == "hazel"
    z = G.sample(2, seed=1)
    torch.testing.assert_close(G(z), eyes_hazel(z), rtol=0, atol=0)  # same weights, same class, same code path


def test_another_class_is_refused_in_one_line(eyes_hazel):
    meta = model_meta(eyes_hazel)
    with pytest.raises(InputError, match="^the axis file was made with another model setting: class name hazel "
                                         "there, blue here$"):
        load_recorded_generator(meta, ModelSpec(options={"class_name": "blue"}), what="the axis file")
    assert load_recorded_generator(meta, ModelSpec(options={"class_name": "hazel"})).class_name == "hazel"


def test_another_model_is_refused(eyes_hazel):
    with pytest.raises(InputError, match="model eyes-cdcgan there, dcgan-face here"):
        load_recorded_generator(model_meta(eyes_hazel), ModelSpec("dcgan-face"))


def test_another_latent_space_is_refused():
    meta = model_meta(ganmetric.load_generator("stylegan2-demo", latent_space="w"))
    with pytest.raises(InputError, match="latent space w there, z here"):
        load_recorded_generator(meta, ModelSpec(latent_space="z"))


def test_old_files_without_model_options_are_checked_on_name_space_and_size(eyes_hazel):
    old = {"model": "eyes-cdcgan", "latent_space": "z", "latent_dim": 100}
    check_same_model(old, eyes_hazel)
    with pytest.raises(InputError, match="latent size 64 there, 100 here"):
        check_same_model({**old, "latent_dim": 64}, eyes_hazel)


def test_a_record_without_a_model_needs_one_named():
    with pytest.raises(InputError, match="does not record which model made it"):
        load_recorded_generator({"latent_dim": 100})


def test_spec_from_meta_passes_only_loader_options(user_dir):
    with pytest.warns(UntrainedWeightsWarning):
        G = ganmetric.load_generator("gm_spec_nets:linear", output_range="0,1")
    spec = ModelSpec.from_meta(model_meta(G))
    assert spec.options == {"output_range": "0,1", "input_shape": "flat", "latent_dim": 5}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedWeightsWarning)
        assert spec.load().output_range == "0,1"


# --- a record rebuilds only pretrained configs by itself (issue 21) -----------------------------------------------

@pytest.mark.parametrize("model, kind", [
    ("gm_spec_nets:linear", "your own code, module.path:factory"),
    ("nets/gen.pt", "a saved program file"), ("gen.ts", "a saved program file"), ("gen.pt2", "a saved program file"),
    ("my-config.json", "a config file"),
    ("hf://someone/gan", "not a pretrained model here"), ("ffhq.pkl", "not a pretrained model here"),
    ("a-config-elsewhere", "not a pretrained model here"),
])
def test_only_pretrained_names_are_rebuilt_from_a_record(user_dir, model, kind):
    meta = {"model": model, "latent_space": "z", "latent_dim": 5, "model_options": {"weights": None}}
    with pytest.raises(InputError, match=f"^the file records the model {model} \\({kind}"
                                         f".*if you trust it, name it yourself \\(model {model}\\)$"):
        load_recorded_generator(meta)  # (that nothing is imported: test_cli_recorded_models, with marker files)


def test_is_pretrained_name_is_an_allow_list(user_dir):
    from ganmetric.generators.registry import is_pretrained_name
    assert is_pretrained_name("dcgan-face") and is_pretrained_name("stylegan2-demo")
    for name in ("gm_spec_nets:linear", "os:abort", "dcgan-face.json", "x.pt2", "a/dcgan-face", "", None, 3):
        assert not is_pretrained_name(name), name
    (user_dir / "eyes-cdcgan").write_text("a file named like a config is a file")
    assert not is_pretrained_name("eyes-cdcgan")


def test_a_named_model_is_loaded_and_checked(user_dir):
    with pytest.warns(UntrainedWeightsWarning):
        meta = model_meta(ganmetric.load_generator("gm_spec_nets:linear"))
    with pytest.warns(UntrainedWeightsWarning):
        G = load_recorded_generator(meta, ModelSpec("gm_spec_nets:linear"))
    assert G.latent_dim == 5
    with pytest.raises(InputError, match="latent size 5 there, 100 here; model gm_spec_nets:linear there, "
                                         "dcgan-face here"):
        load_recorded_generator(meta, ModelSpec("dcgan-face"))


def test_a_recorded_weights_file_is_never_taken_from_the_record(user_dir):
    with pytest.warns(UntrainedWeightsWarning):
        net = ganmetric.load_generator("gm_spec_nets:linear").net
    torch.save(net.state_dict(), user_dir / "w.pt")
    meta = model_meta(ganmetric.load_generator("gm_spec_nets:linear", weights="w.pt"))
    assert "weights" not in ModelSpec.from_meta(meta).options
    path = meta["model_options"]["weights"]["path"]
    with pytest.raises(InputError, match=f"^the file records weights from the file {path} \\(sha256 [0-9a-f]{{12}}\\); "
                                         f"ganmetric loads a weights file only when you name it: give weights "
                                         f"{path} again \\(the same file, checked by sha256\\)$"):
        load_recorded_generator(meta, ModelSpec("gm_spec_nets:linear"))
    with pytest.raises(InputError, match=f"name it yourself \\(model gm_spec_nets:linear, weights {path}\\)$"):
        load_recorded_generator(meta)
    shutil.copy(user_dir / "w.pt", user_dir / "copy.pt")  # the same bytes under another name
    G = load_recorded_generator(meta, ModelSpec("gm_spec_nets:linear", options={"weights": "copy.pt"}))
    torch.testing.assert_close(G.net[0].weight, net[0].weight, rtol=0, atol=0)
