"""DeePSim (family deepsim): the authors' state-dict layout, strict loading, the output formula, variants, configs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, WeightsError
from ganmetric.generators import model_meta
from ganmetric.generators.deepsim import DeePSimGenerator
from helpers_zoo import DEEPSIM_WIDTHS, ZOO, deepsim_reference, deepsim_state, rel_err


@pytest.fixture
def fc6_file(tmp_path):
    state = deepsim_state("fc6")
    torch.save(state, tmp_path / "upconvGAN_fc6.pt")
    return tmp_path / "upconvGAN_fc6.pt", state


@pytest.mark.parametrize("variant", ["fc6", "pool5"])
def test_images_match_the_authors_formula_in_float64(tmp_path, variant):
    state = deepsim_state(variant, code=24 if variant == "fc6" else 5)
    torch.save(state, tmp_path / "g.pt")
    G = ganmetric.load_generator("deepsim", weights=str(tmp_path / "g.pt"), dtype="float64")
    assert G.variant == variant and G.resolution == 256
    assert G.latent_dim == (24 if variant == "fc6" else 5 * 36)
    z = G.sample(3, seed=1)
    ref = deepsim_reference(state, z)
    assert rel_err(G(z), ref) < 1e-12
    assert ((ref == 1) | (ref == -1)).double().mean() > 0.02  # the clamp acts on these weights
    G32 = ganmetric.load_generator("deepsim", weights=str(tmp_path / "g.pt"))
    assert rel_err(G32(z.float()), ref) < 1e-4  # float32 rounding of pixel-unit activations (fixtures README)


def test_no_clamp_is_the_unclamped_affine_image_and_is_recorded(fc6_file):
    path, state = fc6_file
    G = ganmetric.load_generator("deepsim", weights=str(path), dtype="float64", clamp=False)
    z = G.sample(2, seed=3)
    ref = deepsim_reference(state, z, clamp=False)
    assert ref.abs().max() > 1.2 and rel_err(G(z), ref) < 1e-12
    meta = model_meta(G)["model_options"]
    assert meta["family"] == "deepsim" and meta["variant"] == "fc6" and meta["clamp"] is False
    assert meta["weights"]["source"] == "file" and len(meta["weights"]["sha256"]) == 64


def test_the_clamp_zeroes_the_derivative_of_saturated_pixels(fc6_file):
    """What docs/models.md says: with the clamp, a pixel outside [-1, 1] does not move with the code."""
    path, _ = fc6_file
    G = ganmetric.load_generator("deepsim", weights=str(path), dtype="float64")
    z = G.sample(1, seed=3)
    v = torch.randn(z.shape, generator=torch.Generator(device="cpu").manual_seed(0), dtype=torch.float64)
    x, dx = torch.func.jvp(G, (z,), (v,))
    saturated = x.abs() == 1
    assert saturated.any() and (dx[saturated] == 0).all() and (dx[~saturated] != 0).float().mean() > 0.9


def test_keys_of_the_authors_local_copies_load(fc6_file, tmp_path):
    path, state = fc6_file
    local = {k.replace(".", ".1.", 1): v for k, v in state.items()}  # defc7.1.weight
    torch.save(local, tmp_path / "local.pt")
    G = ganmetric.load_generator("deepsim", weights=str(tmp_path / "local.pt"), dtype="float64")
    z = G.sample(1)
    assert rel_err(G(z), deepsim_reference(state, z)) < 1e-12
    mixed = dict(state)
    mixed["defc7.1.weight"] = mixed.pop("defc7.weight")
    torch.save(mixed, tmp_path / "mixed.pt")
    with pytest.raises(WeightsError, match="some keys have the authors' local '.1.' form"):
        ganmetric.load_generator("deepsim", weights=str(tmp_path / "mixed.pt"))


@pytest.mark.parametrize("change, match", [
    (lambda s: s.pop("conv4_1.bias"), r"does not fit a DeePSim fc6 generator \(missing keys conv4_1.bias\)"),
    (lambda s: s.update({"deconv0.extra": torch.ones(1)}), r"unexpected keys deconv0.extra"),
    (lambda s: s.update({"deconv3.weight": torch.ones(8, 6, 3, 3)}), r"deconv3.weight.*shape"),
    (lambda s: s.update({"defc5.weight": torch.ones(40, 32)}), r"defc5 has 40 outputs, but deconv5 takes 8 channels"),
])
def test_strict_loading_one_line_each(fc6_file, tmp_path, change, match):
    _, state = fc6_file
    bad = dict(state)
    change(bad)
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(WeightsError, match=match) as info:
        ganmetric.load_generator("deepsim", weights=str(tmp_path / "bad.pt"))
    assert "\n" not in str(info.value)


def test_variant_from_shapes_and_mismatches(tmp_path):
    torch.save(deepsim_state("pool5", code=5), tmp_path / "pool5.pt")
    torch.save(deepsim_state("fc8", code=1000, fc=8), tmp_path / "fc8.pt")
    torch.save(deepsim_state("fc6", code=4096, fc=4), tmp_path / "fc6.pt")
    assert ganmetric.load_generator("deepsim", weights=str(tmp_path / "fc8.pt")).variant == "fc8"
    assert ganmetric.load_generator("deepsim", weights=str(tmp_path / "fc6.pt")).variant == "fc6"
    assert ganmetric.load_generator("deepsim", weights=str(tmp_path / "fc6.pt"), variant="fc7").variant == "fc7"
    with pytest.raises(WeightsError, match=r"pool5.pt holds a pool5 generator \(Rconv layers, 256x6x6 codes\), not "
                                           r"the DeePSim variant fc6"):
        ganmetric.load_generator("deepsim", weights=str(tmp_path / "pool5.pt"), variant="fc6")
    with pytest.raises(WeightsError, match=r"fc6.pt holds an fc6/fc7 generator \(4096-d codes\), not the DeePSim "
                                           r"variant fc8"):
        ganmetric.load_generator("deepsim", weights=str(tmp_path / "fc6.pt"), variant="fc8")
    with pytest.raises(WeightsError, match="holds an fc8 generator"):
        ganmetric.load_generator("deepsim-fc6", weights=str(tmp_path / "fc8.pt"))
    with pytest.raises(InputError, match=r"DeePSim variant 'fc9' is not one of"):
        ganmetric.load_generator("deepsim", weights=str(tmp_path / "fc6.pt"), variant="fc9")
    with pytest.raises(InputError, match="model deepsim-fc6 is the DeePSim fc6 generator; variant fc7 needs"):
        ganmetric.load_generator("deepsim-fc6", weights=str(tmp_path / "fc6.pt"), variant="fc7")


def test_named_configs_find_the_file_where_models_fetch_says(tmp_path, monkeypatch, fc6_file):
    path, state = fc6_file
    monkeypatch.setenv("GANMETRIC_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsError, match=r"deepsim-fc7: ganmetric cannot download its weights; download "
                                           r"upconvGAN_fc7.pt from https://onedrive.live.com/\S+ and put it at "
                                           r".*cache/weights/deepsim-fc7/upconvGAN_fc7.pt"):
        ganmetric.load_generator("deepsim-fc7")
    target = tmp_path / "cache" / "weights" / "deepsim-fc7" / "upconvGAN_fc7.pt"
    target.parent.mkdir(parents=True)
    target.write_bytes(path.read_bytes())
    G = ganmetric.load_generator("deepsim-fc7", dtype="float64")
    assert G.variant == "fc7" and G.name == "deepsim-fc7"
    assert G.weights["path"] == str(target.resolve()) and G.weights["source"] == "pretrained"  # rebuilt by name
    z = G.sample(1)
    assert rel_err(G(z), deepsim_reference(state, z)) < 1e-12
    from ganmetric.generators import load_recorded_generator
    assert load_recorded_generator(model_meta(G)).weights == G.weights  # a result rebuilds it by its name


def test_sample_is_standard_normal_row_by_row(fc6_file):
    G = ganmetric.load_generator("deepsim", weights=str(fc6_file[0]))
    z = G.sample(400, seed=5)
    assert torch.equal(G.sample(3, seed=5), z[:3])
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02


def test_sefa_uses_defc7_and_pool5_is_refused_in_one_line(fc6_file, tmp_path):
    from ganmetric.axes import sefa_directions
    path, state = fc6_file
    G = ganmetric.load_generator("deepsim", weights=str(path))
    d = sefa_directions(G, k=5)
    W = state["defc7.weight"].double().T.numpy()  # (n, m): one column per output unit
    W = W / np.linalg.norm(W, axis=0)
    vals, vecs = np.linalg.eigh(W @ W.T)
    assert d.info["layers"] == ["defc7"]
    np.testing.assert_allclose(d.values, vals[::-1][:5], rtol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(d.vectors * vecs[:, ::-1][:, :5].T, axis=1)), 1, atol=1e-8)
    torch.save(deepsim_state("pool5", code=5), tmp_path / "pool5.pt")
    with pytest.raises(InputError, match="SeFa needs a first layer that is nn.Linear or nn.ConvTranspose2d"):
        sefa_directions(ganmetric.load_generator("deepsim", weights=str(tmp_path / "pool5.pt")))


def test_layers_are_the_authors_names(fc6_file):
    from ganmetric.distances import generator_layers
    G = ganmetric.load_generator("deepsim", weights=str(fc6_file[0]))
    names = [i.name for i in generator_layers(G) if i.usable]
    assert names == ["defc7", "defc6", "defc5", "deconv5", "conv5_1", "deconv4", "conv4_1", "deconv3", "conv3_1",
                     "deconv2", "deconv1", "deconv0"]
    assert isinstance(G, DeePSimGenerator)


@pytest.mark.slow
def test_full_size_fc6_matches_the_formula(tmp_path):
    """The authors' architecture at its real size (56 M parameters), random weights, float32 vs a float64 reference."""
    state = deepsim_state("fc6", code=4096, fc=4096, widths=DEEPSIM_WIDTHS, last_scale=40.0)
    torch.save(state, tmp_path / "upconvGAN_fc6.pt")
    G = ganmetric.load_generator(str(tmp_path / "upconvGAN_fc6.pt"))  # found by its layout
    assert (G.variant, G.latent_dim, G.resolution) == ("fc6", 4096, 256)
    assert sum(p.numel() for p in G.parameters()) == 56_097_891  # the fixture's count for the authors' fc6
    z = G.sample(1, seed=2)
    assert rel_err(G(z), deepsim_reference(state, z)) < 1e-5


@pytest.mark.slow
@pytest.mark.skipif(not ZOO.is_dir(), reason="the shared reference fixtures are not here")
@pytest.mark.parametrize("variant", ["fc6", "pool5", "fc8"])
def test_fixtures_made_with_the_authors_code(variant):
    """``2 * visualize(x) - 1`` and, unclamped, ``forward(x)`` (the RGB raw output) of GAN-Geometry's upconvGAN."""
    ref = np.load(ZOO / f"deepsim_{variant}_ref.npz")
    x = torch.from_numpy(ref["x"]).reshape(ref["x"].shape[0], -1)
    G = ganmetric.load_generator(str(ZOO / f"deepsim_{variant}.pt"))
    with torch.no_grad():
        assert rel_err(G(x), ref["vis"] * 2 - 1) < 1e-4
        raw = ganmetric.load_generator(str(ZOO / f"deepsim_{variant}.pt"), clamp=False)(x) * 127.5 + 127.5
    mean = np.array([123.0, 117.0, 104.0]).reshape(1, 3, 1, 1)
    assert rel_err(raw, ref["fwd"] + mean) < 1e-4
