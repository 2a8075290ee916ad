"""Distances: the squared-feature form equals the reference implementations."""
from __future__ import annotations

import pytest
import torch

import ganmetric
from ganmetric.errors import InputError, WeightsError


def _images(n, side=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, side, side, generator=g, dtype=torch.float64) * 2 - 1


def test_mse_is_mean_squared_difference():
    x, y = _images(3), _images(3, seed=1)
    D = ganmetric.load_distance("mse", dtype="float64")
    assert torch.allclose(D(x, y), ((x - y) ** 2).mean(dim=(1, 2, 3)), rtol=1e-12)
    assert torch.allclose(D(x, x), torch.zeros(3, dtype=torch.float64))


def test_local_backbone_state_dict(tmp_path):
    import torchvision
    with torch.device("meta"):  # the layout of torchvision's alexnet, without initialising its 240 MB classifier
        tv = torchvision.models.alexnet()
    features = tv.features.to_empty(device="cpu")
    for layer in features:
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    # every key of torchvision's file; the classifier is never read, so a one-number stand-in per tensor will do
    state = {k: (features.state_dict()[k[len("features."):]] if k.startswith("features.") else torch.zeros(1))
             for k in tv.state_dict()}
    path = tmp_path / "alexnet.pth"
    torch.save(state, path)
    D = ganmetric.load_distance("lpips-alex", lpips_backbone=str(path))
    loaded = dict(D.lpips.net.named_parameters())  # "slice1.0.weight" is torchvision's "features.0.weight"
    assert len(loaded) == 10 and all(torch.equal(p, state["features." + name.split(".", 1)[1]])
                                     for name, p in loaded.items())
    torch.save({"bogus": torch.ones(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="not a torchvision alexnet"):
        ganmetric.load_distance("lpips-alex", lpips_backbone=str(tmp_path / "bad.pth"))


def test_offline_pretrained_names_alternatives(monkeypatch):
    import urllib.request
    import torch.hub

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError, match="offline, give lpips_backbone random .* state dict"):
        ganmetric.load_distance("lpips-alex", lpips_backbone="pretrained")


def test_offline_pretrained_names_the_flag_on_the_command_line(monkeypatch, tmp_path):
    """The CLI says --lpips-backbone, not the library's argument name."""
    import urllib.request
    import torch.hub
    from click.testing import CliRunner
    from ganmetric_cli.main import main

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    res = CliRunner().invoke(main, ["hessian", "--model", "stylegan2-demo", "--seed", "0",
                                    "--out", str(tmp_path / "h.npz")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "offline, give --lpips-backbone random (an untrained backbone" in res.output.splitlines()[-1]
    assert not (tmp_path / "h.npz").exists()


@pytest.mark.parametrize("spec, kw, match", [("ssim2", {}, "distance 'ssim2' is not one of"),
                                             ("lpips-alex", {"lpips_backbone": "/nope.pth"}, "file not found"),
                                             ("lpips-alex", {"lpips_backbone": "random", "resize": 3}, "resize")])
def test_bad_specs(spec, kw, match):
    with pytest.raises(InputError, match=match):
        ganmetric.load_distance(spec, **kw)


def _plain_weighted_unit(f, s, eps):
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + eps) * s


def test_weighted_unit_rules_match_autograd_of_the_plain_formula():
    """The fused normalisation's jvp, vjp (and its vmap) equal torch's derivatives of f / (|f| + eps) * s."""
    from torch.func import jvp, vjp, vmap
    from ganmetric.distances.lpips_distance import WeightedUnit
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64)
    s = torch.rand(1, 5, 1, 1, generator=g, dtype=torch.float64)
    T = torch.randn(6, 2, 5, 3, 4, generator=g, dtype=torch.float64)
    fused = lambda x: WeightedUnit.apply(x, s, 1e-10)  # noqa: E731
    plain = lambda x: _plain_weighted_unit(x, s, 1e-10)  # noqa: E731
    assert torch.allclose(fused(f), plain(f), rtol=1e-14, atol=0)
    got = vmap(lambda t: jvp(fused, (f,), (t,))[1])(T)
    want = torch.stack([jvp(plain, (f,), (t,))[1] for t in T])
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-14)
    got = vmap(vjp(fused, f)[1])(T)[0]
    want = torch.stack([vjp(plain, f)[1](t)[0] for t in T])
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-14)


def test_weighted_unit_double_backward_and_forward_over_reverse():
    """bp and backward-iter differentiate the backward again; fwd-over-rev runs forward mode through it."""
    from ganmetric.distances.lpips_distance import WeightedUnit
    g = torch.Generator().manual_seed(1)
    f = torch.randn(1, 4, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    s = torch.rand(1, 4, 1, 1, generator=g, dtype=torch.float64)
    fn = lambda x: WeightedUnit.apply(x, s, 1e-10)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (f,), check_forward_ad=True)
    assert torch.autograd.gradgradcheck(fn, (f,), check_fwd_over_rev=True)


def _lpips_seeded_the_old_way(net, seed):
    """The backbone as ganmetric built it with the lpips package: lpips.LPIPS(pnet_rand=True), then
    each layer's weight and bias drawn uniformly in +-1/sqrt(fan_in) from one seeded stream, in
    module order (written out here, so that a change to ganmetric's draw cannot follow it unseen)."""
    import lpips  # here, not at collection: it imports torchvision (~1.5 s of every run's start)
    ref = lpips.LPIPS(net=net, pnet_rand=True, verbose=False).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in ref.net.modules():
            if isinstance(module, torch.nn.Conv2d):
                bound = 1.0 / module.weight[0].numel() ** 0.5
                for p in (module.weight, module.bias):
                    p.copy_((torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound)
    return ref


@pytest.mark.parametrize("net", ["alex", pytest.param("vgg", marks=pytest.mark.slow), "squeeze"])
def test_random_backbone_is_bit_identical_to_the_lpips_based_one(net):
    """Results recorded with random:SEED stay valid: the same layers, names and drawn values."""
    import lpips
    seed = 3  # one seed is enough: the draw's order, bounds and stream are what could change
    D = ganmetric.load_distance(f"lpips-{net}", lpips_backbone=f"random:{seed}")
    mine, ref = D.lpips.net.state_dict(), _lpips_seeded_the_old_way(net, seed).net.state_dict()
    assert list(mine) == list(ref)
    for key, tensor in ref.items():
        assert mine[key].dtype == tensor.dtype and torch.equal(mine[key], tensor), key  # copied draws
    assert torch.equal(D.lpips.scaling_layer.shift, lpips.LPIPS(net=net, pnet_rand=True,
                                                                verbose=False).scaling_layer.shift)


#: every backbone at float64 and native size; resizing and float32 once each (they do not depend on the backbone)
@pytest.mark.parametrize("net, resize, dtype, rtol", [
    ("alex", None, "float64", 1e-10), pytest.param("vgg", None, "float64", 1e-10, marks=pytest.mark.slow),
    ("squeeze", None, "float64", 1e-10),
    ("alex", 48, "float64", 1e-10), ("squeeze", 48, "float32", 1e-5)])
def test_lpips_equals_the_lpips_package_with_the_same_backbone(net, resize, dtype, rtol):
    """Distances and features equal lpips.LPIPS's (its own scaling layer, heads and slices) on random images: the
    one comparison with the lpips package (resize: against lpips on the bilinearly resized images)."""
    import lpips
    D = ganmetric.load_distance(f"lpips-{net}", lpips_backbone="random:3", dtype=dtype, resize=resize)
    ref = lpips.LPIPS(net=net, pnet_rand=True, verbose=False).eval().to(getattr(torch, dtype))
    ref.net.load_state_dict(D.lpips.net.state_dict())  # the same seeded backbone, copied in
    x, y = (_images(3, side=40, seed=s).to(getattr(torch, dtype)) for s in (4, 5))
    if resize is None:
        x, y = (_images(3, seed=s).to(getattr(torch, dtype)) for s in (4, 5))
        expected = ref(x, y).flatten()
    else:
        up = lambda t: torch.nn.functional.interpolate(t, size=(resize, resize), mode="bilinear",  # noqa: E731
                                                       align_corners=False)
        expected = ref(up(x), up(y)).flatten()
    assert expected.min() > 0
    torch.testing.assert_close(D(x, y), expected, rtol=rtol, atol=0)
    torch.testing.assert_close(((D.features(x) - D.features(y)) ** 2).sum(1), expected, rtol=rtol, atol=0)


@pytest.mark.parametrize("net, enum", [("alex", "AlexNet_Weights"), ("vgg", "VGG16_Weights"),
                                       ("squeeze", "SqueezeNet1_1_Weights")])
def test_pretrained_backbone_comes_from_torchvisions_url_through_torch_hub(monkeypatch, net, enum):
    """The same URL (hence the same file name in torch hub's cache) and hash check as torchvision's."""
    import torchvision
    src = ganmetric.load_distance(f"lpips-{net}", lpips_backbone="random:2")
    state = {f"features.{k.split('.', 1)[1]}": v.clone() for k, v in src.lpips.net.state_dict().items()}
    state["classifier.1.weight"] = torch.zeros(2, 2)  # the rest of a torchvision checkpoint is ignored
    calls = []

    def cached(url, **kwargs):
        calls.append((url, kwargs))
        return state

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", cached)
    D = ganmetric.load_distance(f"lpips-{net}", lpips_backbone="pretrained")
    assert calls == [(getattr(torchvision.models, enum).IMAGENET1K_V1.url, {"check_hash": True,
                                                                             "weights_only": True})]
    for key, tensor in src.lpips.net.state_dict().items():
        assert torch.equal(D.lpips.net.state_dict()[key], tensor), key  # copied
    del state["features.0.weight"]
    with pytest.raises(WeightsError, match=r"not a torchvision \w+ state dict \(missing features.0.weight\)"):
        ganmetric.load_distance(f"lpips-{net}", lpips_backbone="pretrained")


def test_missing_lpips_package_is_one_line(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lpips" else real(name, *a))
    with pytest.raises(WeightsError, match="lpips package, which is not installed") as info:
        ganmetric.load_distance("lpips-squeeze", lpips_backbone="random")
    assert "\n" not in str(info.value)
