"""``prepare_inversion``: every input of an inversion checked and loaded, before any optimisation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import checks
from ..errors import InputError
from ..placement import check_same_dtype, placement
from ..basis import resolve_basis
from ..chunking import DEFAULT_CHUNK
from ..precision import exact_float32
from .images import DEFAULT_MAX_PIXELS, as_target

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
"""The optimisers of an inversion, name -> torch optimiser class."""
PIXEL_LOSSES = ("l1", "mse")
"""The pixel terms an inversion's loss may add to its distance."""
#: at most this many bytes of per-restart results (loss at every step, start and final codes)
MAX_KEPT_BYTES = 4 * 2 ** 30


@dataclass(frozen=True)
class Inversion:
    """A checked inversion problem, made by :func:`prepare_inversion`, run by
    :func:`~ganmetric.inversion.run_inversion`.

    Attributes:
        G: the generator.
        D: the distance, or None (pixel term only).
        target: (C, H, W) on G's device and dtype.
        B: (n, k) basis matrix of ``z = z_init + B c``, or None (optimise z).
        z_init: (1 or R, n) given start codes (float64, CPU), or None (drawn by seed).
        true_z: (n,) a known code the fit is compared with (float64, CPU), or None.
        steps, lr, restarts, seed, optimizer, chunk: optimisation options.
        distance_weight, pixel_weight, pixel_loss: the loss.
        settings: every option, as recorded in the result.
    """

    G: object
    D: object
    target: torch.Tensor
    B: torch.Tensor | None
    z_init: torch.Tensor | None
    true_z: torch.Tensor | None
    steps: int
    lr: float
    restarts: int
    seed: int
    optimizer: str
    chunk: int
    distance_weight: float
    pixel_weight: float
    pixel_loss: str
    settings: dict

    def start_codes(self, rows: range) -> torch.Tensor:
        """Start codes of restarts ``rows`` on G's device and dtype (restart r's code whatever the chunking)."""
        if self.z_init is None:
            z0 = _draw_codes(int(self.G.latent_dim), self.seed, rows)
        else:
            z0 = self.z_init.expand(self.restarts, -1)[rows.start:rows.stop]
        return z0.to(**placement(self.G))


def initial_codes(latent_dim: int, restarts: int, seed: int) -> torch.Tensor:
    """Standard-normal starting codes (restarts, n), float64 on the CPU.

    Restart r draws from its own generator seeded by ``(seed, r)``, so restart r starts at
    the same code whatever the number of restarts (restarts are independent).

    Args:
        latent_dim: the latent size n.
        restarts: how many codes.
        seed: the seed of the draws.

    Returns:
        (restarts, n) float64 codes on the CPU.
    """
    return _draw_codes(latent_dim, seed, range(restarts))


def _draw_codes(latent_dim: int, seed: int, rows: range) -> torch.Tensor:
    out = torch.empty(len(rows), latent_dim, dtype=torch.float64, device="cpu")
    for i, r in enumerate(rows):
        state = np.random.SeedSequence([int(seed) % 2**64, r]).generate_state(2, dtype=np.uint32)
        gen = torch.Generator(device="cpu").manual_seed(int(state[0]) << 32 | int(state[1]))
        out[i] = torch.randn(latent_dim, generator=gen, dtype=torch.float64, device="cpu")
    return out


def _check_options(*, steps, lr, restarts, seed, optimizer, chunk, distance_weight, pixel_weight,
                   pixel_loss) -> dict:
    """The scalar options, checked and normalised.

    Raises:
        InputError: naming the first bad option.
    """
    seed = checks.seed("seed", seed)
    checks.one_of("optimizer", optimizer, OPTIMIZERS)
    checks.one_of("pixel_loss", pixel_loss, PIXEL_LOSSES)
    return {"steps": checks.positive_int("steps", steps), "lr": checks.positive_float("lr", lr),
            "restarts": checks.positive_int("restarts", restarts), "seed": int(seed), "optimizer": optimizer,
            "chunk": DEFAULT_CHUNK if chunk is None else checks.positive_int("chunk", chunk),
            "distance_weight": checks.non_negative_float("distance_weight", distance_weight),
            "pixel_weight": checks.non_negative_float("pixel_weight", pixel_weight), "pixel_loss": pixel_loss}


def _check_memory(restarts: int, steps: int, n: int) -> None:
    """Refuse a run whose per-restart results alone would not fit in :data:`MAX_KEPT_BYTES`.

    Raises:
        InputError: with the estimate.
    """
    kept = restarts * (steps + 2 * n + 1) * 8
    if kept > MAX_KEPT_BYTES:
        raise InputError(f"restarts {restarts} with {{steps}} {steps} would keep {kept / 2 ** 30:.1f} GiB of "
                         f"per-restart results (the loss at every step, start and final codes), more than the "
                         f"{MAX_KEPT_BYTES / 2 ** 30:g} GiB allowed: lower it or {{steps}}", argument="restarts",
                         mentions=("steps",))


def _load_distance(distance, G):
    """The distance on G's device and dtype (None stays None).

    Raises:
        InputError: unknown spec, or a distance object of another dtype than G's.
    """
    if distance is None:
        return None
    from ..distances import load_distance

    place = placement(G)
    D = load_distance(distance, device=place["device"], dtype=str(place["dtype"]).replace("torch.", ""))
    check_same_dtype(G, D)
    return D


def _given_codes(z_init, n: int, restarts: int) -> torch.Tensor | None:
    """``z_init`` as (1 or restarts, n) float64 on the CPU.

    Raises:
        InputError: wrong shape, non-finite, or a row count other than 1 or restarts.
    """
    if z_init is None:
        return None
    z = checks.latent_codes("z_init", z_init, n).detach().to(torch.float64).cpu()
    if z.shape[0] not in (1, restarts):
        raise InputError(f"z_init must have 1 or restarts={restarts} rows, got {z.shape[0]}", argument="z_init")
    return z


def _known_code(true_z, n: int) -> torch.Tensor | None:
    """``true_z`` as one (n,) float64 code on the CPU.

    Raises:
        InputError: not one finite code of size n.
    """
    if true_z is None:
        return None
    z = checks.latent_codes("true_z", true_z, n).detach().to(torch.float64).cpu()
    if z.shape[0] != 1:
        raise InputError(f"true_z must be one code of size {n}, got {z.shape[0]} codes", argument="true_z")
    return z[0]


def _target(G, target, *, box, crop, resample, max_pixels) -> torch.Tensor:
    """The target checked against G's image shape, on G's device and dtype."""
    place = placement(G)
    with torch.no_grad():
        shape = tuple(G(torch.zeros(1, int(G.latent_dim), **place)).shape[1:])
    tgt = as_target(target, shape, box=box, crop=crop, resample=resample, name=getattr(G, "name", "generator"),
                    max_pixels=max_pixels)
    return tgt.to(**place)


@exact_float32
def prepare_inversion(G, target, distance=None, basis=None, *, steps: int = 500, lr: float = 0.05,
                      restarts: int = 4, seed: int = 0, optimizer: str = "adam", distance_weight: float = 1.0,
                      pixel_weight: float = 0.0, pixel_loss: str = "l1", eigval_power: float = 0.0,
                      eigval_floor: float = 1e-6, basis_k: int | None = None, z_init=None, true_z=None,
                      chunk: int | None = None, box=None, crop: str = "center",
                      resample: str = "bicubic", max_pixels: int = DEFAULT_MAX_PIXELS) -> Inversion:
    """Check every input of an inversion and load its parts, before any optimisation.

    Args:
        G: a :class:`~ganmetric.Generator`; not modified.
        target: a (C, H, W) or (1, C, H, W) tensor in [-1, 1], or an image path (read, cut
            to ``box``, centre-cropped and resized to G's images, see :func:`load_image`).
        distance: a :class:`~ganmetric.Distance`, a spec for :func:`~ganmetric.load_distance`
            (e.g. "mse"), or None for the pixel term alone.
        basis: None, an (n, n) or (n, k) matrix (columns), a MetricResult/LoadedResult/Axes,
            or a result/axes file path; a file made for another model is refused
            (see :func:`~ganmetric.inversion.resolve_basis`).
        steps: optimiser steps.
        lr: learning rate (> 0).
        restarts: number of starting codes.
        seed: seeds the starting codes (restart r draws from ``(seed, r)``; the global RNG is
            untouched).
        optimizer: "adam" or "sgd" (plain gradient descent, no momentum).
        distance_weight: weight of ``distance`` (>= 0).
        pixel_weight: weight of the pixel term (>= 0; the paper added L1 or MSE to LPIPS).
        pixel_loss: "l1" or "mse".
        eigval_power: p in the basis scaling ``(lambda_i / lambda_1) ** -p`` (0: none).
        eigval_floor: relative floor on eigenvalues for that scaling.
        basis_k: use only the first k basis directions (needs a basis).
        z_init: starting codes (n,) or (R, n) instead of draws from N(0, I).
        true_z: a known code (n,): the result reports the fit's cosine similarity and L2
            distance to it.
        chunk: restarts optimised together in one batch (default :data:`ganmetric.chunking.DEFAULT_CHUNK`);
            memory grows with it, the results do not depend on it (float rounding aside).
        box: (x0, y0, x1, y1) in pixels of an image file target: cut to it first.
        crop, resample: image-file options of :func:`load_image`.
        max_pixels: an image file target of more pixels is refused from its header
            (default :data:`~ganmetric.inversion.images.DEFAULT_MAX_PIXELS`, 50 megapixels).

    Returns:
        An :class:`Inversion` for :func:`~ganmetric.inversion.run_inversion`.

    Raises:
        InputError: bad target, image file, box, basis (another model, latent space or
            size), distance, option, or per-restart results over :data:`MAX_KEPT_BYTES`.
    """
    opts = _check_options(steps=steps, lr=lr, restarts=restarts, seed=seed, optimizer=optimizer, chunk=chunk,
                          distance_weight=distance_weight, pixel_weight=pixel_weight, pixel_loss=pixel_loss)
    n = int(G.latent_dim)
    _check_memory(opts["restarts"], opts["steps"], n)
    D = _load_distance(distance, G)
    if (D is None or opts["distance_weight"] == 0) and opts["pixel_weight"] == 0:
        raise InputError("the loss is empty: give a distance with distance_weight > 0, or pixel_weight > 0",
                         argument="distance_weight")
    B, basis_info = resolve_basis(basis, G, eigval_power=eigval_power, eigval_floor=eigval_floor, basis_k=basis_k)
    z0 = _given_codes(z_init, n, opts["restarts"])
    known = _known_code(true_z, n)
    tgt = _target(G, target, box=box, crop=crop, resample=resample, max_pixels=max_pixels)
    place = placement(G)
    settings = {**opts, "distance": getattr(D, "name", None), "distance_options": getattr(D, "options", None),
                "z_init": "given" if z0 is not None else "normal", "true_z": "given" if known is not None else None,
                "box": list(box) if box is not None else None, "crop": crop, "resample": resample,
                "model": getattr(G, "name", None), "latent_space": getattr(G, "latent_space", None),
                "latent_dim": n, "dtype": str(place["dtype"]).replace("torch.", ""), "device": str(place["device"]),
                **basis_info}
    return Inversion(G=G, D=D, target=tgt, B=B, z_init=z0, true_z=known, settings=settings, **opts)
