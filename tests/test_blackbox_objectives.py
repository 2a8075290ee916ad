"""Objectives: what a callable returns is checked; specs load users' functions, torchvision units and image targets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganmetric
from ganmetric.blackbox import ObjectiveError, check_scores, load_objective
from ganmetric.blackbox.units import layer_output
from ganmetric.plotting import image_bytes
from helpers import TinyConvGenerator


@pytest.mark.parametrize("out,expected", [
    (torch.tensor([1.0, 2.0]), [1.0, 2.0]), (np.array([3, 4]), [3.0, 4.0]), ([0.5, -1], [0.5, -1.0]),
])
def test_scores_accepted_as_tensor_array_or_list(out, expected):
    got = check_scores(out, 2, "f")
    assert got.dtype == np.float64 and got.tolist() == expected


@pytest.mark.parametrize("out,match", [
    (torch.zeros(2, 1), r"returned shape \(2, 1\) for 2 images; expected 2 scores \(shape \(2,\)\)"),
    (3.0, "returned one number for 2 images"),
    ([[1, 2], [3]], "returned a list; expected 2 real scores"),
    (["a", "b"], "returned a list holding text; expected 2 real scores"),
    (torch.tensor([True, False]), "returned a bool tensor; expected real scores"),
    (np.array([1.0, np.nan]), r"returned NaN for 1 of 2 images \(first at index 1\)"),
    (np.array([-np.inf, np.nan]), "returned NaN and inf for 2 of 2 images"),
])
def test_bad_scores_are_named_in_one_line(out, match):
    with pytest.raises(ObjectiveError, match=match) as info:
        check_scores(out, 2, "f")
    assert str(info.value).startswith("the objective f returned") and "\n" not in str(info.value)


def test_function_spec_is_imported_from_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "my_scores_mod.py").write_text("def score(images):\n    return images.mean(dim=(1, 2, 3))\n")
    monkeypatch.chdir(tmp_path)
    obj = load_objective("my_scores_mod:score")
    x = torch.rand(3, 1, 2, 2)
    np.testing.assert_allclose(obj(x), x.mean(dim=(1, 2, 3)).double().numpy())
    assert obj.record == {"kind": "function", "spec": "my_scores_mod:score"}


@pytest.mark.parametrize("spec,match", [
    ("no_such_module_xyz:f", "cannot import module no_such_module_xyz for the objective no_such_module_xyz:f"),
    ("math:no_such_function", "module math has no function or class named no_such_function"),
    ("score.py", "objective must be one of"),
])
def test_bad_function_specs(spec, match):
    with pytest.raises(ganmetric.InputError, match=match):
        load_objective(spec)


def test_options_for_other_objectives_are_refused():
    with pytest.raises(ganmetric.InputError, match="distance is used only by image: objectives"):
        load_objective("math:sqrt", distance="mse")
    with pytest.raises(ganmetric.InputError, match="objective_weights is used only by unit: objectives"):
        load_objective(lambda x: x, weights="random")


def test_image_objective_is_minus_the_distance_to_the_target(tmp_path):
    G = TinyConvGenerator(n=8, seed=1, res=8)
    with torch.no_grad():
        target = G(torch.linspace(-1, 1, 8)[None])[0]
    (tmp_path / "t.png").write_bytes(image_bytes(target))
    obj = load_objective(f"image:{tmp_path / 't.png'}", G, distance="mse")
    x = G(G.sample(3, seed=0))
    read = ganmetric.load_image(tmp_path / "t.png", size=8)
    expected = -((x - read) ** 2).flatten(1).mean(1)
    np.testing.assert_allclose(obj(x), expected.double().numpy(), rtol=1e-5, atol=1e-7)
    assert obj.record["distance"] == "mse" and len(obj.record["target_sha256"]) == 64
    with pytest.raises(ganmetric.InputError, match="image file not found"):
        load_objective(f"image:{tmp_path / 'missing.png'}", G, distance="mse")
    with pytest.raises(ganmetric.InputError, match=r"t.png is 8 x 8 pixels \(6.4e-05 megapixels\), more than the "
                                                   r"limit of 6e-05 megapixels"):
        load_objective(f"image:{tmp_path / 't.png'}", G, distance="mse", max_pixels=60)
    with pytest.raises(ganmetric.InputError, match="max_pixels is used only by image: objectives"):
        load_objective("math:sqrt", max_pixels=60)


def _random_alexnet(seed):
    """torchvision's AlexNet with the weights ``random:SEED`` documents: every convolution's and linear layer's
    weight and bias ~ U(+-1/sqrt(fan_in)) from one seeded stream, in module order (written out here, so that a
    change to ganmetric's draw cannot follow it unseen)."""
    import torchvision
    with torch.device("meta"):  # no default initialisation: every weight is drawn below
        net = torchvision.models.alexnet().eval()
    net.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                bound = 1.0 / module.weight[0].numel() ** 0.5
                for p in (module.weight, module.bias):
                    p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
    return net


@pytest.fixture(scope="module")
def alexnet_unit():
    return load_objective("unit:torchvision:alexnet:features.3:5", weights="random:1")


@pytest.mark.slow
def test_unit_is_the_channel_mean_of_the_layer_output(alexnet_unit):
    """Against the network's own layers applied by hand to the 224 px ImageNet-normalised input."""
    net = _random_alexnet(1)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    inp = F.interpolate((x + 1) / 2, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    inp = (inp - mean[:, None, None]) / std[:, None, None]
    with torch.no_grad():
        expected = net.features[:4](inp)[:, 5].mean(dim=(1, 2))
    np.testing.assert_allclose(alexnet_unit(x), expected.double().numpy(), rtol=1e-5, atol=1e-6)
    rec = alexnet_unit.record
    assert (rec["weights"], rec["layer_shape"], rec["input_size"]) == ("random:1", [192, 27, 27], 224)


@pytest.mark.slow
def test_unit_position_and_grey_images():
    obj = load_objective("unit:torchvision:alexnet:features.0:2:10:20", weights="random")
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    net = _random_alexnet(0)
    with torch.no_grad():
        out = layer_output(net, net.features[0], x.expand(-1, 3, -1, -1))
    np.testing.assert_allclose(obj(x), out[:, 2, 10, 20].double().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("spec,match", [
    ("unit:torchvision:alexnet:features.3", "a unit objective is written unit:torchvision:MODEL:LAYER:CHANNEL"),
    ("unit:timm:alexnet:features.3:0", "a unit objective is written"),
    ("unit:torchvision:lenet:features.3:0",
     r"torchvision model 'lenet' is not one of \{alexnet, resnet50, vgg16\}"),
    ("unit:torchvision:alexnet:conv5:0",
     "torchvision alexnet has no layer conv5; its layers are: features, features.0, "),
    ("unit:torchvision:alexnet:features.3:192", r"layer features.3 of torchvision alexnet has 192 channels \(0-191\), "
                                                 "got channel 192"),
    ("unit:torchvision:alexnet:features.3:0:27:0", r"has a 27 x 27 map for 224 px inputs \(Y 0-26, X 0-26\), got 27:0"),
    ("unit:torchvision:alexnet:classifier.6:0:1:1", "has no spatial map"),
    ("unit:torchvision:alexnet:classifier.6:-1", "must be non-negative integers"),
])
def test_bad_unit_specs_list_what_is_valid(spec, match):
    with pytest.raises(ganmetric.InputError, match=match):
        load_objective(spec, weights="random")


def test_resnet_layer_list_is_shortened():
    with pytest.raises(ganmetric.InputError, match=r"its layers are: conv1, bn1, .*layer4.2, avgpool, fc, or a module "
                                                   r"inside them \(e.g. layer4.2.relu\)"):
        load_objective("unit:torchvision:resnet50:block9:0", weights="random")


def test_unit_weights_options(tmp_path):
    with pytest.raises(ganmetric.InputError, match=r"random:SEED needs an integer seed in \[0, 2\*\*63\)"):
        load_objective("unit:torchvision:alexnet:features.0:0", weights="random:x")
    with pytest.raises(ganmetric.InputError, match="file not found: nope.pt"):
        load_objective("unit:torchvision:alexnet:features.0:0", weights="nope.pt")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "w.pt")
    with pytest.raises(ganmetric.WeightsError, match="alexnet weights .* do not fit the architecture"):
        load_objective("unit:torchvision:alexnet:features.0:0", weights=str(tmp_path / "w.pt"))


def test_pretrained_weights_offline_name_the_alternatives(monkeypatch):
    import urllib.error

    import torchvision

    def offline(self, *args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(ganmetric.WeightsError, match=r"alexnet ImageNet weights could not be downloaded \(URLError\); "
                                                     "offline, give objective_weights random"):
        load_objective("unit:torchvision:alexnet:features.0:0")
