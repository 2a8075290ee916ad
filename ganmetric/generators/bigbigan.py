"""BigBiGAN's generator as anvoynov/BigGANsAreWatching ships it (family ``bigbigan``).

The checkpoint (``BigBiGAN_x1.pth``: DeepMind's TF-Hub BigBiGAN generator ported to
BigGAN-PyTorch) is a bare ``Generator`` state dict, read weights-only and loaded strictly:
all of its keys are used (166 for BigBiGAN), none ignored; the authors' ``make_big_gan`` loads
it with ``strict=False``, which would silently ignore a missing key.

The map is their ``UnconditionalBigGAN`` in eval mode: z (dim_z = 120, split into 6 chunks of
20: the first feeds the first linear layer, chunk i + 1 the BatchNorms of block i next to the
class embedding) and the class fixed at 0 (``shared(0)``), images in (-1, 1) after tanh, with
the model's eval-mode spectral normalisation and stored BatchNorm statistics (see
:mod:`~ganmetric.generators.bigbigan_layers`). The epsilons are those of their
``make_biggan_config``: BN and SN eps 1e-4 (the output BatchNorm keeps the code's default 1e-5).
Codes are drawn as the authors draw them: z ~ N(0, I) (their ``make_noise`` without truncation).
Sizes are read from the state dict, so other hierarchical BigGAN-PyTorch generators with a
shared embedding load too.
"""
from __future__ import annotations

import torch

from ..errors import WeightsError
from ..io import load_torch_file
from .base import Generator, load_state_strict
from .bigbigan_layers import BigGANPyTorchNetwork, infer_architecture
from .families import register_family
from .fast_layers import fold_all
from .weights import resolve_user_file

#: make_biggan_config's epsilons
BN_EPS = SN_EPS = 1e-4
#: the class UnconditionalBigGAN fixes
CLASS_INDEX = 0


class BigBiGANGenerator(Generator):
    """A frozen BigGAN-PyTorch generator with the class fixed, in latent space z (dim_z).

    Args:
        net: the network (BigGAN-PyTorch module names).
        name: model name.
    """

    def __init__(self, net: BigGANPyTorchNetwork, *, name: str = "bigbigan"):
        super().__init__(name=name, latent_dim=net.dim_z, latent_space="z", resolution=net.resolution)
        self.big_gan = net
        self.freeze()
        fold_all(net)

    def _generate(self, z):
        classes = torch.full((z.shape[0],), CLASS_INDEX, dtype=torch.long, device=z.device)
        return self.big_gan(z, classes)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, resolution={self.resolution}"


def split_checkpoint(obj, *, where: str = "checkpoint") -> dict:
    """The state dict of a BigGAN-PyTorch generator file.

    Raises:
        WeightsError: the file holds something else (one line saying what).
    """
    if isinstance(obj, dict) and "g_running" in obj:
        raise WeightsError(f"{where} is a StyleGAN (1) checkpoint (key 'g_running'), not a BigGAN-PyTorch generator: "
                           "use the model stylegan1")
    if isinstance(obj, dict) and "g_ema" in obj:
        raise WeightsError(f"{where} is a StyleGAN2 checkpoint (key 'g_ema'), not a BigGAN-PyTorch generator: use the "
                           "model stylegan2")
    if not isinstance(obj, dict) or "shared.weight" not in obj or "linear.weight" not in obj:
        found = ", ".join(sorted(map(str, obj))[:8]) if isinstance(obj, dict) else type(obj).__name__
        raise WeightsError(f"{where} is not a BigGAN-PyTorch generator state dict (keys shared.weight, linear.*, "
                           f"blocks.*, output_layer.*); found {found}")
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{where}: a generator state dict must hold tensors only")
    return dict(obj)


def network_from_state(state: dict, *, where: str = "checkpoint") -> BigGANPyTorchNetwork:
    """The network that fits ``state``, loaded strictly.

    Raises:
        WeightsError: a missing or unexpected key, or a shape that does not fit.
    """
    net = BigGANPyTorchNetwork(bn_eps=BN_EPS, sn_eps=SN_EPS, **infer_architecture(state, where=where))
    load_state_strict(net, state, where, label="BigGAN weights")
    return net


@register_family("bigbigan")
def build_bigbigan(cfg: dict, *, latent_space: str = "z", weights: str | None = None) -> BigBiGANGenerator:
    """Builder for ``family: bigbigan`` configs.

    Config keys used: ``weights`` (``file``/``url`` of the published checkpoint, its place in the
    cache, ``sha256`` when pinned); ``resolution`` and ``latent_spaces.z``, checked against the
    file when present.

    Raises:
        InputError: missing file; WeightsError: no weights, weights that are not a BigGAN-PyTorch
            generator, or of another size than the config's.
    """
    path, info = resolve_user_file(cfg, weights)
    state = split_checkpoint(load_torch_file(path, what="BigGAN weights file"), where=str(path))
    gen = BigBiGANGenerator(network_from_state(state, where=str(path)), name=cfg["name"])
    res, dim = cfg.get("resolution"), (cfg.get("latent_spaces") or {}).get("z")
    if (res is not None and res != gen.resolution) or (isinstance(dim, int) and dim != gen.latent_dim):
        raise WeightsError(f"{path} holds a {gen.resolution} px generator with dim_z {gen.latent_dim}, but model "
                           f"{cfg['name']} is {res} px with dim_z {dim}; use the model bigbigan for any size")
    gen.weights = info
    return gen
