"""GANSpace (Haerkoenen et al., NeurIPS 2020): latent directions from PCA over many samples.

**Definition** (the authors' harskish/ganspace ``decomposition.py``, read, not copied):

- A model without a mapping network: sample codes z from the prior, take the activations of
  one layer, PCA them (components ``X_comp`` and their standard deviations), then turn the
  components into latent directions by least squares: regress the codes on the principal
  coordinates scaled by their standard deviations (``Z ~ (coords / std) M``); direction j is
  row j of M, normalised to unit length. Dividing coordinate j by its standard deviation
  multiplies row j of M by it, which the normalisation removes: the regression here uses the
  unscaled coordinates and gives the same directions.
- A model with a mapping network in ``w`` (it exposes ``mapping``, z -> w, and its latent
  space is "w"): the components of a PCA of ``w = mapping(z)`` samples are the directions
  (the authors' ``samples_are_latents`` case: no regression).

The layer: by default the output of the first non-linearity (for a DCGAN, the ReLU after the
first ConvTranspose + BatchNorm: 512 x 4 x 4; the authors choose a layer per model). It is
the earliest layer that is not a linear function of z: on the first layer's raw output, PCA
of ``A z`` with z ~ N(0, I) has the eigenvectors of ``A A^T`` and the regression returns
those of ``A^T A``, i.e. SeFa without its column normalisation (``variant="unnormalised"``).
A generator with no non-linearity (a linear model) uses its output.

**Samples, and how ours differ from the authors' run.** We draw ``n_samples`` codes (default
5000, seeded, the rows of ``G.sample``) and use the same codes for the PCA and for the
regression, with the codes centred. The authors fit an incremental PCA on far more samples
(their examples use 10^5 to 10^6), regress on a fresh set of ``max(10_000, N)`` codes, and do
not centre the codes (z has mean 0, so that changes little). 5000 is a trade of time against
sampling noise, measured on ``dcgan-face`` (5000 samples, seed 0, against 20000 samples,
seed 1): the first six directions agree to |cos| >= 0.956, the 7th and 8th (near-equal
variances) swap, and the 10th is not pinned down (the largest principal angles between the
two top-10 spans are 30 and 42 degrees). Raise ``n_samples`` when directions past the first
few matter. ``n_samples`` must be at least twice the latent size for the regression to be
determined.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import checks
from .._progress import progress_bar
from ..errors import InputError
from ..linalg import eigh_descending
from ..placement import placement
from ..precision import exact_float32
from .directions import Directions

#: feature sizes up to this get an exact PCA (F x F covariance); larger ones a randomized SVD.
EXACT_PCA_MAX = 2048
#: module types that count as "the first non-linearity" (the default layer).
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Softplus, nn.Tanh, nn.Sigmoid)


class _Stop(Exception):
    """Raised by the forward hook: nothing after the chosen layer is needed."""


def _layer_by_name(G, layer):
    if layer is None:
        for name, module in G.named_modules():
            if isinstance(module, ACTIVATIONS):
                return name, module
        return "output", None
    if layer == "output":
        return "output", None
    modules = dict(G.named_modules())
    if layer not in modules or layer == "":
        names = [n for n in modules if n]
        raise InputError(f"layer '{layer}' is not 'output' or one of {{{', '.join(names)}}}", argument="layer")
    return layer, modules[layer]


@torch.no_grad()
def _activations(G, z: torch.Tensor, module) -> torch.Tensor:
    if module is None:
        return G(z).flatten(1)
    box = []

    def hook(_mod, _inp, out):
        box.append(out.detach().flatten(1).clone())
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        G(z)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not box:
        raise InputError("the chosen layer was not called by the generator's forward pass", argument="layer")
    return box[0]


def _pca(Y: torch.Tensor, k: int, seed: int, n_iter: int = 6):
    """Top-k principal components of the rows of Y.

    Exact (eigendecomposition of the F x F covariance) when F <= EXACT_PCA_MAX, else a
    seeded randomized SVD with power iterations (a private generator; global RNG untouched).

    Returns (components (k, F), variances (k,), coordinates (N, k)) as float64 tensors.
    """
    Yc = (Y - Y.mean(0, keepdim=True)).double().numpy()
    N, F = Yc.shape
    if F <= EXACT_PCA_MAX:
        vals, vecs = eigh_descending(Yc.T @ Yc)
        comps = vecs[:, :k].T
        var = vals[:k] / max(N - 1, 1)
        return torch.from_numpy(comps.copy()), torch.from_numpy(var.copy()), torch.from_numpy(Yc @ comps.T)
    q = min(k + 10, N, F)
    rng = np.random.default_rng(int(seed) + 1)
    Q = np.linalg.qr(Yc @ rng.standard_normal((F, q)))[0]  # numpy's tall QR: far faster than torch's on CPU
    for _ in range(n_iter):  # power iterations sharpen the subspace
        Q = np.linalg.qr(Yc @ (Yc.T @ Q))[0]
    Ub, S, Vt = np.linalg.svd(Q.T @ Yc, full_matrices=False)
    coords = (Q @ Ub[:, :k]) * S[:k]
    return torch.from_numpy(Vt[:k].copy()), torch.from_numpy(S[:k] ** 2 / max(N - 1, 1)), torch.from_numpy(coords)


def _mapping_directions(G, mapping, k: int, n_samples: int, seed: int, chunk: int) -> Directions:
    """PCA of w = mapping(z) over n_samples prior draws."""
    z_dim = int(getattr(G, "z_dim", G.latent_dim))
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    zs = torch.randn(n_samples, z_dim, generator=gen, dtype=torch.float64, device="cpu").to(**placement(G))
    with torch.no_grad():
        W = torch.cat([mapping(zs[s:s + chunk]).detach().cpu() for s in range(0, n_samples, chunk)])
    comps, var, _ = _pca(W.reshape(n_samples, -1), k, seed)
    return Directions(comps.numpy(), var.numpy(), "ganspace", {"mode": "mapping", "samples": n_samples,
                                                                "seed": int(seed)})


def _activation_directions(G, k: int, n_samples: int, seed: int, layer, chunk: int, progress: bool) -> Directions:
    """PCA of a layer's activations, then codes regressed on the principal coordinates."""
    n = G.latent_dim
    if n_samples < 2 * n:
        raise InputError(f"n_samples must be at least twice the latent size ({2 * n}) for GANSpace, got {n_samples}",
                         argument="n_samples")
    name, module = _layer_by_name(G, layer)
    Z = G.sample(n_samples, seed=seed).to(**placement(G))
    Y = torch.cat([_activations(G, Z[s:s + chunk], module).cpu()
                   for s in progress_bar(range(0, n_samples, chunk), enable=progress, desc="GANSpace samples")])
    _, var, X = _pca(Y, k, seed)
    Zc = Z.detach().cpu().double()
    Zc = Zc - Zc.mean(0, keepdim=True)
    U = torch.linalg.lstsq(X, Zc).solution  # (k, n): Z ~ X U
    U = U / torch.linalg.vector_norm(U, dim=1, keepdim=True)
    return Directions(U.numpy(), var.numpy(), "ganspace", {"mode": "activations", "layer": name,
                                                              "samples": n_samples, "seed": int(seed)})


@exact_float32
def ganspace_directions(G, *, k: int = 20, n_samples: int = 5000, seed: int = 0, layer: str | None = None,
                        chunk: int = 500, progress: bool = False) -> Directions:
    """GANSpace directions for G (see the module docstring for the layer and the regression).

    Args:
        G: generator.
        k: how many directions (at most the latent size).
        n_samples: codes sampled from G's prior, used for the PCA and the regression (the
            authors use 10^5 - 10^6 with incremental PCA; see the module docstring for why
            5000 suffices for a DCGAN's top directions).
        seed: seed of the samples and of the randomized PCA.
        layer: a module name of G, "output", or None for the first non-linearity.
        chunk: codes per generator pass.
        progress: show a progress bar.

    Returns:
        :class:`~ganmetric.axes.Directions` with ``values`` the PCA variances.

    Raises:
        InputError: k out of range; too few samples; a seed outside [0, 2**63); unknown layer.
    """
    k = checks.positive_int("k", k, maximum=G.latent_dim)
    checks.positive_int("n_samples", n_samples)
    chunk = checks.positive_int("chunk", chunk)
    seed = checks.seed("seed", seed)
    mapping = getattr(G, "mapping", None)
    if callable(mapping) and G.latent_space == "w":
        return _mapping_directions(G, mapping, k, n_samples, seed, chunk)
    return _activation_directions(G, k, n_samples, seed, layer, chunk, progress)
