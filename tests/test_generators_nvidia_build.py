"""Rebuilding a pickled NVIDIA generator: identified by structure, built from its kwargs, every difference refused."""
from __future__ import annotations

import copy

import pytest
import torch

from ganmetric.errors import WeightsError
from ganmetric.generators.nvidia import random_nvidia_generator
from ganmetric.generators.nvidia.build import load_record, make_networks
from ganmetric.generators.nvidia.pickles import read_network_pickle
from helpers_nvidia import SG2_KWARGS, SG3_KWARGS, Persistent, generator_record, perturbed, write_snapshot

CONFIGS = {
    "sg2-skip": ("stylegan2", SG2_KWARGS),
    "sg2-resnet-conditional": ("stylegan2", {**SG2_KWARGS, "c_dim": 3, "synthesis_kwargs": {
        **SG2_KWARGS["synthesis_kwargs"], "architecture": "resnet", "conv_clamp": 0.5}}),
    "sg2-orig-flat": ("stylegan2", {**{k: v for k, v in SG2_KWARGS.items() if k != "synthesis_kwargs"},
                                    "channel_base": 64, "channel_max": 8, "architecture": "orig"}),
    "sg3-t": ("stylegan3", SG3_KWARGS),
    "sg3-r": ("stylegan3", {**SG3_KWARGS, "conv_kernel": 1, "use_radial_filters": True, "c_dim": 2}),
}


def _round_trip(tmp_path, architecture, kwargs, *, edit=None):
    G = perturbed(random_nvidia_generator(architecture, kwargs, seed=3))
    rec = generator_record(G, kwargs)
    if edit is not None:
        edit(rec)
    path = tmp_path / "net.pkl"
    write_snapshot(path, rec)
    return G, load_record(read_network_pickle(path)["G_ema"], where="net.pkl")


def _child(rec, *path):
    for name in path:
        rec = rec.meta["state"]["_modules"][name]
    return rec


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_a_pickled_network_comes_back_identical(tmp_path, config):
    """Every tensor and attribute goes through the file; the rebuilt network computes the same images."""
    architecture, kwargs = CONFIGS[config]
    G, nets = _round_trip(tmp_path, architecture, kwargs)
    assert nets.architecture == architecture
    assert nets.config == {"sg3-r": "stylegan3-r", "sg3-t": "stylegan3-t"}.get(config, "stylegan2")
    for mine, theirs in ((G.mapping, nets.mapping), (G.synthesis, nets.synthesis)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    ws = torch.randn(2, G.num_ws, G.w_dim, generator=torch.Generator(device="cpu").manual_seed(0), device="cpu")
    with torch.no_grad():
        assert torch.equal(nets.synthesis(ws), G.synthesis(ws))


def test_another_class_is_refused_naming_it(tmp_path):
    def edit(rec):
        rec.meta["class_name"] = "SuperresGenerator"
    with pytest.raises(WeightsError, match=r"not an NVIDIA StyleGAN2-ADA/StyleGAN3 generator \(class SuperresGenerator "
                                           r"with synthesis: SynthesisNetwork, mapping: MappingNetwork\)"):
        _round_trip(tmp_path, "stylegan2", SG2_KWARGS, edit=edit)


def test_an_unknown_synthesis_structure_is_refused(tmp_path):
    def edit(rec):
        blocks = _child(rec, "synthesis").meta["state"]["_modules"]
        blocks["head"] = blocks.pop("b4")
    with pytest.raises(WeightsError, match=r"neither StyleGAN2's \(blocks b4, b8, ...\) nor StyleGAN3's"):
        _round_trip(tmp_path, "stylegan2", SG2_KWARGS, edit=edit)


def test_an_attribute_the_kwargs_do_not_explain_is_refused(tmp_path):
    """A fork that clamps where NVIDIA's code (with the file's arguments) would not: refused, not guessed."""
    def edit(rec):
        _child(rec, "synthesis", "b8", "conv0").meta["state"]["conv_clamp"] = 256
    with pytest.raises(WeightsError, match=r"synthesis.b8.conv0.conv_clamp is 256 in the file, but NVIDIA's code "
                                           r"makes it None from the file's own arguments"):
        _round_trip(tmp_path, "stylegan2", SG2_KWARGS, edit=edit)


def test_an_extra_submodule_is_refused(tmp_path):
    def edit(rec):
        layers = _child(rec, "synthesis", "L1_20_8").meta["state"]["_modules"]
        layers["extra"] = Persistent(copy.deepcopy(layers["affine"].meta))
    with pytest.raises(WeightsError, match=r"synthesis.L1_20_8 has an extra extra, unlike NVIDIA's SynthesisLayer"):
        _round_trip(tmp_path, "stylegan3", SG3_KWARGS, edit=edit)


@pytest.mark.parametrize("change, match", [
    ("drop", r"the file has no tensor synthesis.b8.conv1.bias for NVIDIA's stylegan2 generator"),
    ("shape", r"synthesis.b8.conv1.bias has shape \(3,\), NVIDIA's network needs \(8,\)"),
    ("extra", r"the file has an unexpected tensor synthesis.b8.conv1.extra"),
    ("integer", r"synthesis.b8.conv1.bias is not a floating-point tensor"),
])
def test_tensors_must_fit_exactly(tmp_path, change, match):
    def edit(rec):
        params = _child(rec, "synthesis", "b8", "conv1").meta["state"]["_parameters"]
        if change == "drop":
            del params["bias"]
        elif change == "shape":
            params["bias"] = torch.zeros(3)
        elif change == "extra":
            params["extra"] = torch.zeros(3)
        else:
            params["bias"] = torch.zeros(8, dtype=torch.int64)
    with pytest.raises(WeightsError, match=match):
        _round_trip(tmp_path, "stylegan2", SG2_KWARGS, edit=edit)


def test_constructor_arguments_nvidia_does_not_take_are_refused():
    with pytest.raises(WeightsError, match=r"NVIDIA's STYLEGAN3 Generator takes no argument superres_layers"):
        make_networks("stylegan3", {**SG3_KWARGS, "superres_layers": 4})
    with pytest.raises(WeightsError, match=r"takes no argument embed_features"):
        make_networks("stylegan3", {**SG3_KWARGS, "mapping_kwargs": {"embed_features": 4}})
    with pytest.raises(WeightsError, match=r"needs img_channels"):
        make_networks("stylegan2", {k: v for k, v in SG2_KWARGS.items() if k != "img_channels"})
    with pytest.raises(WeightsError, match=r"img_resolution a power of 2 >= 4, got 8 and 24"):
        make_networks("stylegan2", {**SG2_KWARGS, "img_resolution": 24})
    with pytest.raises(WeightsError, match=r"unknown StyleGAN2 architecture 'fancy'"):
        make_networks("stylegan2", {**SG2_KWARGS, "synthesis_kwargs": {"architecture": "fancy"}})


def test_defaults_follow_the_repository_that_wrote_the_file():
    """stylegan2-ada-pytorch (nested synthesis_kwargs) clamps at None by default, stylegan3's StyleGAN2 at 256."""
    nested = make_networks("stylegan2", {**SG2_KWARGS, "synthesis_kwargs": {"channel_base": 64, "channel_max": 8}})
    flat = make_networks("stylegan2", {**{k: v for k, v in SG2_KWARGS.items() if k != "synthesis_kwargs"},
                                       "channel_base": 64, "channel_max": 8})
    assert nested.synthesis.b8.conv0.conv_clamp is None and flat.synthesis.b8.conv0.conv_clamp == 256
    assert nested.synthesis.b8.conv1.resample_filter.shape == (4, 4)
