"""SeFa (Shen & Zhou 2021): latent directions from the first layer's weight alone.

The directions are the top eigenvectors of ``A^T A`` where ``A`` is the linear map of the
first layer from the latent code to its output. For ``nn.Linear(n, m)``, ``A = weight``
(m, n). For a DCGAN's first ``ConvTranspose2d`` on the 1x1 code, the weight is
(n, C, kh, kw) and output pixel (i, j) of channel c is ``sum_z W[z, c, i+p, j+p] z``
(p the padding), so ``A^T = W[:, :, p:kh-p, p:kw-p].reshape(n, C*h*w)`` and
``A^T A = W_r W_r^T`` (n x n, in latent space). The other orientation, ``W_r^T W_r``,
would be (C*16) x (C*16), a space of first-layer activations, not of codes. For
conditional models only the first n input channels are the code (the rest is a fixed
one-hot), so only they enter.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import checks
from ..errors import InputError
from ..linalg import eigh_descending
from .directions import Directions


def _first_layer(G):
    for name, module in G.named_modules():
        if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
            return name, module
        if any(p.numel() for p in module.parameters(recurse=False)):
            break
    raise InputError(f"SeFa needs a first layer that is nn.Linear or nn.ConvTranspose2d on the code; {G.name} "
                     "has none (pass its weight to sefa_directions(weight=...))")


def _weight_and_padding(G, weight) -> tuple[torch.Tensor, bool, int, str]:
    """(W float64 on the CPU, is it nn.Linear's, the padding, the layer's name)."""
    if weight is not None:
        W, name, pad = torch.as_tensor(weight).detach(), "weight", 0
        if W.dim() not in (2, 4):
            raise InputError(f"weight must be (m, n) or (n, C, kh, kw), got shape {tuple(W.shape)}")
        is_linear = W.dim() == 2
    else:
        name, layer = _first_layer(G)
        W, is_linear = layer.weight.detach(), isinstance(layer, nn.Linear)
        pad = 0 if is_linear else int(layer.padding[0])
    return W.to(device="cpu", dtype=torch.float64), is_linear, pad, name


def _first_layer_gram(G=None, *, weight=None, latent_dim: int | None = None):
    """``A^T A`` (n x n, float64 numpy) for the first layer's linear map A, and the layer's name.

    Args:
        G: generator (its first Linear / ConvTranspose2d is used), or None with ``weight``.
        weight: an explicit first-layer weight: (m, n) like nn.Linear, or (n, C, kh, kw)
            like ConvTranspose2d (padding 0).
        latent_dim: n (default: ``G.latent_dim``, or the weight's input size).

    Returns:
        ``(gram (n, n), layer name)``.

    Raises:
        InputError: no suitable layer, a weight of the wrong rank, or a layer input smaller
            than the latent size.
    """
    W, is_linear, pad, name = _weight_and_padding(G, weight)
    n_in = W.shape[1] if is_linear else W.shape[0]
    n = latent_dim or (G.latent_dim if G is not None else n_in)
    if n_in < n:
        raise InputError(f"first layer {name} takes {n_in} inputs but the latent size is {n}")
    if is_linear:
        A = W[:, :n]
        return (A.T @ A).numpy(), name
    kh, kw = W.shape[2], W.shape[3]
    Wr = W[:n, :, pad:kh - pad, pad:kw - pad].reshape(n, -1)
    return (Wr @ Wr.T).numpy(), name


def sefa_directions(G=None, *, k: int | None = None, weight=None) -> Directions:
    """SeFa: the top-k eigenvectors of ``A^T A`` for the first layer's map A (see the module docstring).

    Args:
        G: generator, or None with ``weight``.
        k: how many directions (default all n).
        weight: an explicit first-layer weight instead of G's.

    Returns:
        :class:`~ganmetric.axes.Directions` with ``values`` the eigenvalues of A^T A (descending).

    Raises:
        InputError: no suitable first layer; k out of range.
    """
    gram, name = _first_layer_gram(G, weight=weight)
    n = gram.shape[0]
    k = checks.positive_int("k", k if k is not None else n, maximum=n)
    vals, vecs = eigh_descending(gram)
    return Directions(vecs[:, :k].T.copy(), vals[:k], "sefa", {"layer": name})
