"""Distance provenance: a seeded random LPIPS backbone, its full identity in results, refusing mismatches."""
from __future__ import annotations

import pytest
import torch

import ganmetric
from ganmetric.distances import (DistanceSpec, check_same_distance, describe_distance, distance_meta, load_distance,
                                 load_recorded_distance)
from ganmetric.errors import InputError


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 64, 64, generator=g, dtype=torch.float64) * 2 - 1


def test_random_backbone_is_a_function_of_its_seed(images):
    """Three loads of 'random' gave lambda_1 = 0.600, 0.783, 0.708 before: now the same weights every time."""
    x, y = images[:1], images[1:]
    a = load_distance("lpips-alex", lpips_backbone="random", dtype="float64")
    b = load_distance("lpips-alex", lpips_backbone="random:0", dtype="float64")
    c = load_distance("lpips-alex", lpips_backbone="random:1", dtype="float64")
    for (pa, wa), (pb, wb) in zip(a.lpips.net.named_parameters(), b.lpips.net.named_parameters()):
        assert pa == pb and torch.equal(wa, wb)  # drawn from the same seeded stream: copies, not computations
    torch.testing.assert_close(a(x, y), b(x, y), rtol=1e-12, atol=0)
    assert not torch.allclose(a(x, y), c(x, y), rtol=1e-3)


def test_random_backbone_does_not_depend_on_the_global_rng(images):
    torch.manual_seed(123)
    a = load_distance("lpips-alex", lpips_backbone="random", dtype="float64")
    torch.manual_seed(456)
    b = load_distance("lpips-alex", lpips_backbone="random", dtype="float64")
    torch.testing.assert_close(a(images[:1], images[1:]), b(images[:1], images[1:]), rtol=1e-12, atol=0)


def test_the_identity_comes_from_the_object():
    D = load_distance("lpips-squeeze", lpips_backbone="random:7", resize=32)
    assert distance_meta(D) == {"distance": "lpips-squeeze",
                                "distance_options": {"backbone": "random:7", "resize": 32, "version": "0.1"}}
    assert describe_distance(D) == "lpips-squeeze (random backbone, seed 7, resized to 32 px)"
    assert distance_meta(load_distance("mse")) == {"distance": "mse", "distance_options": {}}


def test_a_backbone_file_is_recorded_by_digest(tmp_path):
    src = load_distance("lpips-alex", lpips_backbone="random:3")
    state = {f"features.{name}": p.detach().clone() for name, p in src.lpips.net.named_parameters()}
    state = {k.replace("slice1.", "").replace("slice2.", "").replace("slice3.", "").replace("slice4.", "")
             .replace("slice5.", ""): v for k, v in state.items()}
    torch.save(state, tmp_path / "alex.pth")
    D = load_distance("lpips-alex", lpips_backbone=str(tmp_path / "alex.pth"))
    rec = distance_meta(D)["distance_options"]["backbone"]
    assert rec["path"] == str((tmp_path / "alex.pth").resolve()) and len(rec["sha256"]) == 64
    x = torch.zeros(1, 3, 32, 32)
    torch.testing.assert_close(D(x, x + 0.5), src(x, x + 0.5), rtol=1e-6, atol=0)
    # a record's backbone file is loaded only when the user names it, and then checked by digest
    meta = distance_meta(D)
    with pytest.raises(InputError, match=f"^the axes records the LPIPS backbone file {rec['path']} \\(sha256 "
                                         f"{rec['sha256'][:12]}\\); ganmetric loads a weights file only when you "
                                         f"name it: pass --lpips-backbone "):
        load_recorded_distance(meta, what="the axes")
    named = load_recorded_distance(meta, DistanceSpec(options={"lpips_backbone": str(tmp_path / "alex.pth")}))
    torch.testing.assert_close(named(x, x + 0.5), D(x, x + 0.5), rtol=0, atol=0)
    with pytest.raises(InputError, match="distance lpips-alex there, mse here"):  # another distance: that is the error
        load_recorded_distance(meta, DistanceSpec("mse"))
    state = {k: v + 1 for k, v in state.items()}
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(InputError, match="made with another distance: backbone .*alex.pth there, .*other.pth here"):
        load_recorded_distance(meta, DistanceSpec(options={"lpips_backbone": str(tmp_path / "other.pth")}))


def test_recorded_distance_is_rebuilt_and_mismatches_refused():
    meta = distance_meta(load_distance("lpips-alex", lpips_backbone="random:2"))
    D = load_recorded_distance(meta)
    assert D.options["backbone"] == "random:2"
    assert load_recorded_distance(meta, DistanceSpec(options={"resize": None})).options["backbone"] == "random:2"
    with pytest.raises(InputError, match="made with another distance: backbone random:2 there, random:0 here"):
        load_recorded_distance(meta, DistanceSpec("lpips-alex", {"lpips_backbone": "random"}))
    with pytest.raises(InputError, match="distance lpips-alex there, mse here"):
        load_recorded_distance(meta, DistanceSpec("mse"))


def test_old_unseeded_random_backbones_match_nothing():
    old = {"distance": "lpips-alex", "distance_options": {"backbone": "random", "resize": None, "version": "0.1"}}
    with pytest.raises(InputError, match="backbone random there, random:0 here"):
        check_same_distance(old, load_distance("lpips-alex", lpips_backbone="random"))


def test_lpips_options_are_refused_for_mse():
    with pytest.raises(InputError, match="^resize applies to lpips-alex, lpips-vgg, lpips-squeeze only, not mse$"):
        load_distance("mse", resize=64)
    with pytest.raises(InputError, match="lpips_backbone applies to lpips-alex, lpips-vgg, lpips-squeeze only"):
        load_distance("mse", lpips_backbone="random")


@pytest.mark.parametrize("net, side", [("alex", 31), pytest.param("vgg", 16, marks=pytest.mark.slow),
                                       ("squeeze", 17)])
def test_too_small_images_name_the_minimum_and_resize(net, side):
    D = load_distance(f"lpips-{net}", lpips_backbone="random")
    x = torch.zeros(1, 3, side - 1, side - 1)
    with pytest.raises(InputError, match=f"at least {side} pixels a side.*resize") as info:
        D(x, x)
    assert info.value.argument == "resize"
    D(torch.zeros(1, 3, side, side), torch.zeros(1, 3, side, side))  # the stated minimum works
    assert load_distance(f"lpips-{net}", lpips_backbone="random", resize=64)(x, x).shape == (1,)


def test_bad_random_seed():
    with pytest.raises(InputError, match=r"random:SEED needs an integer seed in \[0, 2\*\*63\)"):
        load_distance("lpips-alex", lpips_backbone="random:x")


def test_metric_with_random_backbone_is_reproducible():
    """The user's report: the same command three times gave three lambda_1; now one."""
    from helpers import TinyConvGenerator
    G = TinyConvGenerator(n=6, res=32).double()
    z = G.sample(1, seed=0)
    vals = [ganmetric.metric_tensor(G, load_distance("lpips-alex", lpips_backbone="random", dtype="float64"), z,
                                    method="jacobian").eigvals[0] for _ in range(2)]
    torch.testing.assert_close(vals[0], vals[1], rtol=1e-12, atol=0)
