"""SeFa as its authors compute it, against independent float64 computations of their formula.

The authors (genforce/sefa, ``factorize_weight``): weights as (latent size) x (output units),
each column divided by its norm, eigenvectors of ``W W^T``. The references here build ``W``
another way than the library does (autograd Jacobians of the layers on the code, or the
rosinality state-dict keys) and factorise it with ``numpy.linalg.eigh``.
"""
from __future__ import annotations

import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ganmetric.axes import sefa_directions
from ganmetric.errors import InputError
from ganmetric.generators.dcgan import DCGANGenerator
from ganmetric.generators.stylegan2 import StyleGAN2Generator
from ganmetric.generators.stylegan2_layers import StyleGAN2Network
from ganmetric.io import sha256_file
from ganmetric_cli.main import main
from helpers import save_with

#: StyleGAN2 for the tests: 16 px, style_dim 12, n_latent 6 (conv1, convs.0-3; to_rgb1, to_rgbs.0-1)
SG2 = dict(channels=[8, 8, 4], style_dim=12, n_mlp=2)


def _same_directions(V, W, atol):
    """Rows of V and W equal up to sign."""
    np.testing.assert_allclose(np.abs(np.einsum("ij,ij->i", V, W)), 1.0, atol=atol)


def _authors_reference(W: np.ndarray, normalise: bool = True):
    """Eigenpairs (descending) of W W^T for W (n, m), columns normalised: the authors' formula, float64."""
    if normalise:
        W = W / np.linalg.norm(W, axis=0, keepdims=True)
    vals, vecs = np.linalg.eigh(W @ W.T)
    return vals[::-1], vecs[:, ::-1].T


def _dcgan(weight: np.ndarray) -> DCGANGenerator:
    G = DCGANGenerator(nz=weight.shape[0], ngf=4, nc=3, resolution=8).double()
    with torch.no_grad():
        G.main[0].weight.copy_(torch.as_tensor(weight))
    return G


def _uneven_weight(seed=0) -> np.ndarray:
    """A first-layer weight (6, 4, 4, 4) whose output channels have norms from 0.2 to 3 (today's test weight)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((6, 4, 4, 4)) * np.linspace(0.2, 3.0, 4)[None, :, None, None]


def _first_layer_jacobian(G) -> np.ndarray:
    """(n, m): d(first layer output)/d(code) by autograd, one column per output unit."""
    first = G.main[0]
    n = G.latent_dim
    J = torch.autograd.functional.jacobian(lambda z: first(z[None, :, None, None]).flatten(),
                                           torch.zeros(n, dtype=torch.float64))
    return J.T.numpy()


def test_dcgan_matches_the_authors_formula():
    G = _dcgan(_uneven_weight())
    vals, vecs = _authors_reference(_first_layer_jacobian(G))
    d = sefa_directions(G)
    assert d.method == "sefa" and d.info == {"variant": "authors", "layers": ["main.0"]}
    np.testing.assert_allclose(d.values, vals, rtol=1e-10)
    _same_directions(d.vectors, vecs, 1e-8)
    assert d.values.sum() == pytest.approx(4 * 4 * 4)  # trace of W W^T = number of unit columns


def test_column_normalisation_matters():
    """Rescaling output units leaves the authors' SeFa unchanged and moves the raw-weight Gram's directions."""
    W = _uneven_weight()
    scales = np.exp(np.random.default_rng(1).uniform(np.log(0.01), np.log(100), size=(1, 4, 4, 4)))
    base, rescaled = _dcgan(W), _dcgan(W * scales)
    a, b = sefa_directions(base), sefa_directions(rescaled)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-10)
    _same_directions(a.vectors, b.vectors, 1e-8)
    raw_a = sefa_directions(base, variant="unnormalised")
    raw_b = sefa_directions(rescaled, variant="unnormalised")
    assert raw_a.method == "sefa-unnormalised"
    assert abs(raw_a.vectors[0] @ raw_b.vectors[0]) < 0.9
    # on a weight whose columns differ in norm (0.2 to 3), the two variants differ
    assert np.abs(np.einsum("ij,ij->i", a.vectors, raw_a.vectors)).min() < 0.9


def test_unnormalised_keeps_todays_numbers():
    """variant='unnormalised' is the first-layer Gram ganmetric computed before (values copied from that code)."""
    d = sefa_directions(_dcgan(_uneven_weight()), variant="unnormalised")
    np.testing.assert_allclose(d.values, [381.47104444049904, 296.4097567035092, 228.2769948443436,
                                          181.85484686234176, 147.9509301311506, 113.94548372055395], rtol=1e-12)
    before = np.array([
        [0.15729878644692827, 0.2426918031465476, -0.49910078451715345, 0.816090052258862, -0.03142780685978468,
         -0.01629438315109491],
        [0.7504201119407081, -0.32107454756275045, -0.3017460584968122, -0.23737351780603963, -0.27004724726237467,
         0.33683587097325124],
        [0.08759400684194604, 0.3711719412328369, 0.11391888996365208, -0.02107840514367827, 0.5797511786214834,
         0.7106514182353184]])
    got = d.vectors[:3] * np.sign(d.vectors[:3, :1])
    np.testing.assert_allclose(got, before, atol=1e-12)


def test_dcgan_face_both_variants(dcgan_face):
    """On the real model: today's raw-Gram numbers kept; the authors' top 10 overlap them at 0.967, 2 and 3 swap."""
    raw = sefa_directions(dcgan_face, k=10, variant="unnormalised")
    np.testing.assert_allclose(raw.values, [198.9061559439476, 111.46124579158732, 70.50773780822969,
                                            66.1824146879106, 58.024403348861284, 46.804576958402,
                                            42.734174834108565, 37.517137486165645, 35.13272622872219,
                                            33.538759842153105], rtol=1e-9)
    np.testing.assert_allclose((raw.vectors[:3] * np.sign(raw.vectors[:3, :1]))[:, :3],
                               [[0.02945794362918956, 0.04081209133884972, -0.05165883829738671],
                                [0.05389217392646194, 0.07157160185704925, -0.20641388836959498],
                                [0.01757768554237296, 0.1900722743470116, 0.07625046806503577]], atol=1e-9)
    ours = sefa_directions(dcgan_face, k=10)
    cos = np.linalg.svd(ours.vectors @ raw.vectors.T, compute_uv=False)
    assert (cos ** 2).mean() == pytest.approx(0.967, abs=1e-3)
    pair = np.abs(ours.vectors[2:4] @ raw.vectors[2:4].T)
    assert pair[0, 0] < 0.3 and pair[1, 1] < 0.3 and pair[0, 1] > 0.9 and pair[1, 0] > 0.9


def _stylegan2(latent_space="w", seed=0) -> StyleGAN2Generator:
    """A small random StyleGAN2 whose style maps have output units of very different norms."""
    net = StyleGAN2Network(seed=seed, **SG2)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, module in net.named_modules():
            if name.endswith("conv.modulation"):
                rows = module.weight.shape[0]
                module.weight.mul_(torch.exp(torch.randn(rows, 1, generator=g) * 1.5))
    return StyleGAN2Generator(net, latent_space=latent_space)


def _modulation_maps(G, names) -> np.ndarray:
    """(style_dim, sum of in_channels): the Jacobians of the named layers' style maps s(w), by autograd."""
    modules = dict(G.g_ema.named_modules())
    w0 = torch.zeros(G.style_dim, dtype=torch.float64)
    blocks = []
    for name in names:
        mod = modules[f"{name}.conv.modulation"]
        J = torch.autograd.functional.jacobian(lambda w: mod.double()(w[None])[0], w0)  # (in, style_dim)
        mod.float()
        blocks.append(J.T.numpy())
    return np.concatenate(blocks, axis=1)


def _state_dict_weights(G, names) -> np.ndarray:
    """(style_dim, sum of in_channels) from the rosinality keys ``NAME.conv.modulation.weight`` (stored, unscaled)."""
    sd = G.g_ema.state_dict()
    return np.concatenate([sd[f"{name}.conv.modulation.weight"].double().numpy().T for name in names], axis=1)


AUTHORS_ALL = ["conv1", "convs.0", "convs.1", "convs.2", "convs.3", "to_rgbs.1"]


@pytest.mark.parametrize("layers, names", [
    (None, AUTHORS_ALL),                                # the authors' layer_idx='all': convs and the last toRGB
    ("all", AUTHORS_ALL),
    ("0-1,to_rgb1", ["conv1", "to_rgb1", "convs.0"]),  # indices and names mixed
    ([4, 2, 2], ["convs.1", "convs.3"]),               # sorted and deduplicated, as the authors' parse_indices
    (5, ["to_rgbs.1"]),
])
def test_stylegan2_w_matches_the_authors_formula(layers, names):
    G = _stylegan2()
    d = sefa_directions(G, layers=layers)
    assert d.info["layers"] == _order(names)
    W = _state_dict_weights(G, names)
    rank = min(W.shape)  # beyond it the eigenvalues are 0 and the eigenvectors any basis of the null space
    vals, vecs = _authors_reference(W)
    np.testing.assert_allclose(d.values, vals, rtol=1e-9, atol=1e-12)
    _same_directions(d.vectors[:rank], vecs[:rank], 1e-7)
    raw = sefa_directions(G, layers=layers, variant="unnormalised")
    vals, vecs = _authors_reference(_modulation_maps(G, names), normalise=False)
    np.testing.assert_allclose(raw.values, vals, rtol=1e-9, atol=1e-12)
    _same_directions(raw.vectors[:3], vecs[:3], 1e-6)


def _order(names):
    """Names in the network's module order, as the library lists them."""
    return [n for n in ["conv1", "to_rgb1", "convs.0", "convs.1", "convs.2", "convs.3", "to_rgbs.0", "to_rgbs.1"]
            if n in names]


def test_stylegan2_layer_subset_changes_the_directions():
    G = _stylegan2()
    early, late = sefa_directions(G, k=3, layers="0-1"), sefa_directions(G, k=3, layers="3-5")
    assert np.abs(np.einsum("ij,ij->i", early.vectors, late.vectors)).max() < 0.95


def test_stylegan2_w_plus_places_directions_in_the_layers_rows():
    """w+: the authors' edit code[:, layers] += d v: the w direction in the rows the layers read, unit length."""
    G_w, G_plus = _stylegan2("w"), _stylegan2("w+")
    for layers, rows in ((None, [0, 1, 2, 3, 4, 5]), ("conv1,convs.0,to_rgbs.0", [0, 1, 3])):
        v = sefa_directions(G_w, k=2, layers=layers).vectors
        d = sefa_directions(G_plus, k=2, layers=layers)
        assert d.vectors.shape == (2, 6 * 12) and d.info["style_rows"] == rows
        expected = np.zeros((2, 6, 12))
        expected[:, rows] = v[:, None] / np.sqrt(len(rows))
        np.testing.assert_allclose(d.vectors, expected.reshape(2, -1), atol=1e-12)
    assert "style_rows" not in sefa_directions(G_w).info


def test_stylegan2_z_is_refused():
    with pytest.raises(InputError, match=r"SeFa is not defined in StyleGAN2's z space .*latent space w") as err:
        sefa_directions(_stylegan2("z"))
    assert err.value.argument == "latent_space" and "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs, match", [
    ({"layers": 6}, r"layers must be indices 0-5 in the SeFa authors' numbering \(0 conv1, 1-4 convs\.0-3, 5 the "
                    r"last toRGB to_rgbs\.1\) or module names, got 6"),
    ({"layers": "conv9"}, r"SeFa layer 'conv9' is not one of \{conv1, convs\.0,"),
    ({"layers": ""}, "layers must name at least one synthesis layer"),
    ({"layers": [True]}, "layers must be indices or module names, got True"),
    ({"variant": "normalised"}, r"SeFa variant 'normalised' is not one of \{authors, unnormalised\}"),
    ({"k": 13}, "k must be at least 1 and at most 12"),
])
def test_stylegan2_bad_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        sefa_directions(_stylegan2(), **kwargs)


def test_layers_refused_for_a_single_layer_model():
    with pytest.raises(InputError, match=r"layers must be left out for this model: it has a single SeFa layer "
                                         r"\(main\.0\)"):
        sefa_directions(_dcgan(_uneven_weight()), layers="0")


def test_biggan_first_linear_map_per_latent_space():
    """BigGAN: gen_z's spectrally normalised map on [noise, class], restricted to the metric's space."""
    pytest.importorskip("pytorch_pretrained_biggan")
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    from ganmetric.generators.biggan import BigGANGenerator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the package initialises from the global RNG
        model = BigGAN(BigGANConfig(output_dim=16, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=5,
                                    layers=[(False, 16, 8), (True, 8, 4)], attention_layer_position=1))
    gen_z = model.generator.gen_z
    with torch.no_grad():
        g = torch.Generator().manual_seed(3)
        gen_z.weight_orig.mul_(torch.exp(torch.randn(gen_z.weight_orig.shape[0], 1, generator=g)))
    W = gen_z.weight_orig.detach().double()
    sigma = float(gen_z.weight_u.double() @ W @ gen_z.weight_v.double())  # the stored estimate the forward uses
    for space, cols in (("full", slice(0, 16)), ("noise", slice(0, 8)), ("class", slice(8, 16))):
        G = BigGANGenerator(model, latent_space=space, class_index=1)
        ref = W[:, cols].T.numpy() / sigma
        d = sefa_directions(G)
        assert d.info == {"variant": "authors", "layers": ["generator.gen_z"], "inputs": space}
        # the library takes the weight as the float32 forward pass does (W / sigma in float32): ~1e-7 relative
        vals, vecs = _authors_reference(ref)
        np.testing.assert_allclose(d.values, vals, rtol=1e-6)
        _same_directions(d.vectors[:4], vecs[:4], 1e-6)
        raw = sefa_directions(G, variant="unnormalised")
        vals, vecs = _authors_reference(ref, normalise=False)
        np.testing.assert_allclose(raw.values, vals, rtol=1e-6)
        _same_directions(raw.vectors[:4], vecs[:4], 1e-6)


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    """A result for stylegan2-demo in w with a synthetic metric (the CLI plumbing is what is tested)."""
    folder = tmp_path_factory.mktemp("sefa_cli")
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((128, 128)))[0]
    vals = 0.8 ** np.arange(128)
    fake = SimpleNamespace(eigvals=vals, eigvecs=Q, z=rng.standard_normal(128), H=(Q * vals) @ Q.T)
    paths = {}
    for space in ("w", "z"):
        paths[space] = folder / f"demo_{space}.npz"
        save_with(paths[space], fake, model="stylegan2-demo", latent_space=space, distance="mse", seed=0,
                  distance_options={})
    return folder, paths


def test_cli_compare_records_variant_and_layers(demo_result):
    folder, paths = demo_result
    out = folder / "c.csv"
    res = CliRunner().invoke(main, ["axes", "compare", str(paths["w"]), "--methods", "sefa,sefa-unnormalised",
                                    "--sefa-layers", "0-1,to_rgb1", "--n-directions", "3", "--k", "4",
                                    "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert "sefa: variant=authors, layers=conv1,to_rgb1,convs.0" in res.output
    with open(out) as f:
        methods = [r["method"] for r in csv.DictReader(f)]
    assert methods == ["sefa"] * 3 + ["sefa-unnormalised"] * 3 + ["random-expected"]
    meta = json.loads((folder / "c_meta.json").read_text())
    assert meta["methods"]["sefa"] == {"directions": 3, "variant": "authors", "layers": ["conv1", "to_rgb1",
                                                                                          "convs.0"]}
    assert meta["methods"]["sefa-unnormalised"]["variant"] == "unnormalised"
    assert meta["metric"]["model"] == "stylegan2-demo" and meta["metric"]["latent_space"] == "w"
    assert meta["metric"]["path"] == str(paths["w"]) and meta["k"] == 4
    assert meta["metric"]["sha256"] == sha256_file(paths["w"])


@pytest.mark.parametrize("args, match", [
    (["--sefa-layers", "40"], "Error: Invalid value for '--sefa-layers': must be indices 0-9 in the SeFa authors' "
                              "numbering (0 conv1, 1-8 convs.0-7, 9 the last toRGB to_rgbs.3) or module names, got 40"),
    (["--methods", "ganspace", "--sefa-layers", "0"], "Invalid value for '--sefa-layers': needs sefa or sefa-unnormalised in --methods"),
    (["--methods", "sefa-raw"], "method 'sefa-raw' is not one of"),
])
def test_cli_compare_bad_sefa_options(demo_result, args, match):
    folder, paths = demo_result
    res = CliRunner().invoke(main, ["axes", "compare", str(paths["w"]), *args, "--out", str(folder / "bad.csv")])
    assert res.exit_code != 0
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert match in res.output and "Traceback" not in res.output, res.output
    assert len(lines) <= 3, res.output  # click's usage lines at most, never a traceback
    assert not (folder / "bad.csv").exists()


def test_cli_compare_refuses_z_in_one_line(demo_result):
    folder, paths = demo_result
    res = CliRunner().invoke(main, ["axes", "compare", str(paths["z"]), "--methods", "sefa",
                                    "--out", str(folder / "z.csv")])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: SeFa is not defined in StyleGAN2's z space"), res.output


def _nvidia(architecture: str, latent_space: str = "w"):
    from ganmetric.generators.nvidia import random_nvidia_generator
    from helpers_nvidia import SG2_KWARGS, SG3_KWARGS
    return random_nvidia_generator(architecture, SG2_KWARGS if architecture == "stylegan2" else SG3_KWARGS, seed=4,
                                   latent_space=latent_space).double()


def _affine_jacobian(layer, w_dim: int) -> np.ndarray:
    """(w_dim, in): d(layer.affine(w))/dw by autograd, one column per style channel."""
    J = torch.autograd.functional.jacobian(lambda w: layer.affine(w[None])[0], torch.zeros(w_dim, dtype=torch.float64))
    return J.T.numpy()


def test_nvidia_stylegan2_w_matches_the_authors_formula():
    """The default is the authors' set: every convolution and the last toRGB, in the order of the w+ rows."""
    G = _nvidia("stylegan2")
    syn = G.synthesis
    layers = [syn.b4.conv1, syn.b8.conv0, syn.b8.conv1, syn.b16.conv0, syn.b16.conv1, syn.b16.torgb]
    W = np.concatenate([_affine_jacobian(m, G.w_dim) for m in layers], axis=1)
    vals, vecs = _authors_reference(W)
    d = sefa_directions(G)
    assert d.info["layers"] == ["synthesis.b4.conv1", "synthesis.b8.conv0", "synthesis.b8.conv1",
                                "synthesis.b16.conv0", "synthesis.b16.conv1", "synthesis.b16.torgb"]
    np.testing.assert_allclose(d.values, vals, rtol=1e-10)
    _same_directions(d.vectors, vecs, atol=1e-8)
    # unnormalised: the map the forward pass applies to w, the toRGB's weight gain included (NVIDIA's styles * gain)
    rgb = _affine_jacobian(syn.b8.torgb, G.w_dim) * syn.b8.torgb.weight_gain
    raw = sefa_directions(G, layers="synthesis.b8.torgb", variant="unnormalised")
    np.testing.assert_allclose(raw.values, _authors_reference(rgb, normalise=False)[0], rtol=1e-10)


def test_nvidia_stylegan3_w_plus_rows_and_bad_layers():
    G_w, G_plus = _nvidia("stylegan3"), _nvidia("stylegan3", "w+")
    names = G_plus.synthesis.layer_names
    d = sefa_directions(G_plus, k=2, layers=[1, 2])
    assert d.info["layers"] == [f"synthesis.{names[0]}", f"synthesis.{names[1]}"] and d.info["style_rows"] == [1, 2]
    v = sefa_directions(G_w, k=2, layers=[1, 2]).vectors
    expected = np.zeros((2, G_plus.num_ws, G_plus.w_dim))
    expected[:, [1, 2]] = v[:, None] / np.sqrt(2)
    np.testing.assert_allclose(d.vectors, expected.reshape(2, -1), atol=1e-12)
    assert sefa_directions(G_w).info["layers"] == [f"synthesis.{n}" for n in names]  # every layer, not the input
    with pytest.raises(InputError, match=r"layers must be indices 1-5 \(the w\+ row a layer reads: 1 synthesis.L0_20_8 "
                                         r"\.\.\. 5 synthesis.L4_16_3\) or module names, got 0"):
        sefa_directions(G_w, layers=0)
    with pytest.raises(InputError, match=r"SeFa layer 'synthesis.input' is not one of"):
        sefa_directions(G_w, layers="synthesis.input")
    with pytest.raises(InputError, match=r"SeFa is not defined in an NVIDIA generator's z space") as err:
        sefa_directions(_nvidia("stylegan3", "z"))
    assert err.value.argument == "latent_space"


def _stylegan1(space="w"):
    """StyleGAN (1) at 16 px (3 blocks, 6 AdaINs), style_dim 8, seeded random weights."""
    from ganmetric.generators.stylegan1 import StyleGAN1Generator
    from ganmetric.generators.stylegan1_layers import StyledGenerator, seeded_random_
    net = seeded_random_(StyledGenerator(channels=[8, 6, 4, 4], style_dim=8, n_mlp=1), seed=3)
    return StyleGAN1Generator(net, latent_space=space, resolution=16, truncation=1.0)


@pytest.mark.parametrize("layers, blocks", [(None, [(b, k) for b in range(3) for k in (1, 2)]),
                                            ("0,3", [(0, 1), (1, 2)]),
                                            ("progression.2.adain1", [(2, 1)])])
def test_stylegan1_adain_style_maps_as_the_authors(layers, blocks):
    """genforce/sefa's StyleGAN branch: layer{idx}.style.weight.T for each layer, two style maps per block."""
    G = _stylegan1()
    d = sefa_directions(G, layers=layers)
    assert d.info["layers"] == [f"progression.{b}.adain{k}" for b, k in blocks]
    sd = G.g_running.state_dict()
    W = np.concatenate([sd[f"generator.progression.{b}.adain{k}.style.linear.weight_orig"].double().numpy().T
                        for b, k in blocks], axis=1)
    vals, vecs = _authors_reference(W)  # the equalised-lr gain is one factor per layer: normalised away
    np.testing.assert_allclose(d.values, vals, rtol=1e-9, atol=1e-12)
    _same_directions(d.vectors[:3], vecs[:3], 1e-7)
    raw = sefa_directions(G, layers=layers, variant="unnormalised")
    vals, _ = _authors_reference(W * np.sqrt(2 / 8), normalise=False)
    np.testing.assert_allclose(raw.values, vals, rtol=1e-6)


def test_stylegan1_w_plus_rows_and_refusals():
    v = sefa_directions(_stylegan1("w"), k=2, layers="1,4").vectors  # adain2 of block 0, adain1 of block 2
    d = sefa_directions(_stylegan1("w+"), k=2, layers="1,4")
    expected = np.zeros((2, 3, 8))
    expected[:, [0, 2]] = v[:, None] / np.sqrt(2)
    assert d.info["style_rows"] == [0, 2]
    np.testing.assert_allclose(d.vectors, expected.reshape(2, -1), atol=1e-12)
    with pytest.raises(InputError, match=r"SeFa is not defined in StyleGAN's z space") as err:
        sefa_directions(_stylegan1("z"))
    assert err.value.argument == "latent_space"
    with pytest.raises(InputError, match=r"indices 0-5 in the SeFa authors' numbering \(2b the adain1 and 2b\+1 the "
                                         r"adain2 of block b, progression\.b, b = 0-2\) or module names, got 6"):
        sefa_directions(_stylegan1(), layers=6)


def test_bigbigan_is_refused_in_one_line():
    from ganmetric.generators.bigbigan import BigBiGANGenerator
    from ganmetric.generators.bigbigan_layers import BigGANPyTorchNetwork
    G = BigBiGANGenerator(BigGANPyTorchNetwork(channels=[8, 8, 8], attention=[], z_chunk=4, shared_dim=4, n_classes=2))
    with pytest.raises(InputError, match=r"SeFa is not defined for bigbigan: its code enters the network in 3 chunks "
                                         r"of 4 at different depths") as err:
        sefa_directions(G)
    assert "\n" not in str(err.value)
