"""SeFa (Shen & Zhou, CVPR 2021): latent directions from a generator's weights alone.

**Definition** (the authors' ``factorize_weight`` in genforce/sefa ``utils.py``, read, not
copied): arrange the weights of the linear map(s) that act on the latent code as a matrix
``W`` of shape (latent size n) x (output units m), one column per output unit; divide every
column by its norm; the directions are the eigenvectors of ``W W^T`` (n x n, in latent
space), largest eigenvalue first. The eigenvalues are those of the normalised ``W W^T``
(they sum to the number of columns). The authors use float32 and ``np.linalg.eig`` (no
sorting); here float64 and a symmetric solver, sorted descending.

**Which weights**, per family:

- DCGAN-style models (the first layer is ``nn.Linear`` or ``nn.ConvTranspose2d`` on the
  1x1 code): that layer's map on the code. ``nn.Linear(n, m)``: ``W = weight.T`` (n, m).
  ``ConvTranspose2d`` weight (n, C, kh, kw), padding p: output pixel (i, j) of channel c is
  ``sum_z weight[z, c, i+p, j+p] z``, so ``W = weight[:, :, p:kh-p, p:kw-p].reshape(n, -1)``
  and every output pixel of every channel is a column (the authors' PGGAN branch treats its
  first 4x4 layer the same way). Conditional models: only the code's n inputs (the one-hot
  class inputs are fixed).
- StyleGAN2 in ``w``: the style (modulation) affine maps, ``s = A w + b`` with ``A`` of shape
  (in_channels, style_dim), of the chosen synthesis layers, each used as
  (style_dim x in_channels), concatenated along the columns. The default is the authors'
  ``layer_idx='all'``: every modulated convolution (``conv1``, ``convs.*``) **and the last
  toRGB** (the authors number the layers by the style they read, 0 .. n_latent-1, and their
  last index names the final toRGB, ``output{idx//2}``), but no other toRGB. ``layers=``
  picks a subset by the authors' indices (``[0, 1, 2]``, ``"0-3,5"``) or by module name
  (``"conv1,convs.0"``; any toRGB by its name too).
- StyleGAN2 in ``w+``: the same factorisation of the chosen layers; each direction is placed
  in the rows of w+ that those layers read (the authors' edit ``code[:, layers] += d v``),
  zero elsewhere, and scaled to unit length.
- StyleGAN2 in ``z``: not defined (the mapping network is not linear): refused.
- NVIDIA StyleGAN2-ADA / StyleGAN3 pickles (:mod:`ganmetric.generators.nvidia`), in ``w`` and
  ``w+``: the same factorisation of their ``affine`` layers (each the map the forward pass
  applies to w: ``weight * weight_gain``, and the toRGB layers' extra gain), chosen by module
  name (``synthesis.b8.conv0``, ``synthesis.L3_52_512``) or by the w+ row a layer reads. The
  default is the authors' set for StyleGAN2 (every convolution and the last toRGB); for
  StyleGAN3, which the authors did not treat, every synthesis layer (the Fourier input's
  affine, which sets a rotation and translation, is not a style layer). ``z``: refused.
- StyleGAN (1, rosinality) in ``w`` / ``w+``: the AdaIN style maps ``(scale, bias) = A w + b``
  (``A``: 2C x style_dim) of the blocks that run, numbered as the authors number StyleGAN's
  ``layer{idx}.style`` (two per block: 2b is block b's ``adain1``, 2b + 1 its ``adain2``; default
  all of them), or by name (``progression.3.adain1``). In ``w+`` a direction goes into the rows
  of the blocks its layers belong to. ``z``: refused, as for StyleGAN2.
- BigBiGAN: refused. Its code enters the network in chunks at different layers (the first
  linear layer reads only the first of 6 chunks, the others enter the BatchNorms of each
  block), so there is no first layer acting on the whole code, which the method factorises.
- BigGAN: the first linear map of the conditioning vector ``[noise, class embedding]``
  (``generator.gen_z``, the authors' BigGAN variant), with its spectral normalisation as in the
  forward pass, restricted to the inputs of the latent space the metric is in: all of them in
  ``full``, the noise half in ``noise``, the class half in ``class``.

**Variants** (``variant=``):

- ``"authors"`` (default): columns normalised, as genforce/sefa does.
- ``"unnormalised"``: the raw weights' ``W W^T`` (StyleGAN2: the modulation weight times its
  equalised-learning-rate scale, the map the forward pass applies). This is what ganmetric
  computed before (its first-layer Gram ``A^T A``), and what rosinality/stylegan2-pytorch's
  ``closed_form_factorization.py`` computes for StyleGAN2 (right singular vectors of the
  stacked raw modulation weights of ``conv1``, ``to_rgb1`` and ``convs.*``; pass those
  names as ``layers`` to reproduce its layer set).

A column of zeros (an output unit the code does not reach) contributes nothing in either variant.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn.utils.spectral_norm import SpectralNorm

from .. import checks
from ..errors import InputError
from ..linalg import eigh_descending
from ..placement import cpu_tensor
from .directions import Directions

if TYPE_CHECKING:  # the families are imported on first use (cold start): a model of one is already loaded
    from ..generators.biggan import BigGANGenerator
    from ..generators.stylegan1 import StyleGAN1Generator
    from ..generators.stylegan2 import StyleGAN2Generator

VARIANTS = ("authors", "unnormalised")
#: the method name a variant's directions carry in tables and files
METHOD_NAMES = {"authors": "sefa", "unnormalised": "sefa-unnormalised"}


def _first_layer(G):
    for name, module in G.named_modules():
        if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
            return name, module
        if any(p.numel() for p in module.parameters(recurse=False)):
            break
    raise InputError(f"SeFa needs a first layer that is nn.Linear or nn.ConvTranspose2d on the code; {G.name} "
                     "has none (pass its weight to sefa_directions(weight=...))", argument="G")


def _layer_weight(layer: nn.Module) -> torch.Tensor:
    """The weight the layer's forward pass uses (spectral normalisation applied, without a power-iteration step;
    a constant ``weight_gain`` of an equalized-learning-rate layer applied)."""
    for hook in layer._forward_pre_hooks.values():
        if isinstance(hook, SpectralNorm):
            return hook.compute_weight(layer, do_power_iteration=False).detach().cpu()
    return layer.weight.detach().cpu() * getattr(layer, "weight_gain", 1.0)


def _code_map(W: torch.Tensor, is_linear: bool, pad: int, n: int, name: str) -> np.ndarray:
    """(n, m) float64: the layer's map on the first n inputs, one column per output unit.

    Raises:
        InputError: the layer takes fewer than n inputs.
    """
    W = W.to(device="cpu", dtype=torch.float64)
    n_in = W.shape[1] if is_linear else W.shape[0]
    if n_in < n:
        raise InputError(f"first layer {name} takes {n_in} inputs but the latent size is {n}", argument="weight")
    if is_linear:
        return W[:, :n].T.numpy()
    kh, kw = W.shape[2], W.shape[3]
    return W[:n, :, pad:kh - pad, pad:kw - pad].reshape(n, -1).numpy()


def _explicit_blocks(weight, latent_dim) -> tuple[list, dict]:
    W = cpu_tensor(weight)  # a weight on any device, or an array
    if W.dim() not in (2, 4):
        raise InputError(f"weight must be (m, n) or (n, C, kh, kw), got shape {tuple(W.shape)}", argument="weight")
    n = latent_dim or (W.shape[1] if W.dim() == 2 else W.shape[0])
    return [_code_map(W, W.dim() == 2, 0, n, "weight")], {"layers": ["weight"]}


def _first_layer_blocks(G) -> tuple[list, dict]:
    name, layer = _first_layer(G)
    is_linear = isinstance(layer, nn.Linear)
    pad = 0 if is_linear else int(layer.padding[0])
    return [_code_map(_layer_weight(layer), is_linear, pad, G.latent_dim, name)], {"layers": [name]}


def _biggan_blocks(G: BigGANGenerator) -> tuple[list, dict]:
    """gen_z's map on the conditioning vector, restricted to the latent space's half (or all of it)."""
    W = _layer_weight(G.biggan.generator.gen_z).to(device="cpu", dtype=torch.float64)  # (m, 2d)
    d = G.half
    cols = {"full": slice(0, 2 * d), "noise": slice(0, d), "class": slice(d, 2 * d)}[G.latent_space]
    return [W[:, cols].T.numpy()], {"layers": ["generator.gen_z"], "inputs": G.latent_space}


def _style_layers(net) -> dict:
    """Every modulated layer of a StyleGAN2 synthesis network: name -> (style index, modulation EqualLinear)."""
    found = {"conv1": (0, net.conv1.conv.modulation), "to_rgb1": (1, net.to_rgb1.conv.modulation)}
    found.update({f"convs.{j}": (j + 1, c.conv.modulation) for j, c in enumerate(net.convs)})
    found.update({f"to_rgbs.{j}": (2 * j + 3, t.conv.modulation) for j, t in enumerate(net.to_rgbs)})
    return found


def _authors_numbering(net) -> list[str]:
    """The authors' layer indices 0 .. n_latent-1 as module names: conv1, convs.0, ..., then the last toRGB."""
    last_rgb = f"to_rgbs.{len(net.to_rgbs) - 1}" if len(net.to_rgbs) else "to_rgb1"
    return ["conv1"] + [f"convs.{j}" for j in range(len(net.convs))] + [last_rgb]


def _layer_tokens(layers) -> list:
    """``layers`` as a flat list of ints and names ("0-3,5,conv1" -> [0, 1, 2, 3, 5, "conv1"])."""
    items = [layers] if isinstance(layers, (int, str)) else list(layers)
    out = []
    for item in items:
        if isinstance(item, bool):
            raise InputError(f"layers must be indices or module names, got {item}", argument="layers")
        parts = item.replace(" ", "").split(",") if isinstance(item, str) else [item]
        for part in parts:
            lo, dash, hi = part.partition("-") if isinstance(part, str) else ("", "", "")
            if dash and lo.isdigit() and hi.isdigit():
                out += list(range(int(lo), int(hi) + 1))
            elif isinstance(part, str) and part.isdigit():
                out.append(int(part))
            elif part != "":
                out.append(part)
    if not out:
        raise InputError("layers must name at least one synthesis layer (or be None: the authors' default)",
                         argument="layers")
    return out


def _select_layers(numbering: list[str], catalogue: dict, layers, legend: str) -> list[str]:
    """Names of the chosen style layers, in the network's order, each once.

    Args:
        numbering: the authors' indices as module names; catalogue: every style layer by name;
        layers: the user's choice; legend: the numbering in words, for the error message.

    Raises:
        InputError: an index outside the authors' numbering, or an unknown name.
    """
    if layers is None or layers == "all":
        return numbering
    chosen = set()
    for token in _layer_tokens(layers):
        if isinstance(token, (int, np.integer)):
            if not 0 <= token < len(numbering):
                raise InputError(f"layers must be indices 0-{len(numbering) - 1} in the SeFa authors' numbering "
                                 f"({legend}) or module names, got {token}", argument="layers")
            chosen.add(numbering[token])
        else:
            chosen.add(checks.one_of("layers", str(token), catalogue, what="SeFa layer"))
    return [name for name in catalogue if name in chosen]


def _style_map(modulation) -> np.ndarray:
    """(style_dim, in_channels) float64: the affine style map's matrix as the forward pass applies it."""
    return (modulation.weight.detach().to(device="cpu", dtype=torch.float64) * modulation.scale).T.numpy()


def _stylegan2_blocks(G: StyleGAN2Generator, layers) -> tuple[list, dict]:
    if G.latent_space == "z":
        raise InputError("SeFa is not defined in StyleGAN2's z space (the mapping network is not linear): load the "
                         "model in latent space w", argument="latent_space")
    catalogue, numbering = _style_layers(G.g_ema), _authors_numbering(G.g_ema)
    n = len(numbering)
    names = _select_layers(numbering, catalogue, layers,
                           f"0 conv1, 1-{n - 2} convs.0-{n - 3}, {n - 1} the last toRGB {numbering[-1]}")
    blocks = [_style_map(catalogue[name][1]) for name in names]
    rows = sorted({catalogue[name][0] for name in names})
    return blocks, {"layers": names, "style_rows": rows}


def _nvidia_blocks(G, layers) -> tuple[list, dict]:
    """An NVIDIA StyleGAN2/StyleGAN3 pickle's style affines, chosen by w+ row (index) or module name."""
    if G.latent_space == "z":
        raise InputError("SeFa is not defined in an NVIDIA generator's z space (the mapping network is not linear): "
                         "load the model in latent space w", argument="latent_space")
    catalogue = G.style_affines()
    numbering = G.sefa_numbering()
    if layers is None or layers == "all":
        chosen = {name for name in numbering if name is not None}
    else:
        chosen = set()
        valid = [i for i, name in enumerate(numbering) if name is not None]
        for token in _layer_tokens(layers):
            if isinstance(token, (int, np.integer)):
                if token not in valid:
                    raise InputError(f"layers must be indices {valid[0]}-{valid[-1]} (the w+ row a layer reads: "
                                     f"{valid[0]} {numbering[valid[0]]} ... {valid[-1]} {numbering[valid[-1]]}) or "
                                     f"module names, got {token}", argument="layers")
                chosen.add(numbering[token])
            else:
                chosen.add(checks.one_of("layers", str(token), catalogue, what="SeFa layer"))
    names = [name for name in catalogue if name in chosen]
    blocks = [catalogue[name][1].numpy() for name in names]
    return blocks, {"layers": names, "style_rows": sorted({catalogue[name][0] for name in names})}


def _stylegan1_blocks(G: StyleGAN1Generator, layers) -> tuple[list, dict]:
    """StyleGAN (1): the AdaIN style maps (w -> per-channel scale and bias, 2C outputs) of the blocks that run.

    The authors number them 0 .. 2 (step + 1) - 1, two per block (their ``layer{idx}.style``):
    2b is block b's ``adain1``, 2b + 1 its ``adain2``; both read block b's style.
    """
    if G.latent_space == "z":
        raise InputError("SeFa is not defined in StyleGAN's z space (the mapping network is not linear): load the "
                         "model in latent space w", argument="latent_space")
    numbering = [f"progression.{b}.adain{k}" for b in range(G.step + 1) for k in (1, 2)]
    blocks = G.g_running.generator.progression
    catalogue = {name: (i // 2, getattr(blocks[i // 2], f"adain{i % 2 + 1}").style.linear)
                 for i, name in enumerate(numbering)}
    names = _select_layers(numbering, catalogue, layers, f"2b the adain1 and 2b+1 the adain2 of block b, "
                                                         f"progression.b, b = 0-{G.step}")
    maps = [catalogue[name][1].folded()[0].detach().to(device="cpu", dtype=torch.float64).T.numpy() for name in names]
    return maps, {"layers": names, "style_rows": sorted({catalogue[name][0] for name in names})}


def _is_family(G, module: str, name: str) -> bool:
    """isinstance(G, ganmetric.generators.<module>.<name>) without importing the family: a
    generator of a family whose module was never imported cannot be one of its instances."""
    family = sys.modules.get(f"ganmetric.generators.{module}")
    return family is not None and isinstance(G, getattr(family, name))


def _blocks(G, layers, weight, latent_dim) -> tuple[list, dict]:
    """The (n, m_i) maps on the code whose columns SeFa factorises, and how they were chosen."""
    if weight is not None:
        blocks, info = _explicit_blocks(weight, latent_dim or (G.latent_dim if G is not None else None))
    elif _is_family(G, "stylegan2", "StyleGAN2Generator"):
        return _stylegan2_blocks(G, layers)
    elif _is_family(G, "nvidia.family", "NvidiaGenerator"):
        return _nvidia_blocks(G, layers)
    elif _is_family(G, "stylegan1", "StyleGAN1Generator"):
        return _stylegan1_blocks(G, layers)
    elif _is_family(G, "bigbigan", "BigBiGANGenerator"):
        net = G.big_gan
        raise InputError(f"SeFa is not defined for {G.name}: its code enters the network in "
                         f"{net.dim_z // net.z_chunk} chunks of {net.z_chunk} at different depths (the first linear "
                         f"map reads only the first chunk, each other chunk one block's BatchNorms), so no one "
                         f"linear map acts on the whole code", argument="G")
    elif _is_family(G, "biggan", "BigGANGenerator"):
        blocks, info = _biggan_blocks(G)
    else:
        blocks, info = _first_layer_blocks(G)
    if layers is not None:
        raise InputError(f"layers must be left out for this model: it has a single SeFa layer "
                         f"({info['layers'][0]}); choosing among several is for StyleGAN2, StyleGAN and NVIDIA pickles",
                         argument="layers")
    return blocks, info


def _factorise(W: np.ndarray, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs (descending) of ``W W^T`` for W (n, m), columns normalised for the authors' variant."""
    if variant == "authors":
        norms = np.linalg.norm(W, axis=0)
        W = W / np.where(norms > 0, norms, 1.0)
    return eigh_descending(W @ W.T)


def _in_w_plus(G: StyleGAN2Generator, vecs: np.ndarray, rows: list[int]) -> np.ndarray:
    """Directions (k, style_dim) placed in the given w+ rows, zero elsewhere, unit length."""
    out = np.zeros((vecs.shape[0], G.latent_dim // G.style_dim, G.style_dim))
    out[:, rows] = vecs[:, None, :]
    return out.reshape(vecs.shape[0], -1) / np.sqrt(len(rows))


def sefa_directions(G=None, *, k: int | None = None, layers=None, variant: str = "authors", weight=None,
                    latent_dim: int | None = None) -> Directions:
    """SeFa directions of G: eigenvectors of ``W W^T`` for its code-facing weights (see the module docstring).

    Args:
        G: generator (DCGAN-style, StyleGAN2, StyleGAN or an NVIDIA pickle in w or w+, BigGAN), or None
            with ``weight``.
        k: how many directions (default all: the latent size, style_dim for StyleGAN2 and StyleGAN).
        layers: StyleGAN2 and StyleGAN only: the synthesis layers, by the authors' indices
            (StyleGAN2: 0 .. n_latent-1, the last being the final toRGB; StyleGAN: 0 .. 2 (step + 1) - 1,
            two AdaINs per block) or module names (``conv1``, ``convs.K``, ``to_rgb1``,
            ``to_rgbs.K``; ``progression.B.adain1``, ``progression.B.adain2``): an int, a name, a
            list, or a string like ``"0-3,5"`` / ``"conv1,convs.0"``. None or ``"all"``: the
            authors' default. NVIDIA pickles: the w+ row a layer reads, or its module name
            (``synthesis.b8.conv0``, ``synthesis.L3_52_512``).
        variant: ``"authors"`` (columns normalised) or ``"unnormalised"`` (raw weights).
        weight: an explicit first-layer weight instead of G's: (m, n) like nn.Linear, or
            (n, C, kh, kw) like ConvTranspose2d (padding 0).
        latent_dim: with ``weight``, how many of its inputs are the code (default: G's
            latent size, or all of them without G).

    Returns:
        :class:`~ganmetric.axes.Directions` named ``sefa`` (authors) or ``sefa-unnormalised``,
        ``values`` the eigenvalues of ``W W^T`` (descending), ``info`` the variant, the layers
        used and, in w+, the rows the directions occupy.

    Raises:
        InputError: StyleGAN2, StyleGAN or an NVIDIA pickle in z; BigBiGAN; no suitable first layer; a
            weight of the wrong rank; an unknown variant or layer, an index out of range, ``layers``
            for a model that has a single SeFa layer; k out of range.
    """
    variant = checks.one_of("variant", variant, VARIANTS, what="SeFa variant")
    blocks, info = _blocks(G, layers, weight, latent_dim)
    vals, vecs = _factorise(np.concatenate(blocks, axis=1), variant)
    n = vecs.shape[0]
    k = checks.positive_int("k", k if k is not None else n, maximum=n)
    V = vecs[:, :k].T.copy()
    styled = _is_family(G, "stylegan2", "StyleGAN2Generator") or _is_family(G, "stylegan1", "StyleGAN1Generator") \
        or _is_family(G, "nvidia.family", "NvidiaGenerator")
    if styled and G.latent_space == "w+" and weight is None:
        V = _in_w_plus(G, V, info["style_rows"])
    else:
        info.pop("style_rows", None)
    return Directions(V, vals[:k].copy(), METHOD_NAMES[variant], {"variant": variant, **info})
