"""``path_length``: the steps, length and energy of any path of codes under a distance."""
from __future__ import annotations

import time

import torch

from .. import checks
from ..errors import InputError
from ..placement import check_same_dtype, placement
from ..precision import exact_float32
from .energy import check_chunk
from .path import LatentPath


def path_codes(codes, latent_dim: int, *, name: str = "codes") -> torch.Tensor:
    """A path's codes as a (T + 1, n) tensor with at least 2 rows.

    Raises:
        InputError: wrong size, non-finite values, or fewer than 2 codes.
    """
    z = checks.latent_codes(name, codes, latent_dim)
    if z.shape[0] < 2:
        raise InputError(f"{name} must hold a path of at least 2 codes, shape (T + 1, {latent_dim}), "
                         f"got {z.shape[0]} code", argument=name)
    return z


@torch.no_grad()
def squared_steps(G, D, codes: torch.Tensor, chunk: int) -> torch.Tensor:
    """(T,) d(G(z_i), G(z_{i+1})) for codes (T + 1, n), float64 on the CPU, ``chunk`` codes per pass.

    With features, ``|psi_{i+1} - psi_i|^2`` from the features of every code (one pass);
    without, the distance of consecutive images, carrying each chunk's last image over.
    """
    place = placement(G)
    if getattr(D, "has_features", False):
        F = torch.cat([D.features(D.inputs(G, codes[s:s + chunk].to(**place))).flatten(1).double()
                       for s in range(0, codes.shape[0], chunk)])
        return torch.diff(F, dim=0).pow(2).sum(dim=1).cpu()
    out, last = [], None
    for s in range(0, codes.shape[0], chunk):
        x = D.inputs(G, codes[s:s + chunk].to(**place))
        if last is not None:
            x = torch.cat([last, x])
        out.append(D(x[:-1], x[1:]).double().reshape(-1).cpu())
        last = x[-1:]
    return torch.cat(out)


@exact_float32
def path_length(G, D, codes, *, chunk: int | None = None) -> LatentPath:
    """Measure any path: its steps, length, energy and evenness under a distance.

    Args:
        G: a :class:`~ganmetric.Generator`.
        D: a :class:`~ganmetric.Distance` (any: without the squared-feature form the
            distance of consecutive images is computed directly).
        codes: (T + 1, n) array-like, the path's codes in order, T >= 1.
        chunk: codes per generator pass (default 64; bounds memory).

    Returns:
        A :class:`LatentPath` with method "measured": ``.length``, ``.energy``, ``.steps``,
        ``.evenness``, ``.cumulative``.

    Raises:
        InputError: codes of the wrong size, non-finite or fewer than 2; a bad chunk; a
            distance of another dtype than the generator.
    """
    t0 = time.perf_counter()
    z = path_codes(codes, int(G.latent_dim))
    chunk = check_chunk(chunk)
    check_same_dtype(G, D)
    steps2 = squared_steps(G, D, z, chunk)
    return LatentPath("measured", z.detach().cpu().to(placement(G)["dtype"]), steps2.clamp_min(0).sqrt(),
                      seconds=time.perf_counter() - t0)


def measured(method: str, G, D, codes: torch.Tensor, chunk: int, **fields) -> LatentPath:
    """A :class:`LatentPath` of ``method`` for codes already checked (the baselines and the geodesic)."""
    steps2 = squared_steps(G, D, codes, chunk)
    return LatentPath(method, codes.detach().cpu().to(placement(G)["dtype"]), steps2.clamp_min(0).sqrt(), **fields)
