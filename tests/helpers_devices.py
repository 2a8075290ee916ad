"""Tiny models of every registered family, loaded through ``load_generator`` as a user would, for the device tiers.

``TINY_MODELS[family](folder)`` writes what the family needs into ``folder`` (a config .json,
and weights where the family has no seeded random ones) and returns ``(model, options)`` for
``ganmetric.load_generator(model, **options)``. A new family adds an entry here: the meta-device
and fake-CUDA tiers run every family in ``FAMILIES`` and fail for one without a tiny model.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch


def _config(folder: Path, cfg: dict) -> str:
    path = Path(folder) / f"{cfg['name']}.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def _dcgan(folder):
    return _config(folder, {"name": "tiny-dcgan", "family": "dcgan", "resolution": 16, "latent_spaces": {"z": 8},
                            "architecture": {"nz": 8, "ngf": 4, "nc": 3}, "weights": None}), {"pretrained": False}


def _cdcgan(folder):
    return _config(folder, {"name": "tiny-cdcgan", "family": "cdcgan", "resolution": 16, "latent_spaces": {"z": 8},
                            "architecture": {"nz": 8, "ngf": 4, "nc": 3, "dropout": 0.2,
                                             "class_names": ["a", "b", "c"]}, "weights": None}), \
        {"pretrained": False, "class_name": "b"}


def _stylegan2(folder):
    return _config(folder, {"name": "tiny-stylegan2", "family": "stylegan2", "resolution": 16,
                            "latent_spaces": {"w": 16, "z": 16, "w+": 96},
                            "architecture": {"channels": [16, 16, 8], "style_dim": 16, "n_mlp": 2},
                            "weights": {"source": "random", "seed": 0}}), {}


def _biggan(folder):
    """A 16 px BigGAN-deep (the BigGAN tests' configuration) with seeded random weights, as a weights folder."""
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig
    config = dict(output_dim=16, z_dim=16, class_embed_dim=16, channel_width=4, num_classes=10,
                  layers=[[False, 16, 8], [False, 8, 4], [True, 4, 2], [True, 2, 1]], attention_layer_position=2)
    weights = Path(folder) / "tiny-biggan"
    weights.mkdir(exist_ok=True)
    (weights / "config.json").write_text(json.dumps(config))
    with torch.random.fork_rng(devices=[]), torch.device("cpu"):
        torch.random.default_generator.manual_seed(0)
        model = BigGAN(BigGANConfig(**config))
    with torch.no_grad():
        model.generator.bn.weight.fill_(1.0)  # left uninitialised by the package
        model.generator.bn.bias.zero_()
    torch.save(model.state_dict(), weights / "pytorch_model.bin")
    return _config(folder, {"name": "tiny-biggan", "family": "biggan", "resolution": 16,
                            "latent_spaces": {"full": 32, "noise": 16, "class": 16},
                            "weights": {"name": "tiny-biggan"}}), {"weights": str(weights), "truncation": 0.5}


def _deepsim(folder):
    from helpers_zoo import deepsim_state
    torch.save(deepsim_state("fc6"), Path(folder) / "tiny-deepsim.pt")
    return "deepsim", {"weights": str(Path(folder) / "tiny-deepsim.pt")}


def _ganzoo(family):
    def build(folder):
        from ganmetric.generators.ganzoo_file import save_ganzoo_checkpoint
        from helpers_zoo import dcgan_parts, pggan_parts
        path = Path(folder) / f"tiny-{family}.pth"
        save_ganzoo_checkpoint(path, *(pggan_parts() if family == "pggan" else dcgan_parts()))
        return family, {"weights": str(path)}
    return build


TINY_MODELS = {"dcgan": _dcgan, "cdcgan": _cdcgan, "stylegan2": _stylegan2, "biggan": _biggan}
TINY_MODELS.update({"deepsim": _deepsim, "pggan": _ganzoo("pggan"), "gan-zoo-dcgan": _ganzoo("gan-zoo-dcgan")})


def _nvidia(architecture):
    """A tiny NVIDIA network pickle (persistence format, a source of the tests' own, perturbed random weights)."""
    def build(folder):
        from ganmetric.generators.nvidia import random_nvidia_generator
        from helpers_nvidia import COND_KWARGS, SG3_KWARGS, generator_record, perturbed, write_snapshot
        kwargs = COND_KWARGS if architecture == "stylegan2" else SG3_KWARGS
        options = {"class_index": 1} if architecture == "stylegan2" else {}
        path = Path(folder) / f"tiny-nvidia-{architecture}.pkl"
        G = perturbed(random_nvidia_generator(architecture, kwargs, seed=3, **options))
        write_snapshot(path, generator_record(G, kwargs))
        return str(path), {**options, "truncation": 0.7}
    return build


#: model files that no family names (routed by their format): the device tiers run them as they run FAMILIES
TINY_MODEL_FILES = {"nvidia-pkl-stylegan2": _nvidia("stylegan2"), "nvidia-pkl-stylegan3": _nvidia("stylegan3")}
TINY_MODELS.update(TINY_MODEL_FILES)


def fake_cuda_copy(module: torch.nn.Module, mode) -> torch.nn.Module:
    """A copy of ``module`` whose parameters and buffers are ``mode``'s fake tensors on ``cuda:0``.

    ``FakeTensorMode`` fakes CUDA tensors without CUDA (shapes, dtypes and devices, no data), and
    refuses an op that mixes devices, as a GPU would. ``module.to()`` cannot make them (it swaps
    tensors, which fake tensors refuse), so they are set one by one.
    """
    import copy
    out = copy.deepcopy(module)
    for sub in out.modules():
        for name, p in list(sub._parameters.items()):
            if p is not None:
                fake = mode.from_tensor(p.detach())
                with mode:
                    sub._parameters[name] = torch.nn.Parameter(fake.to("cuda:0"), requires_grad=False)
        for name, b in list(sub._buffers.items()):
            if b is not None:
                fake = mode.from_tensor(b)
                with mode:
                    sub._buffers[name] = fake.to("cuda:0")
    return out


def _stylegan1(folder):
    """rosinality's StyleGAN layout, narrow (16 px, style_dim 8), seeded random weights in a g_running checkpoint."""
    from ganmetric.generators.stylegan1_layers import StyledGenerator, seeded_random_
    path = Path(folder) / "tiny-stylegan1.model"
    net = seeded_random_(StyledGenerator(channels=[8, 8, 4], style_dim=8, n_mlp=2, fused=[False, False, True]))
    torch.save({"g_running": net.state_dict()}, path)
    return "stylegan1", {"weights": str(path), "resolution": 16, "truncation": 0.7}


def _bigbigan(folder):
    """BigBiGAN's layout, narrow (32 px, 3 chunks of 4), seeded random weights as a BigGAN-PyTorch state dict."""
    from ganmetric.generators.bigbigan_layers import BigGANPyTorchNetwork, seeded_random_
    path = Path(folder) / "tiny-bigbigan.pth"
    net = seeded_random_(BigGANPyTorchNetwork(channels=[16, 16, 8], attention=[1], z_chunk=4, shared_dim=6, n_classes=3))
    torch.save(net.state_dict(), path)
    return "bigbigan", {"weights": str(path)}


TINY_MODELS.update({"stylegan1": _stylegan1, "bigbigan": _bigbigan})
