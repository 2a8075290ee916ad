"""Other discovery methods (GANSpace, SeFa) and how their directions align with the metric.

**SeFa** (Shen & Zhou 2021): the top eigenvectors of ``A^T A`` where ``A`` is the linear
map of the first layer from the latent code to its output. For ``nn.Linear(n, m)``,
``A = weight`` (m, n). For a DCGAN's first ``ConvTranspose2d`` on the 1x1 code, the weight
is (n, C, kh, kw) and output pixel (i, j) of channel c is ``sum_z W[z, c, i+p, j+p] z``
(p the padding), so ``A^T = W[:, :, p:kh-p, p:kw-p].reshape(n, C*h*w)`` and
``A^T A = W_r W_r^T`` (n x n, in latent space). The other orientation, ``W_r^T W_r``,
would be (C*16) x (C*16), a space of first-layer activations, not of codes. For
conditional models only the first n input channels are the code (the rest is a fixed
one-hot), so only they enter.

**GANSpace** (Haerkoenen et al. 2020): for a model with a mapping network (it exposes
``mapping``, z -> w, and its latent space is "w"), PCA of many ``w = mapping(z)``. For a
model without one, PCA of an early layer's activations over many samples z, then latent
directions by regressing the centred codes on the principal coordinates (least squares
``Z ~ X U``; direction j is row j of U, normalised). The layer: by default the output of
the first non-linearity (for a DCGAN, the ReLU after the first ConvTranspose + BatchNorm:
512 x 4 x 4). It is the earliest layer that is not a linear function of z: on the first
layer's raw output, PCA of ``A z`` with z ~ N(0, I) has the eigenvectors of ``A A^T`` and
the regression returns those of ``A^T A``, i.e. exactly SeFa. A generator with no
non-linearity (a linear model) uses its output.

**Alignment with the metric** H (n x n): for each unit direction v, the Rayleigh ratio
``v^T H v / lambda_max`` (1: as sensitive as the top eigenvector; a random direction
expects ``trace(H) / (n lambda_max)``), the fraction of its energy ``|U_k^T v|^2`` in the
top-k eigenspace (random: k / n), and the principal angles between the span of a
method's first k directions and the top-k eigenspace.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .. import checks
from .._progress import progress_bar
from ..errors import InputError
from ..io import atomic_write_bytes
from .apply import placement

#: feature sizes up to this get an exact PCA (F x F covariance); larger ones a randomized SVD.
EXACT_PCA_MAX = 2048
ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Softplus, nn.Tanh, nn.Sigmoid)


@dataclass(frozen=True)
class Directions:
    """Unit latent directions found by a discovery method.

    Attributes:
        vectors: (m, n) unit rows, most important first.
        values: (m,) the method's own scores (SeFa: eigenvalues of A^T A; GANSpace: PCA variances).
        method: "sefa" or "ganspace".
        info: how they were made (layer, samples, ...).
    """

    vectors: np.ndarray
    values: np.ndarray
    method: str
    info: dict = field(default_factory=dict)


def _first_layer(G):
    for name, module in G.named_modules():
        if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
            return name, module
        if any(p.numel() for p in module.parameters(recurse=False)):
            break
    raise InputError(f"SeFa needs a first layer that is nn.Linear or nn.ConvTranspose2d on the code; {G.name} "
                     "has none (pass its weight to sefa_directions(weight=...))")


def first_layer_gram(G=None, *, weight=None, latent_dim: int | None = None) -> tuple[np.ndarray, str]:
    """``A^T A`` (n x n, float64) for the first layer's linear map A, and the layer's name.

    Args:
        G: generator (its first Linear / ConvTranspose2d is used), or None with ``weight``.
        weight: an explicit first-layer weight: (m, n) like nn.Linear, or (n, C, kh, kw)
            like ConvTranspose2d (padding 0).
        latent_dim: n (default: ``G.latent_dim``, or the weight's input size).

    Raises:
        InputError: no suitable layer, or its input is smaller than the latent size.
    """
    if weight is not None:
        W, name, pad = torch.as_tensor(weight).detach(), "weight", 0
        if W.dim() not in (2, 4):
            raise InputError(f"SeFa weight must be (m, n) or (n, C, kh, kw), got shape {tuple(W.shape)}")
        is_linear = W.dim() == 2
    else:
        name, layer = _first_layer(G)
        W, is_linear = layer.weight.detach(), isinstance(layer, nn.Linear)
        pad = 0 if is_linear else int(layer.padding[0])
    W = W.to(device="cpu", dtype=torch.float64)
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
        :class:`Directions` with ``values`` the eigenvalues of A^T A (descending).

    Raises:
        InputError: no suitable first layer; k out of range.
    """
    gram, name = first_layer_gram(G, weight=weight)
    n = gram.shape[0]
    k = checks.positive_int("k", k if k is not None else n, maximum=n)
    vals, vecs = np.linalg.eigh(gram)
    order = np.argsort(-vals, kind="stable")[:k]
    return Directions(vecs[:, order].T.copy(), vals[order], "sefa", {"layer": name})


class _Stop(Exception):
    pass


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
        raise InputError(f"Invalid layer {layer!r}. Must be 'output' or one of {{{', '.join(names)}}}")
    return layer, modules[layer]


@torch.no_grad()
def _activations(G, z: torch.Tensor, module) -> torch.Tensor:
    if module is None:
        return G(z).flatten(1)
    box = []

    def hook(_mod, _inp, out):
        box.append(out.detach().flatten(1).clone())
        raise _Stop  # nothing after this layer is needed

    handle = module.register_forward_hook(hook)
    try:
        G(z)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not box:
        raise InputError("the chosen layer was not called by the generator's forward pass")
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
        vals, vecs = np.linalg.eigh(Yc.T @ Yc)
        comps = vecs[:, ::-1][:, :k].T
        var = vals[::-1][:k] / max(N - 1, 1)
        return torch.as_tensor(comps.copy()), torch.as_tensor(var.copy()), torch.as_tensor(Yc @ comps.T)
    q = min(k + 10, N, F)
    rng = np.random.default_rng(int(seed) + 1)
    Q = np.linalg.qr(Yc @ rng.standard_normal((F, q)))[0]  # numpy's tall QR: far faster than torch's on CPU
    for _ in range(n_iter):  # power iterations sharpen the subspace
        Q = np.linalg.qr(Yc @ (Yc.T @ Q))[0]
    Ub, S, Vt = np.linalg.svd(Q.T @ Yc, full_matrices=False)
    coords = (Q @ Ub[:, :k]) * S[:k]
    return torch.as_tensor(Vt[:k].copy()), torch.as_tensor(S[:k] ** 2 / max(N - 1, 1)), torch.as_tensor(coords)


def ganspace_directions(G, *, k: int = 20, n_samples: int = 5000, seed: int = 0, layer: str | None = None,
                        chunk: int = 500, progress: bool = False) -> Directions:
    """GANSpace directions for G (see the module docstring for the layer and the regression).

    Args:
        G: generator.
        k: how many directions (at most the latent size).
        n_samples: codes sampled from G's prior (GANSpace used 10^6 with incremental PCA;
            a few thousand already fix the top directions of a DCGAN).
        seed: seed of the samples and of the randomized PCA.
        layer: a module name of G, "output", or None for the first non-linearity.
        chunk: codes per generator pass.
        progress: show a progress bar.

    Returns:
        :class:`Directions` with ``values`` the PCA variances.

    Raises:
        InputError: k out of range; too few samples; unknown layer.
    """
    n = G.latent_dim
    k = checks.positive_int("k", k, maximum=n)
    checks.positive_int("n_samples", n_samples)
    mapping = getattr(G, "mapping", None)
    if callable(mapping) and G.latent_space == "w":
        z_dim = int(getattr(G, "z_dim", n))
        gen = torch.Generator().manual_seed(int(seed))
        zs = torch.randn(n_samples, z_dim, generator=gen, dtype=torch.float64).to(**placement(G))
        with torch.no_grad():
            W = torch.cat([mapping(zs[s:s + chunk]).detach().cpu() for s in range(0, n_samples, chunk)])
        comps, var, _ = _pca(W.reshape(n_samples, -1), k, seed)
        return Directions(comps.numpy(), var.numpy(), "ganspace", {"mode": "mapping", "samples": n_samples})
    if n_samples < 2 * n:
        raise InputError(f"GANSpace needs more samples than twice the latent size ({2 * n}), got {n_samples}")
    name, module = _layer_by_name(G, layer)
    Z = G.sample(n_samples, seed=seed).to(**placement(G))
    Y = torch.cat([_activations(G, Z[s:s + chunk], module).cpu()
                   for s in progress_bar(range(0, n_samples, chunk), enable=progress, desc="GANSpace samples")])
    comps, var, X = _pca(Y, k, seed)
    Zc = Z.detach().cpu().double()
    Zc = Zc - Zc.mean(0, keepdim=True)
    U = torch.linalg.lstsq(X, Zc).solution  # (k, n): Z ~ X U
    U = U / torch.linalg.vector_norm(U, dim=1, keepdim=True)
    return Directions(U.numpy(), var.numpy(), "ganspace", {"mode": "activations", "layer": name,
                                                              "samples": n_samples})


@dataclass(frozen=True)
class Comparison:
    """How discovery-method directions align with the metric's eigenbasis.

    Attributes:
        rows: one dict per direction: method, index, rayleigh_ratio, topk_energy,
            principal_angle_deg (the index-th principal angle of the method's first-k span
            with the top-k eigenspace, None past k).
        k: the size of the top eigenspace.
        lambda_max: the metric's largest eigenvalue.
        random_rayleigh: ``trace(H) / (n lambda_max)``, a random direction's expected ratio.
        random_energy: ``k / n``.
    """

    rows: list
    k: int
    lambda_max: float
    random_rayleigh: float
    random_energy: float

    COLUMNS = ("method", "index", "rayleigh_ratio", "topk_energy", "principal_angle_deg")

    def table(self) -> str:
        """A plain-text table for the terminal."""
        lines = [f"{'method':<10} {'i':>3} {'vHv/lmax':>9} {f'top-{self.k} energy':>14} {'angle(deg)':>10}"]
        for r in self.rows:
            ang = "" if r["principal_angle_deg"] is None else f"{r['principal_angle_deg']:.1f}"
            lines.append(f"{r['method']:<10} {r['index']:>3} {r['rayleigh_ratio']:>9.4f} {r['topk_energy']:>14.4f} "
                         f"{ang:>10}")
        lines.append(f"{'random':<10} {'':>3} {self.random_rayleigh:>9.4f} {self.random_energy:>14.4f} "
                     f"{'(expected)':>10}")
        return "\n".join(lines)

    def to_csv(self, path) -> None:
        """Write the rows (and the random-direction baseline) as CSV, atomically."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow(r)
        writer.writerow({"method": "random-expected", "index": "", "rayleigh_ratio": self.random_rayleigh,
                         "topk_energy": self.random_energy, "principal_angle_deg": ""})
        atomic_write_bytes(path, buf.getvalue().encode())


def principal_angles(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spans of A (n, p) and B (n, q)."""
    Qa = np.linalg.qr(A)[0]
    Qb = np.linalg.qr(B)[0]
    cos = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def compare_directions(H, directions, *, k: int = 10) -> Comparison:
    """Align each method's directions with the metric H.

    Args:
        H: (n, n) symmetric metric (e.g. ``load_result(path).metric()``).
        directions: a list of :class:`Directions` (or a dict name -> (m, n) rows).
        k: size of the top eigenspace.

    Returns:
        :class:`Comparison`.

    Raises:
        InputError: H not square/finite, directions of the wrong size, k out of range.
    """
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2 or H.shape[0] != H.shape[1] or not np.isfinite(H).all():
        raise InputError(f"the metric must be a finite square matrix, got shape {H.shape}")
    n = H.shape[0]
    k = checks.positive_int("k", k, maximum=n)
    H = 0.5 * (H + H.T)
    vals, vecs = np.linalg.eigh(H)
    order = np.argsort(-vals, kind="stable")
    vals, vecs = vals[order], vecs[:, order]
    lam = float(vals[0])
    if not lam > 0:
        raise InputError("the metric's largest eigenvalue is not positive")
    Uk = vecs[:, :k]
    if isinstance(directions, dict):
        directions = [Directions(np.asarray(v, dtype=np.float64), np.zeros(len(v)), name)
                      for name, v in directions.items()]
    rows = []
    for d in directions:
        V = np.asarray(d.vectors, dtype=np.float64)
        if V.ndim != 2 or V.shape[1] != n:
            raise InputError(f"{d.method} directions must be (m, {n}) rows, got shape {V.shape}")
        V = V / np.linalg.norm(V, axis=1, keepdims=True)
        ray = np.einsum("mi,ij,mj->m", V, H, V) / lam
        energy = ((V @ Uk) ** 2).sum(1)
        angles = np.degrees(principal_angles(V[:k].T, Uk))
        for j in range(len(V)):
            rows.append({"method": d.method, "index": j, "rayleigh_ratio": float(ray[j]),
                         "topk_energy": float(energy[j]),
                         "principal_angle_deg": float(angles[j]) if j < len(angles) else None})
    return Comparison(rows, k, lam, float(np.trace(H) / (n * lam)), k / n)
