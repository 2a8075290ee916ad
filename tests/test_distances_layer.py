"""Layer distances: d(z0, z) = sum over layers of the mean squared difference of a generator's own activations.

Oracles that share no code with the hooks: a float64 ``torch.autograd.functional.hessian``
of the map written by hand from slices of the DCGAN's ``nn.Sequential`` (so the hooks, the
cloning and the early stop are all checked), finite differences of the distance, and the
closed identity "the output layer's distance is mse".
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import ganmetric
from ganmetric.distances import (LayerDistance, check_same_distance, describe_distance, distance_meta,
                                 generator_layers, load_recorded_distance)
from ganmetric.errors import InputError, NotDeterministicError
from ganmetric.generators.base import Generator
from ganmetric.generators.dcgan import DCGANGenerator
from helpers import randomize_
from helpers_models import small_biggan, tiny_dcgan

#: float64 agreement of every method with the dense reference (measured <= 1e-12 relative on these models;
#: forward-iter is a finite-difference method: 1e-6 at eps 1e-6)
RTOL = {"jacobian": 1e-9, "gn-lanczos": 1e-7, "fwd-over-rev": 1e-9, "bp": 1e-9, "backward-iter": 1e-7,
        "forward-iter": 1e-5}


@pytest.fixture(scope="module")
def G():
    return tiny_dcgan()


def manual_layers(G, names):
    """z -> the named outputs, computed by running slices of G.main (no hooks)."""
    def run(z):
        x = z[:, :, None, None]
        return [G.main[:int(name.split(".")[1]) + 1](x) for name in names]
    return run


def manual_hessian(G, names, z0):
    """Dense float64 Hessian of z -> sum_l mean((f_l(z) - f_l(z0))^2) at z0 (autograd, no ganmetric code)."""
    run = manual_layers(G, names)
    with torch.no_grad():
        ref = [a.clone() for a in run(z0[None])]

    def f(z):
        return sum(((a - r) ** 2).mean() for a, r in zip(run(z[None]), ref))

    return torch.autograd.functional.hessian(f, z0)


@pytest.mark.parametrize("method", list(RTOL))
def test_every_method_matches_the_dense_reference(G, method):
    """main.1 is a BatchNorm whose output the in-place ReLU main.2 overwrites: the hook must keep a copy."""
    names = ["main.1", "main.5"]
    D = ganmetric.load_distance("layer:" + ",".join(names), generator=G)
    z0 = G.sample(1, seed=3)[0]
    ref = manual_hessian(G, names, z0)
    k = None if method in ("jacobian", "bp") else 3
    opts = {"eps": 1e-6, "tol": 1e-9} if method == "forward-iter" else {}
    res = ganmetric.metric_tensor(G, D, z0, method=method, k=k, **opts)
    vals, vecs = torch.linalg.eigh(ref)
    lam1 = float(vals[-1])
    if k is None:
        torch.testing.assert_close(res.H, ref, rtol=0, atol=RTOL[method] * lam1)
    else:
        torch.testing.assert_close(res.eigvals, vals.flip(0)[:k], rtol=0, atol=RTOL[method] * lam1)
        # the top-k eigenvectors span the reference's top-k eigenspace: U^T H U = diag(l)
        U = res.eigvecs
        torch.testing.assert_close(U.T @ ref @ U, torch.diag(res.eigvals), rtol=0, atol=10 * RTOL[method] * lam1)


def test_output_layer_distance_is_mse(G):
    """The output of the last module is the image: layer:main.7 and mse give the same metric."""
    z0 = G.sample(1, seed=1)
    H_layer = ganmetric.metric_tensor(G, ganmetric.load_distance("layer:main.7"), z0, method="jacobian").H
    H_mse = ganmetric.metric_tensor(G, ganmetric.load_distance("mse", dtype="float64"), z0, method="jacobian").H
    torch.testing.assert_close(H_layer, H_mse, rtol=1e-12, atol=1e-14)


def test_several_layers_are_the_sum_of_their_metrics(G):
    z0 = G.sample(1, seed=2)
    H = {spec: ganmetric.metric_tensor(G, ganmetric.load_distance(spec), z0, method="jacobian").H
         for spec in ("layer:main.2", "layer:main.4", "layer:main.2,main.4")}
    torch.testing.assert_close(H["layer:main.2,main.4"], H["layer:main.2"] + H["layer:main.4"], rtol=1e-12,
                               atol=1e-14)


def test_metric_matches_finite_differences_of_the_distance(G):
    """v^T H v against symmetric quotients of d(z0, z0 +- t v) (Richardson twice), d from the manual slices."""
    names = ["main.3", "main.5"]
    z0 = G.sample(1, seed=4)[0]
    res = ganmetric.metric_tensor(G, ganmetric.load_distance("layer:main.3,main.5"), z0, method="gn-lanczos", k=4)
    run = manual_layers(G, names)
    with torch.no_grad():
        ref = run(z0[None])
        W = torch.randn(2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        V = torch.cat([res.eigvecs.T, W / W.norm(dim=1, keepdim=True)])
        ts = (2e-5, 1e-5, 5e-6)

        def d(Z):
            return sum(((a - r) ** 2).flatten(1).mean(1) for a, r in zip(run(Z), ref))

        q = [(d(z0 + t * V) + d(z0 - t * V)) / t ** 2 for t in ts]
        r = [(4 * q[i + 1] - q[i]) / 3 for i in range(2)]
        fd = (16 * r[1] - r[0]) / 15
    full = ganmetric.metric_tensor(G, ganmetric.load_distance("layer:main.3,main.5"), z0, method="jacobian").H
    predicted = torch.einsum("mi,ij,mj->m", V, full, V)
    lam1 = float(res.eigvals[0])
    torch.testing.assert_close(fd, predicted, rtol=0, atol=1e-6 * lam1)
    torch.testing.assert_close(fd[:4], res.eigvals, rtol=0, atol=1e-6 * lam1)


def test_code_distance_is_the_mean_squared_activation_difference(G):
    D = ganmetric.load_distance("layer:main.2,main.6", generator=G)
    Z0, Z = G.sample(3, seed=0), G.sample(3, seed=1)
    run = manual_layers(G, ["main.2", "main.6"])
    with torch.no_grad():
        want = sum(((a - b) ** 2).flatten(1).mean(1) for a, b in zip(run(Z0), run(Z)))
        torch.testing.assert_close(D.code_distance(G, Z0, Z), want, rtol=1e-12, atol=0)
        # one reference row broadcasts against many
        torch.testing.assert_close(D.code_distance(G, Z0[:1], Z), D.code_distance(G, Z0[:1].expand(3, -1), Z),
                                   rtol=1e-12, atol=0)


class NoisyAfter(Generator):
    """A linear layer, then noise on purpose in a second stage: the second stage's features are random."""

    def __init__(self):
        super().__init__(name="noisy", latent_dim=4, resolution=2)
        self.first = nn.Linear(4, 12).double()
        self.second = nn.Identity()
        self.freeze()

    def _generate(self, z):
        h = self.first(z)
        h = self.second(h + 0.1 * torch.randn_like(h))
        return h.reshape(-1, 3, 2, 2)


def test_the_determinism_probe_checks_the_layer_features():
    G = NoisyAfter()
    z = torch.zeros(1, 4, dtype=torch.float64)
    with pytest.raises(NotDeterministicError):
        ganmetric.metric_tensor(G, ganmetric.load_distance("layer:second"), z)
    # the first layer does not see the noise (the pass stops after it): deterministic, and linear (H = 2 W^T W / 12)
    res = ganmetric.metric_tensor(G, ganmetric.load_distance("layer:first"), z, method="jacobian")
    W = G.first.weight
    torch.testing.assert_close(res.H, 2 * W.T @ W / 12, rtol=1e-12, atol=1e-15)


def test_a_layer_distance_reads_the_generator_it_is_given(G):
    """Defined by its layer names alone: with another generator (here wider: other sizes) it is that generator's
    layer metric, with G again G's (nothing is bound to the first generator met); copies agree; a generator
    without the layer is refused in one line."""
    D = ganmetric.load_distance("layer:main.2", generator=G)
    z = G.sample(1, seed=0)
    wide = randomize_(DCGANGenerator(name="wide-dcgan", nz=8, ngf=8, nc=3, resolution=16), seed=1).double()
    for gen in (wide, G):
        ref = manual_hessian(gen, ["main.2"], z[0])
        torch.testing.assert_close(ganmetric.metric_tensor(gen, D, z, method="jacobian").H, ref, rtol=0,
                                   atol=1e-9 * float(ref.abs().max()))
    torch.testing.assert_close(ganmetric.metric_tensor(copy.deepcopy(G), copy.deepcopy(D), z, method="jacobian").H,
                               ganmetric.metric_tensor(G, D, z, method="jacobian").H, rtol=1e-12, atol=0)
    with pytest.raises(InputError, match="^odd has no layer main.2") as err:
        D.code_distance(Odd(), torch.zeros(1, 3), torch.ones(1, 3))
    assert err.value.argument == "distance"


class Odd(Generator):
    """Submodules a layer distance cannot use: a tuple output, a module run twice, a constant, an unused one."""

    def __init__(self):
        super().__init__(name="odd", latent_dim=3, resolution=2)
        self.split = Split()
        self.act = nn.Tanh()
        self.const = Const()
        self.unused = nn.Linear(3, 3)
        self.out = nn.Linear(3, 12)
        self.freeze()

    def _generate(self, z):
        a, b = self.split(z)
        h = self.act(self.act(a + b)) + self.const(z)
        return self.out(h).reshape(-1, 3, 2, 2)


class Split(nn.Module):
    def forward(self, z):
        return z, 2 * z


class Const(nn.Module):
    def forward(self, z):
        return torch.ones_like(z)


@pytest.mark.parametrize("spec, message", [
    ("layer:outt", "odd has no layer outt; near matches: out "),
    ("layer:split", "layer split of odd cannot make a layer distance: its output is a tuple, not a tensor"),
    ("layer:act", "act of odd cannot make a layer distance: runs 2 times per forward pass"),
    ("layer:const", "const of odd cannot make a layer distance: constant: its output does not depend on the code"),
    ("layer:unused", "unused of odd cannot make a layer distance: not run by the forward pass"),
    ("layer:", "distance must name layers as layer:NAME"),
    ("layer:out,", "distance must name layers as layer:NAME"),
    ("layer:out,out", "distance must name each layer once, got out twice"),
])
def test_bad_layers_are_one_line_errors(spec, message):
    with pytest.raises(InputError) as err:
        ganmetric.load_distance(spec, generator=Odd())
    assert message in str(err.value) and "\n" not in str(err.value)
    assert err.value.argument == "distance"


def test_listing_marks_what_a_layer_distance_can_use():
    infos = {i.name: i for i in generator_layers(Odd())}
    assert infos["out"].usable and infos["out"].shape == (1, 12) and infos["out"].elements == 12
    assert not infos["split"].usable and infos["split"].shape is None
    assert infos["act"].reason == "runs 2 times per forward pass (its output is ambiguous)"
    assert infos["unused"].order is None and infos["out"].order > infos["act"].order
    assert [i.name for i in generator_layers(Odd())] == ["split", "act", "const", "unused", "out"]


def test_lpips_options_and_images_are_refused(G):
    with pytest.raises(InputError, match="lpips_backbone applies to lpips-alex, lpips-vgg, lpips-squeeze only, "
                                         "not layer:main.2"):
        ganmetric.load_distance("layer:main.2", lpips_backbone="random")
    D = ganmetric.load_distance("layer:main.2", generator=G)
    x = G(G.sample(2, seed=0))
    with pytest.raises(InputError, match="compares the activations of the generator's own layers at two codes, "
                                         "not images"):
        D(x, x)


def test_provenance_records_the_layers_and_rebuilds(G):
    D = ganmetric.load_distance("layer:main.2,main.5", generator=G)
    meta = distance_meta(D)
    assert meta == {"distance": "layer:main.2,main.5", "distance_options": {"layers": ["main.2", "main.5"]}}
    assert describe_distance(D) == "layer:main.2,main.5"
    again = load_recorded_distance(meta, generator=G)
    assert isinstance(again, LayerDistance) and again.layers == ("main.2", "main.5")
    Z0, Z = G.sample(2, seed=0), G.sample(2, seed=1)
    torch.testing.assert_close(again.code_distance(G, Z0, Z), D.code_distance(G, Z0, Z), rtol=0, atol=0)
    with pytest.raises(InputError, match="distance layer:main.2,main.5 there, layer:main.2 here"):
        check_same_distance(meta, ganmetric.load_distance("layer:main.2"))


def test_stylegan2_synthesis_layers_in_w():
    """stylegan2-demo (w): the mapping network does not run; a synthesis layer's metric, jacobian vs fwd-over-rev."""
    G = ganmetric.load_generator("stylegan2-demo", dtype="float64")
    infos = {i.name: i for i in generator_layers(G)}
    assert not infos["g_ema.style.1"].usable and "latent space w" in infos["g_ema.style.1"].reason
    assert not infos["g_ema.input"].usable and infos["g_ema.input"].reason.startswith("constant")
    assert infos["g_ema.conv1.activate"].usable
    D = ganmetric.load_distance("layer:g_ema.conv1.activate", generator=G)
    z = G.sample(1, seed=0)
    a = ganmetric.metric_tensor(G, D, z, method="gn-lanczos", k=3)
    b = ganmetric.metric_tensor(G, D, z, method="fwd-over-rev", k=3)
    torch.testing.assert_close(a.eigvals, b.eigvals, rtol=1e-9, atol=0)


def test_biggan_layer_matches_the_dense_reference():
    pytest.importorskip("pytorch_pretrained_biggan")
    from ganmetric.generators.biggan import BigGANGenerator
    G = BigGANGenerator(small_biggan(), name="tiny-biggan", latent_space="noise", class_index=3,
                        truncation=0.5).double()
    infos = {i.name: i for i in generator_layers(G)}
    assert infos["biggan.generator.layers.0.relu"].reason.startswith("runs 4 times")
    name = "biggan.generator.layers.1"
    D = ganmetric.load_distance(f"layer:{name}", generator=G)
    z0 = G.sample(1, seed=0)[0]
    module = dict(G.named_modules())[name]
    kept = {}
    handle = module.register_forward_hook(lambda m, i, o: kept.__setitem__("a", o))
    try:
        with torch.no_grad():
            G(z0[None])
            ref0 = kept["a"].clone()

        def f(z):
            G(z[None])
            return ((kept["a"] - ref0) ** 2).mean()

        ref = torch.autograd.functional.hessian(f, z0)
    finally:
        handle.remove()
    res = ganmetric.metric_tensor(G, D, z0, method="jacobian")
    torch.testing.assert_close(res.H, ref, rtol=0, atol=1e-9 * float(ref.abs().max()))


def test_torchscript_submodules_are_named_but_not_usable(tmp_path):
    from helpers_analysis import save_traced_tiny
    G = ganmetric.load_generator(str(save_traced_tiny(tmp_path / "tiny.pt", n=6, res=8)), latent_dim=6)
    infos = generator_layers(G)
    assert infos and all(not i.usable and i.reason == "cannot be hooked (a TorchScript submodule)" for i in infos)
    with pytest.raises(InputError, match="layer net.g.fc of .* cannot make a layer distance: cannot be hooked"):
        ganmetric.load_distance("layer:net.g.fc", generator=G)
